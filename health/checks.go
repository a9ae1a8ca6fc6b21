package health

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	amigrate "ariga.io/atlas/sql/migrate"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/migrate"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/surreal"
)

// PostgresOptions configure the PostgreSQL check beyond its pool.
type PostgresOptions struct {
	// Policies, if set, give the breaker state; an open or half-open
	// breaker makes the store degraded.
	Policies *resilience.Policies
	// Migrations, if set, are the code's migration files (as for
	// migrate.AutoPool); the database's version is compared with them and
	// any difference makes the store degraded.
	Migrations fs.FS
	// Migrate configures where revisions are read (RevisionsSchema).
	Migrate migrate.Config
}

// Postgres checks a pool: a ping through it (critical), the pool's
// statistics, the breaker and the migration version.
func Postgres(pool *pgxpool.Pool, opts PostgresOptions) Check {
	var (
		sqlDB *sql.DB
		dir   amigrate.Dir
		code  string
	)
	if opts.Migrations != nil {
		// Closing this handle would not close the pool; it lives as long as
		// the pool does.
		sqlDB = stdlib.OpenDBFromPool(pool)
		dir = migrate.FSDir(opts.Migrations)
		if files, err := dir.Files(); err == nil && len(files) > 0 {
			code = files[len(files)-1].Version()
		}
	}
	m := migrate.New(opts.Migrate)
	return Check{Name: "postgres", Critical: true, Probe: func(ctx context.Context) Status {
		var s Status
		if opts.Policies != nil {
			s.Breaker = opts.Policies.State().String()
			if st := opts.Policies.State(); st != resilience.Closed {
				s.Notes = append(s.Notes, "circuit breaker "+st.String())
			}
		}
		ps := postgres.Stats(pool)
		s.Pool = &PoolStats{
			MaxConns: ps.MaxConns, TotalConns: ps.TotalConns, AcquiredConns: ps.AcquiredConns,
			IdleConns: ps.IdleConns, ConstructingConns: ps.ConstructingConns, AcquireCount: ps.AcquireCount,
			EmptyAcquireCount: ps.EmptyAcquireCount, AcquireWaitMS: float64(ps.AcquireDuration.Microseconds()) / 1000,
		}
		if ps.MaxConns > 0 && ps.AcquiredConns >= ps.MaxConns {
			s.Notes = append(s.Notes, fmt.Sprintf("pool exhausted: all %d connections in use", ps.MaxConns))
		}
		if err := pool.Ping(ctx); err != nil {
			s.State, s.Error = Down, postgres.TranslateError(err).Error()
			return s
		}
		if sqlDB != nil {
			st, err := m.StatusDir(ctx, sqlDB, dir)
			if err != nil {
				s.Notes = append(s.Notes, "migration status: "+err.Error())
			} else {
				mi := &Migrations{Applied: st.Current, Code: code, Pending: st.Counts[migrate.StatePending],
					Unknown: st.Counts[migrate.StateUnknown], Failed: st.Counts[migrate.StateFailed] + st.Counts[migrate.StateDrifted]}
				s.Migrations = mi
				switch {
				case mi.Unknown > 0:
					s.Notes = append(s.Notes, fmt.Sprintf("database is ahead of the code: %d applied migrations unknown to it", mi.Unknown))
				case mi.Pending > 0:
					s.Notes = append(s.Notes, fmt.Sprintf("database is behind the code: %d migrations pending", mi.Pending))
				}
				if mi.Failed > 0 {
					s.Notes = append(s.Notes, fmt.Sprintf("%d migrations failed or drifted", mi.Failed))
				}
			}
		}
		if len(s.Notes) > 0 {
			s.State = Degraded
		}
		return s
	}}
}

// Redis checks the cache's Redis: a PING (down when it fails; the cache
// fails open, so the service stays ready), the Redis breaker and the
// invalidations waiting for Redis (degraded when not closed or not zero).
func Redis(c *cache.Cache) Check {
	return Check{Name: "redis", Probe: func(ctx context.Context) Status {
		n := c.Pending()
		s := Status{Breaker: c.RedisState().String(), PendingInvalidations: &n}
		cl := c.Client()
		if err := cl.Do(ctx, cl.B().Ping().Build()).Error(); err != nil {
			s.State, s.Error = Down, err.Error()
			return s
		}
		if st := c.RedisState(); st != resilience.Closed {
			s.Notes = append(s.Notes, "redis breaker "+st.String()+": reads bypass the cache")
		}
		if n > 0 {
			s.Notes = append(s.Notes, fmt.Sprintf("%d invalidations waiting for Redis", n))
		}
		if len(s.Notes) > 0 {
			s.State = Degraded
		}
		return s
	}}
}

// Surreal checks a SurrealDB store. get returns the store, or an error
// while it is not connected (it is then down).
func Surreal(get func() (*surreal.Store, error)) Check {
	return Check{Name: "surrealdb", Probe: func(ctx context.Context) Status {
		st, err := get()
		if err != nil {
			return Status{State: Down, Error: err.Error()}
		}
		s := Status{Breaker: st.Policies().State().String()}
		if err := st.Health(ctx); err != nil {
			s.State, s.Error = Down, err.Error()
			return s
		}
		if b := st.Policies().State(); b != resilience.Closed {
			s.State = Degraded
			s.Notes = append(s.Notes, "circuit breaker "+b.String())
		}
		return s
	}}
}
