package stores

import (
	"errors"

	"github.com/agentical/datalayer/postgres"
)

var (
	// ErrClosed is returned by every database call made through Stores.DB
	// after Close began, and by Surreal after Close.
	ErrClosed = errors.New("stores: closed")
	// ErrPoolExhausted is returned when no pooled connection became free
	// within DB_POOL_TIMEOUT (Database.PoolTimeout). It is not retried and
	// does not count towards the circuit breaker; an HTTP layer should
	// answer 503 with Retry-After.
	// It is postgres.ErrPoolExhausted, the sentinel httpmw maps to 503.
	ErrPoolExhausted = postgres.ErrPoolExhausted
	// ErrDatabaseAhead is returned by Open when the database has migrations
	// applied that this build does not know: it was migrated by a newer
	// build.
	ErrDatabaseAhead = errors.New("stores: database is ahead of this build's migrations")
	// ErrNotRelational is returned by Open for a DATABASE_URL that is not a
	// PostgreSQL URL: PostgreSQL is the relational store.
	ErrNotRelational = errors.New("stores: PostgreSQL is the relational store")
	// ErrSurrealNotConfigured is returned by Surreal when SURREALDB_URL is
	// unset.
	ErrSurrealNotConfigured = errors.New("stores: SurrealDB is not configured (SURREALDB_URL is unset)")
	// ErrSurrealUnavailable is returned by Surreal while the store has not
	// connected yet (Open goes on without it and keeps trying).
	ErrSurrealUnavailable = errors.New("stores: SurrealDB is not connected yet")
)
