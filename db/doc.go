// Package db is the typed PostgreSQL access layer: the sqlc-generated
// queries (files named *.gen.go, never edited by hand) plus the hand-written
// runtime around them: pool construction from a Config, the InTx
// transaction helper, error translation into package-prefixed errors, and a
// query tracer that reports slow queries and keeps per-query statistics.
//
// A service typically builds a pool once and wraps it so errors arrive
// translated:
//
//	tracer := db.NewTracer(db.TracerConfig{Logger: logger, SlowThreshold: 200 * time.Millisecond})
//	pool, err := db.NewPool(ctx, db.Config{URL: dsn, Tracer: tracer})
//	q := db.New(db.Translate(pool))
//	agent, err := q.GetAgent(ctx, id)
//	if errors.Is(err, db.ErrNotFound) { ... }
//
// Inside InTx wrap the transaction the same way, db.New(db.Translate(tx)):
// sqlc's own Queries.WithTx runs on the raw transaction, whose errors are
// not translated (db.IsNotFound still recognises them).
package db
