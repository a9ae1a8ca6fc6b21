package httpmw_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/httpmw"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records parses the JSON log lines.
func (b *syncBuffer) records(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) find(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range b.records(t) {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

type env struct {
	DSN    string
	Pool   *pgxpool.Pool
	Tracer *postgres.Tracer
	Cache  *cache.Cache
	Obs    *cache.Counters
	RT     *repo.Runtime
	Repo   *db.Repository
	Logs   *syncBuffer
	Logger *slog.Logger
}

type envOptions struct {
	slow     time.Duration // slow-query threshold; default: disabled
	maxConns int32
	policies resilience.Config
	dsn      string
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{Logs: &syncBuffer{}, Obs: &cache.Counters{}}
	e.Logger = slog.New(httpmw.LogHandler(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if o.slow == 0 {
		o.slow = -1
	}
	e.Tracer = postgres.NewTracer(postgres.TracerConfig{Logger: e.Logger, SlowThreshold: o.slow})
	e.DSN = o.dsn
	if e.DSN == "" {
		e.DSN = testinfra.Postgres(t)
	}
	if o.maxConns == 0 {
		o.maxConns = 8
	}
	pc, err := postgres.Config{URL: e.DSN, Tracer: e.Tracer, MaxConns: o.maxConns, ConnectTimeout: time.Second}.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	e.Pool, err = pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Pool.Close)
	r := testinfra.Redis(t)
	cc := cache.Config{
		Addrs: []string{r.Addr}, Username: r.Username, Password: r.Password, DB: r.DB,
		Prefix: strings.TrimSuffix(r.Prefix, ":"), SchemaVersion: db.SchemaVersion, Observer: e.Obs,
	}
	if r.TLS {
		cc.TLS = &tls.Config{}
	}
	e.Cache, err = cache.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Cache.Close() })
	pol, err := resilience.New(o.policies)
	if err != nil {
		t.Fatal(err)
	}
	e.RT, err = repo.New(repo.Config{Cache: e.Cache, Policies: pol})
	if err != nil {
		t.Fatal(err)
	}
	e.Repo = db.NewRepository(e.Pool, e.RT)
	return e
}

// serve runs h behind the middleware on a real HTTP server.
func (e *env) serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpmw.New(httpmw.Config{Logger: e.Logger})(h))
	t.Cleanup(srv.Close)
	return srv
}

func (e *env) user(t testing.TB) db.User {
	t.Helper()
	u, err := e.Repo.CreateUser(context.Background(), db.CreateUserParams{
		Email: randName() + "@example.com", DisplayName: "HTTP Test", Role: db.UserRoleMember,
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var nameSeq struct {
	sync.Mutex
	n int
}

func randName() string {
	nameSeq.Lock()
	defer nameSeq.Unlock()
	nameSeq.n++
	return "u" + time.Now().Format("150405.000000") + "-" + string(rune('a'+nameSeq.n%26))
}

// userCount counts users with this display name straight on the pool (no
// cache, no transaction).
func (e *env) userCount(t testing.TB, displayName string) int {
	t.Helper()
	var n int
	if err := e.Pool.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE display_name = $1", displayName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func do(t testing.TB, method, url string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
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
