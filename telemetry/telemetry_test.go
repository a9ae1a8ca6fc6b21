package telemetry_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/httpmw"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/reqctx"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/telemetry"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stack is the wiring a service does: OTel providers with a Prometheus
// exporter, the pgx tracer, the observers, and the gauges.
type stack struct {
	reg    *prometheus.Registry
	tp     *sdktrace.TracerProvider
	tel    *telemetry.Telemetry
	pool   *pgxpool.Pool
	tracer *postgres.Tracer
	cache  *cache.Cache
	rt     *repo.Runtime
	repo   *db.Repository
	logs   *syncBuffer
	spans  *tracetest.SpanRecorder
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	exp, err := otelprom.New(otelprom.WithRegisterer(s.reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	s.spans = tracetest.NewSpanRecorder()
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	t.Cleanup(func() { _ = mp.Shutdown(ctx); _ = s.tp.Shutdown(ctx) })
	s.tel, err = telemetry.New(telemetry.Config{MeterProvider: mp, TracerProvider: s.tp})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(s.logs, nil))
	s.tracer = postgres.NewTracer(postgres.TracerConfig{Logger: logger, SlowThreshold: time.Nanosecond})
	s.pool = s.newPool(t, testinfra.Postgres(t))
	r := testinfra.Redis(t)
	cc := cache.Config{
		Addrs: []string{r.Addr}, Username: r.Username, Password: r.Password, DB: r.DB,
		Prefix: strings.TrimSuffix(r.Prefix, ":"), SchemaVersion: db.SchemaVersion,
		Observer: s.tel.CacheObserver(), OnRedisStateChange: s.tel.BreakerChanged("redis"),
	}
	if r.TLS {
		cc.TLS = &tls.Config{}
	}
	s.cache, err = cache.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.cache.Close() })
	pol, err := resilience.New(resilience.Config{OnRetry: s.tel.Retried, OnStateChange: s.tel.BreakerChanged("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	s.rt, err = repo.New(repo.Config{Cache: s.cache, Policies: pol, Observer: s.tel.MethodObserver()})
	if err != nil {
		t.Fatal(err)
	}
	s.repo = db.NewRepository(s.pool, s.rt)
	stop, err := s.tel.Observe(telemetry.Sources{
		Pools:    map[string]*pgxpool.Pool{"main": s.pool},
		Caches:   map[string]*cache.Cache{"main": s.cache},
		Breakers: []telemetry.Breaker{{Name: "postgres", State: pol.State}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return s
}

func (s *stack) newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pc, err := postgres.Config{URL: dsn, Tracer: s.tel.PgxTracer(s.tracer), MaxConns: 4, ConnectTimeout: time.Second}.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func (s *stack) scrape(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var sampleRe = regexp.MustCompile(`(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? `)

func names(exposition string) []string {
	set := map[string]bool{}
	for _, m := range sampleRe.FindAllStringSubmatch(exposition, -1) {
		set[m[1]] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestPrometheusExpositionAfterWorkload(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	u, err := s.repo.CreateUser(ctx, db.CreateUserParams{Email: "tel@example.com", DisplayName: "Tel", Role: db.UserRoleMember})
	if err != nil {
		t.Fatal(err)
	}
	// A miss, then reads until one is a hit (fills run in the background).
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := statsOf(s.rt, "GetUser").Hits
		if _, err := s.repo.GetUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if statsOf(s.rt, "GetUser").Hits > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("GetUser never hit the cache")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.repo.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if err := s.repo.InTx(ctx, postgres.TxOptions{OnRetry: s.tel.TxRetried}, func(ctx context.Context, r *db.Repository) error {
		_, err := r.GetUser(ctx, u.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// A second database that is down: retries, then its breaker opens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "postgres://nobody@" + ln.Addr().String() + "/none?sslmode=disable"
	ln.Close()
	downPol, err := resilience.New(resilience.Config{
		BreakerThreshold: 1, RetryAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: 2 * time.Millisecond,
		OnRetry: s.tel.Retried, OnStateChange: s.tel.BreakerChanged("postgres-down"),
	})
	if err != nil {
		t.Fatal(err)
	}
	downRT, err := repo.New(repo.Config{Policies: downPol, Observer: s.tel.MethodObserver()})
	if err != nil {
		t.Fatal(err)
	}
	down := db.NewRepository(s.newPool(t, dead), downRT)
	if _, err := down.GetUser(ctx, u.ID); err == nil {
		t.Fatal("read from a database that is down succeeded")
	}

	out := s.scrape(t)
	got := names(out)
	for _, want := range []string{
		"datalayer_repo_duration_seconds_bucket",
		"datalayer_repo_calls_total",
		"datalayer_cache_hits_total",
		"datalayer_cache_misses_total",
		"datalayer_cache_fills_total",
		"datalayer_cache_fill_size_bytes_bucket",
		"datalayer_cache_invalidations_total",
		"datalayer_cache_pending_invalidations",
		"datalayer_breaker_state",
		"datalayer_breaker_transitions_total",
		"datalayer_retries_total",
		"datalayer_pool_connections",
		"datalayer_pool_max_connections",
		"datalayer_pool_acquires_total",
		"datalayer_pool_acquire_wait_seconds_total",
	} {
		if !contains(got, want) {
			t.Errorf("metric %s missing; exposition has %v", want, got)
		}
	}
	// otelpgx's own query metrics are exported too.
	if !hasPrefix(got, "db_client_operation_duration") {
		t.Errorf("no otelpgx db_client_operation_duration metric in %v", got)
	}
	for _, sample := range []string{
		`datalayer_repo_calls_total{method="GetUser",otel_scope_name="github.com/agentical/datalayer/telemetry",otel_scope_schema_url="",otel_scope_version="",outcome="hit",tx="false"}`,
		`datalayer_retries_total{kind="read"`,
		`datalayer_breaker_transitions_total{breaker="postgres-down",from="closed"`,
		`datalayer_breaker_state{breaker="postgres"`,
		`datalayer_pool_max_connections{otel_scope_name="github.com/agentical/datalayer/telemetry",otel_scope_schema_url="",otel_scope_version="",pool="main"} 4`,
	} {
		if !strings.Contains(out, sample) {
			t.Errorf("exposition lacks %s", sample)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", out)
	}
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

func hasPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func statsOf(rt *repo.Runtime, name string) repo.MethodStats {
	for _, m := range rt.Stats() {
		if m.Name == name {
			return m
		}
	}
	return repo.MethodStats{}
}

func TestSlowQueryLogCarriesTraceAndRequestID(t *testing.T) {
	s := newStack(t)
	ctx, span := s.tp.Tracer("test").Start(context.Background(), "request")
	ctx = reqctx.WithRequestID(ctx, "rid-telemetry-1")
	if _, err := s.repo.ListUsers(ctx, db.ListUsersParams{AfterCreatedAt: time.Unix(0, 0), PageSize: 5}); err != nil {
		t.Fatal(err)
	}
	span.End()
	want := span.SpanContext().TraceID().String()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "postgres: slow query" && rec["query"] == "ListUsers" {
			found = true
			if rec["trace_id"] != want || rec["request_id"] != "rid-telemetry-1" {
				t.Errorf("slow-query record %v: want trace_id %s and request_id rid-telemetry-1", rec, want)
			}
		}
	}
	if !found {
		t.Fatalf("no slow-query record for ListUsers in %s", s.logs.String())
	}
}

func (s *stack) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func TestHTTPRequestIsOneTrace(t *testing.T) {
	s := newStack(t)
	logger := slog.New(httpmw.LogHandler(slog.NewJSONHandler(s.logs, nil)))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		for range 2 {
			if _, err := s.repo.ListUsers(r.Context(), db.ListUsersParams{AfterCreatedAt: time.Unix(0, 0), PageSize: 5}); err != nil {
				httpmw.WriteError(w, r, err)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	tel, err := telemetry.New(telemetry.Config{TracerProvider: s.tp, HTTPRoute: func(r *http.Request) string { _, p := mux.Handler(r); return p }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tel.Middleware(httpmw.New(httpmw.Config{Logger: logger})(mux)))
	defer srv.Close()
	const parent = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", srv.URL+"/users", nil)
	req.Header.Set("traceparent", "00-"+parent+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	reqID := resp.Header.Get("X-Request-ID")

	var server sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == "GET /users" {
			server = sp
		}
	}
	if server == nil {
		t.Fatal("no server span named after the route")
	}
	if got := server.SpanContext().TraceID().String(); got != parent {
		t.Errorf("server span trace %s, want the client's %s", got, parent)
	}
	slow, access := 0, 0
	for _, rec := range s.records(t) {
		switch rec["msg"] {
		case "postgres: slow query":
			slow++
			if rec["trace_id"] != parent || rec["request_id"] != reqID {
				t.Errorf("slow-query line %v: want trace_id %s, request_id %s", rec, parent, reqID)
			}
		case "http request":
			access++
			if rec["trace_id"] != parent || rec["request_id"] != reqID {
				t.Errorf("access-log line %v: want trace_id %s, request_id %s", rec, parent, reqID)
			}
		}
	}
	if slow != 2 || access != 1 {
		t.Errorf("%d slow-query and %d access-log lines, want 2 and 1", slow, access)
	}
	// otelpgx's query spans are children of the request's span.
	children := 0
	for _, sp := range s.spans.Ended() {
		if sp.Parent().SpanID() == server.SpanContext().SpanID() && sp.Name() == "ListUsers" {
			children++
		}
	}
	if children != 2 {
		t.Errorf("%d ListUsers query spans under the request span, want 2", children)
	}
}
