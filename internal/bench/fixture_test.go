package bench_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	gocache "github.com/go-redis/cache/v9"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/repo"
)

// Data shape of the benchmark database. Every owner has the same number of
// agents and every agent the same number of tasks, so the aggregate
// benchmark's owner is a typical one, not a chosen one.
const (
	numOwners      = 500
	agentsPerOwner = 20
	numAgents      = numOwners * agentsPerOwner // 10k
	tasksPerAgent  = 20                         // 200k tasks
)

// fixture is one seeded database and the Redis target the benchmarks share.
type fixture struct {
	pool   *pgxpool.Pool
	raw    *db.Queries // plain sqlc on the pool: the baseline
	redis  testinfra.RedisTarget
	agents []uuid.UUID // all agent ids, in name order
	owner  uuid.UUID   // the owner whose task counts (b) reads
}

// newFixture seeds a fresh database from testinfra. Seeding runs inside
// PostgreSQL (INSERT ... SELECT generate_series) because it is the fastest
// way to get 200k rows in; the benchmarks themselves use the generated code.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testinfra.Postgres(tb)
	pool, err := postgres.NewPool(ctx, postgres.Config{URL: dsn, MaxConns: 16})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	f := &fixture{pool: pool, raw: db.New(pool), redis: testinfra.Redis(tb)}

	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, q := range []string{
		`SELECT setseed(0.42)`,
		fmt.Sprintf(`INSERT INTO users (email, display_name, role)
			SELECT format('owner%%s@example.com', g), format('Owner %%s', g), 'member'
			FROM generate_series(1, %d) g`, numOwners),
		fmt.Sprintf(`INSERT INTO agents (owner_id, name, kind, status, description, config)
			SELECT u.id, format('agent-%%s-%%s', u.email, g),
			       (enum_range(NULL::agent_kind))[1 + g %% 4], 'active',
			       'benchmark agent', jsonb_build_object('model', 'm' || (g %% 3), 'temperature', 0.2)
			FROM users u CROSS JOIN generate_series(1, %d) g`, agentsPerOwner),
		fmt.Sprintf(`INSERT INTO tasks (title, status, priority, assignee_agent_id, metadata)
			SELECT format('task %%s of %%s', g, a.name),
			       (enum_range(NULL::task_status))[1 + floor(random() * 7)::int],
			       floor(random() * 5)::smallint, a.id, '{}'
			FROM agents a CROSS JOIN generate_series(1, %d) g`, tasksPerAgent),
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			tb.Fatalf("seed: %v\n%s", err, q)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM agents ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		f.agents = append(f.agents, id)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(f.agents) != numAgents {
		tb.Fatalf("seeded %d agents, want %d", len(f.agents), numAgents)
	}
	if err := pool.QueryRow(ctx, `SELECT id FROM users ORDER BY email LIMIT 1`).Scan(&f.owner); err != nil {
		tb.Fatal(err)
	}
	return f
}

// newCache builds a cache.Cache on the fixture's Redis under its own key
// prefix, so caches of different benchmarks never share values.
func (f *fixture) newCache(tb testing.TB, name string, clientSide bool) (*cache.Cache, *cache.Counters) {
	tb.Helper()
	return f.newCacheWith(tb, name, func(cfg *cache.Config) { cfg.DisableClientCache = !clientSide })
}

// newCacheWith is newCache with the config adjusted by mod.
func (f *fixture) newCacheWith(tb testing.TB, name string, mod func(*cache.Config)) (*cache.Cache, *cache.Counters) {
	tb.Helper()
	obs := &cache.Counters{}
	cfg := cache.Config{
		Observer:      obs,
		Addrs:         []string{f.redis.Addr},
		Username:      f.redis.Username,
		Password:      f.redis.Password,
		DB:            f.redis.DB,
		Prefix:        f.redis.Prefix + name,
		SchemaVersion: db.SchemaVersion,
	}
	mod(&cfg)
	if f.redis.TLS {
		cfg.TLS = &tls.Config{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("cache close: %v", err)
		}
	})
	return c, obs
}

// newRepo builds the generated repository over the fixture's pool with c
// (nil: no cache) and the default policies.
func (f *fixture) newRepo(tb testing.TB, c *cache.Cache) *db.Repository {
	tb.Helper()
	rt, err := repo.New(repo.Config{Cache: c})
	if err != nil {
		tb.Fatal(err)
	}
	return db.NewRepository(f.pool, rt)
}

// newGoRedisCache builds the peer: go-redis/cache with a local TinyLFU tier
// of the given size and TTL in front of Redis.
func (f *fixture) newGoRedisCache(tb testing.TB, localSize int, localTTL time.Duration) *gocache.Cache {
	tb.Helper()
	opt := &redis.Options{Addr: f.redis.Addr, Username: f.redis.Username, Password: f.redis.Password, DB: f.redis.DB}
	if f.redis.TLS {
		opt.TLSConfig = &tls.Config{}
	}
	rdb := redis.NewClient(opt)
	tb.Cleanup(func() { _ = rdb.Close() })
	var local gocache.LocalCache
	if localSize > 0 {
		local = gocache.NewTinyLFU(localSize, localTTL)
	}
	return gocache.New(&gocache.Options{Redis: rdb, LocalCache: local, StatsEnabled: true})
}

// goRedisGet is cache-aside done by hand with go-redis/cache, the way its
// README shows: Get (local tier, then Redis), on a miss load and Set.
func goRedisGet[T any](ctx context.Context, c *gocache.Cache, key string, ttl time.Duration, load func(context.Context) (T, error)) (T, error) {
	var v T
	err := c.Get(ctx, key, &v)
	if err == nil {
		return v, nil
	}
	if err != gocache.ErrCacheMiss {
		return v, err
	}
	v, err = load(ctx)
	if err != nil {
		return v, err
	}
	return v, c.Set(&gocache.Item{Ctx: ctx, Key: key, Value: v, TTL: ttl})
}
