package cache_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// newCache builds a Cache on the target; mod adjusts the config.
func newCache(t testing.TB, target testinfra.RedisTarget, mod func(*cache.Config)) (*cache.Cache, *cache.Counters) {
	t.Helper()
	obs := &cache.Counters{}
	cfg := cache.Config{
		Addrs:         []string{target.Addr},
		Username:      target.Username,
		Password:      target.Password,
		DB:            target.DB,
		Prefix:        target.Prefix,
		SchemaVersion: "s1",
		Observer:      obs,
		RedisTimeout:  500 * time.Millisecond,
	}
	if target.TLS {
		cfg.TLS = &tls.Config{ServerName: hostOf(target.Addr)}
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, obs
}

// itemsDB returns a pool on a fresh database holding testdata/schema.
func itemsDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testinfra.Postgres(t, testinfra.WithSchemaDir(filepath.Join("testdata", "schema")))
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func exec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func itemName(ctx context.Context, pool *pgxpool.Pool, id int64) (string, error) {
	var name string
	err := pool.QueryRow(ctx, "SELECT name FROM items WHERE id = $1", id).Scan(&name)
	return name, err
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
