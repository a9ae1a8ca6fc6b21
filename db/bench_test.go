package db_test

import (
	"context"
	"testing"

	"github.com/agentical/datalayer/postgres"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
)

const pgxGetAgent = `SELECT id, owner_id, name, kind, status, description, config, version, created_at, updated_at FROM agents WHERE id = $1`

// BenchmarkGetAgent compares the generated GetAgent (plain and behind the
// error-translating wrapper services use) with a hand-written pgx QueryRow
// and Scan of the same columns, on one pool in one run.
func BenchmarkGetAgent(b *testing.B) {
	ctx := context.Background()
	pool := newPool(b, postgres.Config{URL: testinfra.Postgres(b), MaxConns: 2})
	q := db.New(postgres.Translate(pool))
	e := &env{Pool: pool, Q: q}
	owner := mkUser(b, e, "bench@example.com")
	want := mkAgent(b, e, owner.ID, "bench", db.AgentStatusActive, `{"model":"m1","temperature":0.2}`)

	// Warm both statement caches so neither side pays the prepare.
	if _, err := db.New(pool).GetAgent(ctx, want.ID); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, pgxGetAgent, want.ID); err != nil {
		b.Fatal(err)
	}

	check := func(b *testing.B, a db.Agent) {
		if a.ID != want.ID || a.Name != want.Name || a.Version != want.Version {
			b.Fatalf("got %+v", a)
		}
	}
	b.Run("sqlc", func(b *testing.B) {
		raw := db.New(pool)
		b.ReportAllocs()
		var a db.Agent
		var err error
		for b.Loop() {
			if a, err = raw.GetAgent(ctx, want.ID); err != nil {
				b.Fatal(err)
			}
		}
		check(b, a)
	})
	b.Run("sqlc-translate", func(b *testing.B) {
		b.ReportAllocs()
		var a db.Agent
		var err error
		for b.Loop() {
			if a, err = q.GetAgent(ctx, want.ID); err != nil {
				b.Fatal(err)
			}
		}
		check(b, a)
	})
	b.Run("pgx-scan", func(b *testing.B) {
		b.ReportAllocs()
		var a db.Agent
		for b.Loop() {
			err := pool.QueryRow(ctx, pgxGetAgent, want.ID).Scan(&a.ID, &a.OwnerID, &a.Name, &a.Kind, &a.Status,
				&a.Description, &a.Config, &a.Version, &a.CreatedAt, &a.UpdatedAt)
			if err != nil {
				b.Fatal(err)
			}
		}
		check(b, a)
	})
}
