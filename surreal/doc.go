// Package surreal is the SurrealDB store: a client over
// github.com/surrealdb/surrealdb.go (its CBOR codec and model types) with a
// small pool of authenticated WebSocket connections that are replaced when
// they break, failsafe policies from package resilience on every call,
// errors translated to ErrNotFound / ErrConflict / ErrAuth, typed generic
// helpers by record id (Select, Create, Update, Upsert, Merge, Delete,
// Relate, Query), interactive transactions (Begin / InTx) and live queries
// delivered on a Go channel that are re-established after a reconnect.
//
// Open(ctx, Config) connects; Config comes from the SURREALDB_* variables
// through internal/config in cmd/. Subpackage schema holds the Agentical
// schema and its typed accessors.
package surreal
