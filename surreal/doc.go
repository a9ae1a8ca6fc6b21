// Package surreal is the SurrealDB store: a client over
// github.com/surrealdb/surrealdb.go (its CBOR codec and model types) with a
// small pool of authenticated WebSocket connections, failsafe policies from
// package resilience on every call, typed errors, typed generic helpers by
// record id, transactions, live queries and optional cache-aside reads.
//
// Open(ctx, Config) dials Config.PoolSize connections, signs each in (root,
// namespace or database user, or a token) and selects the namespace and
// database. Calls are spread round-robin; each connection carries many
// concurrent requests. A connection whose socket breaks, or that stops
// answering pings after a timed-out call, is replaced on next use.
//
// Policies (resilience.Config): reads (Select, Health) retry infrastructure
// failures; writes and Query/QueryRaw (which may write) are retried only
// when the request never left this process; statements inside a Tx are not
// retried. InTx reruns a whole transaction that the server rolled back for a
// conflict (Config.TxAttempts).
//
// Errors: server failures are *Error values matching ErrNotFound,
// ErrConflict (duplicates, unique indexes, transaction conflicts) or ErrAuth
// with errors.Is. Select, Update, Merge and Delete of a missing record return
// ErrNotFound.
//
// Live[T] delivers LIVE SELECT events on a channel; after a reconnect the
// query is re-issued and an ActionResumed event marks the gap.
//
// With Config.Cache, Select reads through the cache and writes by record id
// made through the store invalidate it; writes through Query need
// Store.Invalidate.
//
// Subpackage schema holds the Agentical schema and its typed accessors.
// cmd/ maps the SURREALDB_* settings of the config package onto Config.
package surreal
