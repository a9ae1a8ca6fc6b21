package repo_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
)

// gateTracer counts queries through postgres.Tracer and can hold one execution of
// a named query after the database answered and before the caller gets the
// rows: the point between a cached read's load and its fill.
type gateTracer struct {
	*postgres.Tracer
	gate atomic.Pointer[gate]
}

type gate struct {
	query   string
	taken   atomic.Bool
	reached chan struct{} // closed when the held query has its result
	release chan struct{} // closed by open to let it continue
	once    sync.Once
}

// open lets the held query continue (idempotent).
func (gt *gate) open() { gt.once.Do(func() { close(gt.release) }) }

type traceNameKey struct{}

func newGateTracer() *gateTracer {
	return &gateTracer{Tracer: postgres.NewTracer(postgres.TracerConfig{})}
}

func (g *gateTracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	ctx = g.Tracer.TraceQueryStart(ctx, c, d)
	return context.WithValue(ctx, traceNameKey{}, postgres.QueryName(d.SQL))
}

func (g *gateTracer) TraceQueryEnd(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryEndData) {
	g.Tracer.TraceQueryEnd(ctx, c, d)
	gt := g.gate.Load()
	if gt == nil || ctx.Value(traceNameKey{}) != gt.query || !gt.taken.CompareAndSwap(false, true) {
		return
	}
	close(gt.reached)
	<-gt.release
}

// hold arms the gate for the next execution of query; open releases it (at
// the latest when the test ends).
func (g *gateTracer) hold(t testing.TB, query string) *gate {
	t.Helper()
	gt := &gate{query: query, reached: make(chan struct{}), release: make(chan struct{})}
	if !g.gate.CompareAndSwap(nil, gt) {
		t.Fatal("gate already armed")
	}
	t.Cleanup(gt.open)
	return gt
}

func (gt *gate) wait(t testing.TB) {
	t.Helper()
	select {
	case <-gt.reached:
	case <-time.After(10 * time.Second):
		t.Fatalf("query %s never reached the gate", gt.query)
	}
}

// count returns how many times query ran (errors included).
func (g *gateTracer) count(query string) int64 {
	s, _ := g.Query(query)
	return s.Count
}

// env is one repository over one test database and one cache.
type env struct {
	DSN    string
	Redis  testinfra.RedisTarget
	Pool   *pgxpool.Pool
	Tracer *gateTracer
	Cache  *cache.Cache // nil when built without a cache
	Obs    *cache.Counters
	Pol    *resilience.Policies
	RT     *repo.Runtime
	Repo   *db.Repository
	Raw    *db.Queries // sqlc straight on the pool: no cache, no policies
}

type envOptions struct {
	dsn      string                 // default: a fresh testinfra database
	redis    *testinfra.RedisTarget // default: testinfra.Redis(t)
	noCache  bool
	cache    func(*cache.Config)
	policies resilience.Config
	pool     func(*pgxpool.Config)
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{DSN: o.dsn, Tracer: newGateTracer(), Obs: &cache.Counters{}}
	if e.DSN == "" {
		e.DSN = testinfra.Postgres(t)
	}
	pc, err := postgres.Config{URL: e.DSN, Tracer: e.Tracer, MaxConns: 8}.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	if o.pool != nil {
		o.pool(pc)
	}
	e.Pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	t.Cleanup(e.Pool.Close)
	if !o.noCache {
		if o.redis != nil {
			e.Redis = *o.redis
		} else {
			e.Redis = testinfra.Redis(t)
		}
		cfg := cacheConfig(e.Redis)
		cfg.Observer = e.Obs
		if o.cache != nil {
			o.cache(&cfg)
		}
		e.Cache, err = cache.New(ctx, cfg)
		if err != nil {
			t.Fatalf("cache.New: %v", err)
		}
		t.Cleanup(func() { _ = e.Cache.Close() })
	}
	e.Pol, err = resilience.New(o.policies)
	if err != nil {
		t.Fatal(err)
	}
	e.RT, err = repo.New(repo.Config{Cache: e.Cache, Policies: e.Pol})
	if err != nil {
		t.Fatal(err)
	}
	e.Repo = db.NewRepository(e.Pool, e.RT)
	e.Raw = db.New(postgres.Translate(e.Pool))
	return e
}

