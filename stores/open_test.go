package stores_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/migrations"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/stores"
	"github.com/agentical/datalayer/surreal"
)

// agentical are the options datalayer.Open passes but the migrations, for
// tests that use the Agentical repository on the harness's databases (built
// from schema/, without migration revisions).
func agentical(opts stores.Options) stores.Options {
	opts.SchemaVersion = db.SchemaVersion
	opts.Methods = db.Methods()
	return opts
}

// migrated adds the embedded migrations, as datalayer.Open does.
func migrated(opts stores.Options) stores.Options {
	opts = agentical(opts)
	opts.Migrations = migrations.FS
	return opts
}

// Every variable of the configuration reaches the component built from it.
func TestEveryVariableReachesItsComponent(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	sp := surrealpeer.ForTest(t)
	var logs logBuffer
	var gotCache cache.Config
	cfg := loadConfig(t, env(t, dsn, r,
		"APP_ENV", "development",
		"DB_POOL_SIZE", "3",
		"DB_MAX_OVERFLOW", "2",
		"DB_MIN_CONNS", "1",
		"DB_POOL_TIMEOUT", "300ms",
		"DB_STATEMENT_TIMEOUT", "7s",
		"DB_APPLICATION_NAME", "every-variable",
		"DB_CONNECT_TIMEOUT", "3s",
		"SLOW_QUERY_THRESHOLD", "20ms",
		"REDIS_MAX_CONNECTIONS", "17",
		"REDIS_DEFAULT_TTL", "123",
		"REDIS_CLIENT_CACHE", "false",
		"SURREALDB_URL", sp.URL,
		"SURREALDB_USERNAME", sp.Username,
		"SURREALDB_PASSWORD", sp.Password,
		"SURREALDB_NAMESPACE", sp.Namespace,
		"SURREALDB_DATABASE", sp.Database,
		"CIRCUIT_BREAKER_ENABLED", "true",
		"CIRCUIT_BREAKER_THRESHOLD", "3",
		"MAX_RETRY_ATTEMPTS", "2",
	))
	s := open(t, cfg, prefixed(r, agentical(stores.Options{
		Logger: logs.logger(),
		Cache:  func(c *cache.Config) { gotCache = *c },
	})))
	ctx := t.Context()

	// DATABASE_URL, DB_POOL_SIZE + DB_MAX_OVERFLOW, DB_MIN_CONNS,
	// DB_CONNECT_TIMEOUT, DB_STATEMENT_TIMEOUT, DB_APPLICATION_NAME.
	pc := s.Pool().Config()
	if pc.MaxConns != 5 || pc.MinConns != 1 || pc.ConnConfig.ConnectTimeout != 3*time.Second {
		t.Errorf("pool MaxConns, MinConns, ConnectTimeout = %d, %d, %s; want 5 (3+2), 1, 3s", pc.MaxConns, pc.MinConns, pc.ConnConfig.ConnectTimeout)
	}
	var dbName, stmtTimeout, appName string
	if err := s.DB().QueryRow(ctx, "SELECT current_database(), current_setting('statement_timeout'), current_setting('application_name')").Scan(&dbName, &stmtTimeout, &appName); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dsn, "/"+dbName) && !strings.Contains(dsn, "/"+dbName+"?") {
		t.Errorf("connected to database %q, DATABASE_URL is %s", dbName, dsn)
	}
	if stmtTimeout != "7s" || appName != "every-variable" {
		t.Errorf("statement_timeout, application_name = %q, %q; want 7s, every-variable", stmtTimeout, appName)
	}

	// DB_POOL_TIMEOUT: with every connection taken, a call fails after it.
	var held []*pgxpool.Conn
	for range 5 {
		c, err := s.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	start := time.Now()
	_, err := s.DB().Exec(ctx, "SELECT 1")
	waited := time.Since(start)
	for _, c := range held {
		c.Release()
	}
	if !errors.Is(err, stores.ErrPoolExhausted) || waited < 300*time.Millisecond {
		t.Errorf("exhausted pool: err %v after %s; want ErrPoolExhausted after DB_POOL_TIMEOUT (300ms)", err, waited)
	}

	// SLOW_QUERY_THRESHOLD: a 50ms query is logged.
	if _, err := s.DB().Exec(ctx, "SELECT pg_sleep(0.05)"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `msg="postgres: slow query"`) {
		t.Errorf("a 50ms query with SLOW_QUERY_THRESHOLD=20ms was not logged:\n%s", logs.String())
	}

	// REDIS_URL, REDIS_MAX_CONNECTIONS, REDIS_DEFAULT_TTL, REDIS_CLIENT_CACHE.
	if gotCache.PoolSize != 17 || gotCache.DefaultTTL != 123*time.Second || !gotCache.DisableClientCache || gotCache.Addrs[0] != r.Addr {
		t.Errorf("cache config = %v; want pool 17, TTL 123s, client cache off, addr %s", gotCache, r.Addr)
	}
	key := cache.NewKey("EveryVariable", cache.Deps{Tables: []string{"every_variable"}}, 1)
	if _, err := cache.Get(ctx, s.Cache(), key, cache.Options{}, func(context.Context) (int, error) { return 42, nil }); err != nil {
		t.Fatal(err)
	}
	ttl := valueKeyTTL(t, r)
	if ttl <= 100*time.Second || ttl > 123*time.Second {
		t.Errorf("cached value's TTL in Redis = %s; want about REDIS_DEFAULT_TTL (123s)", ttl)
	}

	// SURREALDB_*: the store signs in to the namespace and database.
	st, err := s.Surreal()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := surreal.Query[string](ctx, st, "RETURN session::ns()", nil)
	if err != nil || ns != sp.Namespace {
		t.Errorf("SurrealDB namespace = %q, %v; want %q", ns, err, sp.Namespace)
	}

	// MAX_RETRY_ATTEMPTS and CIRCUIT_BREAKER_*: a read failing with an
	// infrastructure error runs 1+2 times; 3 failed calls open the breaker.
	e, err := s.Policies().Executor(resilience.Read, "", resilience.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	attempts := 0
	fail := func(context.Context) (int, error) { attempts++; return 0, syscall.ECONNREFUSED }
	_, _ = resilience.Get(ctx, e, fail)
	if attempts != 3 {
		t.Errorf("a failing read ran %d times; want 3 (MAX_RETRY_ATTEMPTS=2)", attempts)
	}
	for i := 0; i < 5 && s.Policies().State() == resilience.Closed; i++ {
		_, _ = resilience.Get(ctx, e, fail)
	}
	if s.Policies().State() != resilience.Open {
		t.Errorf("breaker %s after repeated infrastructure failures; want open", s.Policies().State())
	}
}

// valueKeyTTL returns the TTL of the one value key under r's prefix.
func valueKeyTTL(t *testing.T, r testinfra.RedisTarget) time.Duration {
	t.Helper()
	c := redisClient(t, r.URL())
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys, err := c.Do(t.Context(), c.B().Keys().Pattern(r.Prefix[:len(r.Prefix)-1]+":q:*").Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) > 0 {
			ms, err := c.Do(t.Context(), c.B().Pttl().Key(keys[0]).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			return time.Duration(ms) * time.Millisecond
		}
		if time.Now().After(deadline) {
			t.Fatalf("no value key under %s", r.Prefix)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func redisClient(t testing.TB, u string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// APP_ENV selects the defaults the pool and the breaker get.
func TestAppEnvProductionDefaultsReachThePool(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	cfg := loadConfig(t, env(t, dsn, r, "APP_ENV", "production"))
	s := open(t, cfg, prefixed(r, stores.Options{Logger: discard()}))
	if got := s.Pool().Config().MaxConns; got != 35 {
		t.Errorf("production pool MaxConns = %d; want 35 (DB_POOL_SIZE 25 + DB_MAX_OVERFLOW 10)", got)
	}
	// Production turns the breaker on (threshold 5, 3 retries): 2 failing calls of 4 attempts open it.
	e, _ := s.Policies().Executor(resilience.Read, "", resilience.Profile{})
	for range 10 {
		_, _ = resilience.Get(t.Context(), e, func(context.Context) (int, error) { return 0, syscall.ECONNREFUSED })
	}
	if s.Policies().State() != resilience.Open {
		t.Errorf("production breaker %s after 10 failing calls; want open", s.Policies().State())
	}
}

// CIRCUIT_BREAKER_ENABLED=false: the breaker never opens.
func TestBreakerDisabled(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	cfg := loadConfig(t, env(t, dsn, r, "CIRCUIT_BREAKER_ENABLED", "false", "CIRCUIT_BREAKER_THRESHOLD", "1", "MAX_RETRY_ATTEMPTS", "0"))
	s := open(t, cfg, prefixed(r, stores.Options{Logger: discard()}))
	e, _ := s.Policies().Executor(resilience.Read, "", resilience.Profile{})
	for range 20 {
		_, _ = resilience.Get(t.Context(), e, func(context.Context) (int, error) { return 0, syscall.ECONNREFUSED })
	}
	if s.Policies().State() != resilience.Closed {
		t.Errorf("disabled breaker is %s after 20 failures", s.Policies().State())
	}
}
