// Package stores opens every store a datalayer service uses from one
// config.Config: the PostgreSQL pool, the Redis cache, the resilience
// policies, the repository runtime and, when SURREALDB_URL is set,
// SurrealDB. It works for any sqlc project's generated repository:
//
//	st, err := stores.Open(ctx, cfg, stores.Options{
//		SchemaVersion: mydb.SchemaVersion, // part of every cache key
//		Methods:       mydb.Methods(),     // checked at start-up
//		Migrations:    mymigrations.FS,    // AUTO_MIGRATE; a database ahead is refused
//	})
//	r := mydb.NewRepository(st.DB(), st.Runtime())
//	mux.Handle("GET /readyz", st.Health().Ready())
//	defer st.Close(context.Background())
//
// (datalayer.Open at the module root does this for the Agentical schema.)
//
// # Start-up
//
// PostgreSQL, Redis and SurrealDB are connected at the same time, each
// retried with capped exponential backoff (Options.BackoffBase to
// BackoffMax) and every failed attempt logged. PostgreSQL must answer
// within Options.StartupTimeout, else Open fails naming the host (never the
// password). Redis and SurrealDB get Options.OptionalWait: after it the
// cache runs on a client that connects when Redis comes back (lookups fail
// open to the database meanwhile) and SurrealDB keeps being connected in
// the background (Surreal returns ErrSurrealUnavailable until then);
// readiness reports them down and the service degraded. Then, with
// AUTO_MIGRATE, the migrations are applied under the advisory lock; a
// database with migrations this build does not know fails Open
// (ErrDatabaseAhead), one that is behind is logged. Last the runtime
// checks every method (an unknown `-- @policy` fails Open).
//
// # Database calls
//
// DB is the pool as the repository sees it: every connection acquire is
// bounded by DB_POOL_TIMEOUT (ErrPoolExhausted, which is neither retried nor
// counted by the breaker), operations in flight are counted, and after
// Close every call fails with ErrClosed.
//
// # Close
//
// Close stops new work, waits (bounded by Options.DrainTimeout) for
// operations in flight, for the invalidations that follow them (until none
// has been seen for 50ms: the repository applies a write's invalidation
// right after its database call, a transaction's right after COMMIT, which
// the gate cannot see) and for pending cache invalidations, closes the
// cache and its Redis client, SurrealDB, then the pool, and returns what
// did not drain.
package stores
