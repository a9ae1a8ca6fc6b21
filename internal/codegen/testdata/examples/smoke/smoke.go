// Package smoke sets up what the smoke tests of sqlc's examples share: a
// database with the example's schema, a Redis-backed runtime, and a way to
// tell a cache hit from a miss through the runtime's statistics.
package smoke

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
)

// Env is one example's database and runtime.
type Env struct {
	Pool    *pgxpool.Pool
	Runtime *repo.Runtime
}

// Setup gives a fresh database built from schemaDir and a runtime whose
// cache is a per-test Redis prefix; methods are checked against it.
func Setup(t *testing.T, schemaDir, schemaVersion string, methods []*repo.Method) Env {
	t.Helper()
	ctx := context.Background()
	dsn := testinfra.Postgres(t, testinfra.WithSchemaDir(schemaDir))
	pool, err := postgres.NewPool(ctx, postgres.Config{URL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := testinfra.Redis(t)
	c, err := cache.New(ctx, cache.Config{
		Addrs: []string{r.Addr}, Username: r.Username, Password: r.Password, DB: r.DB,
		Prefix: strings.TrimSuffix(r.Prefix, ":"), SchemaVersion: schemaVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rt, err := repo.New(repo.Config{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Check(methods); err != nil {
		t.Fatal(err)
	}
	return Env{Pool: pool, Runtime: rt}
}

// Counts returns the hits and misses method name has had so far.
func (e Env) Counts(name string) (hits, misses int64) {
	for _, s := range e.Runtime.Stats() {
		if s.Name == name {
			return s.Hits, s.Misses
		}
	}
	return 0, 0
}

// ReadTwice calls read twice and fails t unless the first call was a miss
// (loaded from PostgreSQL) and the second a hit (served from the cache).
func (e Env) ReadTwice(t *testing.T, name string, read func() error) {
	t.Helper()
	h0, m0 := e.Counts(name)
	if err := read(); err != nil {
		t.Fatalf("%s (first read): %v", name, err)
	}
	if h, m := e.Counts(name); h != h0 || m != m0+1 {
		t.Fatalf("%s first read: hits %d->%d, misses %d->%d; want one miss", name, h0, h, m0, m)
	}
	if err := read(); err != nil {
		t.Fatalf("%s (second read): %v", name, err)
	}
	if h, m := e.Counts(name); h != h0+1 || m != m0+1 {
		t.Fatalf("%s second read: hits %d->%d, misses %d->%d; want one hit", name, h0, h, m0, m)
	}
}