// cacheConfig points a cache at the harness's Redis, under the test's prefix.
func cacheConfig(r testinfra.RedisTarget) cache.Config {
	cfg := cache.Config{
		Addrs:         []string{r.Addr},
		Username:      r.Username,
		Password:      r.Password,
		DB:            r.DB,
		Prefix:        strings.TrimSuffix(r.Prefix, ":"),
		SchemaVersion: db.SchemaVersion,
	}
	if r.TLS {
		cfg.TLS = &tls.Config{}
	}
	return cfg
}

// fills is the number of finished fill attempts (stored, skipped or failed).
func (e *env) fills() int64 {
	return e.Obs.Fills.Load() + e.Obs.FillsSkipped.Load() + e.Obs.FillErrors.Load()
}

// waitFills waits until at least n fill attempts finished: fills run in the
// background after the loader returned.
func (e *env) waitFills(t testing.TB, n int64) {
	t.Helper()
	waitFor(t, "background fills", 5*time.Second, func() bool { return e.fills() >= n })
}

// warm reads through fn until a read is a cache hit that ran no query, so
// that later assertions start from a cached value. (Fills run in the
// background: the read right after a miss may still find nothing.)
func warm[T any](t testing.TB, e *env, query string, fn func() (T, error)) T {
	t.Helper()
	var v T
	waitFor(t, "a cached "+query, 5*time.Second, func() bool {
		hits, q := e.Obs.Hits(), e.Tracer.count(query)
		var err error
		v, err = fn()
		if err != nil && !postgres.IsNotFound(err) {
			t.Fatalf("warm %s: %v", query, err)
		}
		if e.Obs.Hits() > hits && e.Tracer.count(query) == q {
			return true
		}
		time.Sleep(time.Millisecond)
		return false
	})
	return v
}

// noQuery runs fn and fails if it ran query on the database.
func noQuery[T any](t testing.TB, e *env, query string, fn func() (T, error)) (T, error) {
	t.Helper()
	before := e.Tracer.count(query)
	v, err := fn()
	if n := e.Tracer.count(query) - before; n != 0 {
		t.Errorf("%s ran %d database queries, want a cache hit", query, n)
	}
	return v, err
}

// oneQuery runs fn and fails unless it ran query on the database once.
func oneQuery[T any](t testing.TB, e *env, query string, fn func() (T, error)) (T, error) {
	t.Helper()
	before := e.Tracer.count(query)
	v, err := fn()
	if n := e.Tracer.count(query) - before; n != 1 {
		t.Errorf("%s ran %d database queries, want 1 (a miss)", query, n)
	}
	return v, err
}

func waitFor(t testing.TB, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	t.Helper()
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func affected(t testing.TB, what string, n int64, err error, want int64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if n != want {
		t.Fatalf("%s affected %d rows, want %d", what, n, want)
	}
}

func randName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

func (e *env) user(t testing.TB) db.User {
	t.Helper()
	return must[db.User](t)(e.Repo.CreateUser(context.Background(), db.CreateUserParams{
		Email: randName("u") + "@example.com", DisplayName: "Test User", Role: db.UserRoleMember,
	}))
}

func (e *env) agent(t testing.TB, owner uuid.UUID) db.Agent {
	t.Helper()
	return must[db.Agent](t)(e.Repo.CreateAgent(context.Background(), db.CreateAgentParams{
		OwnerID: owner, Name: randName("agent"), Kind: db.AgentKindWorker, Status: db.AgentStatusDraft,
		Config: []byte(`{"model":"m1"}`),
	}))
}

func (e *env) task(t testing.TB, assignee *uuid.UUID, parent *uuid.UUID) db.Task {
	t.Helper()
	return must[db.Task](t)(e.Repo.CreateTask(context.Background(), db.CreateTaskParams{
		Title: randName("task"), Priority: 2, AssigneeAgentID: assignee, ParentTaskID: parent,
		Metadata: []byte(`{}`),
	}))
}

// setAgentStatus changes an agent through the repository (a keyed write).
func (e *env) setAgentStatus(t testing.TB, id uuid.UUID, s db.AgentStatus) {
	t.Helper()
	cur := must[db.Agent](t)(e.Raw.GetAgent(context.Background(), id))
	n, err := e.Repo.UpdateAgentStatus(context.Background(), db.UpdateAgentStatusParams{Status: s, ID: id, Version: cur.Version})
	affected(t, "UpdateAgentStatus", n, err, 1)
}
