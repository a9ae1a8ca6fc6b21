// Package postgres is the generic PostgreSQL runtime every generated
// repository (ours or another sqlc project's) builds on: a pgx pool from a
// Config, the InTx transaction helper, translation of driver errors into
// package-prefixed errors, and a query tracer that reports slow queries and
// keeps per-query statistics. It knows nothing of any one schema.
//
// A service typically builds a pool once and wraps it so errors arrive
// translated:
//
//	tracer := postgres.NewTracer(postgres.TracerConfig{Logger: logger, SlowThreshold: 200 * time.Millisecond})
//	pool, err := postgres.NewPool(ctx, postgres.Config{URL: dsn, Tracer: tracer})
//	q := db.New(postgres.Translate(pool)) // db: any sqlc package
//	agent, err := q.GetAgent(ctx, id)
//	if errors.Is(err, postgres.ErrNotFound) { ... }
package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is the connection interface sqlc's pgx/v5 output accepts (its own
// DBTX has the same method set): a pool, a connection or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}
