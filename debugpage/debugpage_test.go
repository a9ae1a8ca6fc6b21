package debugpage_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/debugpage"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/reqctx"
	"github.com/agentical/datalayer/resilience"
)

type env struct {
	pool   *pgxpool.Pool
	tracer *postgres.Tracer
	rt     *repo.Runtime
	repo   *db.Repository
	cfg    debugpage.Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{tracer: postgres.NewTracer(postgres.TracerConfig{SlowThreshold: 2 * time.Millisecond})}
	pc, err := postgres.Config{URL: testinfra.Postgres(t), Tracer: e.tracer, MaxConns: 4}.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	if e.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.pool.Close)
	r := testinfra.Redis(t)
	cc := cache.Config{Addrs: []string{r.Addr}, Username: r.Username, Password: r.Password, DB: r.DB,
		Prefix: strings.TrimSuffix(r.Prefix, ":"), SchemaVersion: db.SchemaVersion}
	if r.TLS {
		cc.TLS = &tls.Config{}
	}
	c, err := cache.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	pol, err := resilience.New(resilience.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if e.rt, err = repo.New(repo.Config{Cache: c, Policies: pol}); err != nil {
		t.Fatal(err)
	}
	e.repo = db.NewRepository(e.pool, e.rt)
	e.cfg = debugpage.Config{Title: "debugpage test", Runtime: e.rt, Pool: e.pool, Tracer: e.tracer, Refresh: 300 * time.Millisecond}
	return e
}

// workload reads one user over and over (cache hits), lists users, and
// sleeps in the database now and then (slow queries), until stopped.
func (e *env) workload(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u, err := e.repo.CreateUser(ctx, db.CreateUserParams{Email: "page@example.com", DisplayName: "Page", Role: db.UserRoleMember})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			rctx := reqctx.WithRequestID(ctx, fmt.Sprintf("load-%d", i))
			if _, err := e.repo.GetUser(rctx, u.ID); err != nil && ctx.Err() == nil {
				failed.Store(err)
				return
			}
			if i%10 == 0 {
				if _, err := e.repo.ListUsers(rctx, db.ListUsersParams{AfterCreatedAt: time.Unix(0, 0), PageSize: 10}); err != nil && ctx.Err() == nil {
					failed.Store(err)
					return
				}
			}
			if i%50 == 0 {
				_, _ = e.pool.Exec(rctx, "SELECT pg_sleep(0.005)")
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			t.Errorf("workload: %v", err)
		}
	}
}

// chromium finds the browser; a missing browser fails the test (it is part
// of what CI installs), it never skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("debugpage: no chromium on PATH; the browser test needs it: apt-get update && apt-get install -y chromium (.ci/install.d/chromium.sh does this)")
	return ""
}

func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("TEST_ARTIFACTS_DIR"); d != "" {
		d = filepath.Join(d, "debugpage")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func TestPageInHeadlessBrowser(t *testing.T) {
	path := chromium(t)
	e := newEnv(t)
	stop := e.workload(t)
	defer stop()
	mux := http.NewServeMux()
	mux.Handle("GET /debug/datalayer", debugpage.Handler(e.cfg))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/debug/datalayer")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	// The page replaces its body on every refresh, so elements are read in
	// one script evaluation (a node found by one protocol call may be gone
	// by the next).
	text := func(sel string) string {
		t.Helper()
		q, _ := json.Marshal(sel)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(function(){var n=document.querySelector(%s);return n?n.textContent:"<missing>"})()`, q)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	waitFor := func(sel string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for text(sel) == "<missing>" {
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s", sel)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	row := `tr[data-method="GetUser"]`
	waitFor(row)
	calls := func() int64 {
		n, err := strconv.ParseInt(text(row+` td.calls`), 10, 64)
		if err != nil {
			t.Fatalf("calls cell: %v", err)
		}
		return n
	}
	first := calls()
	if first <= 0 {
		t.Fatalf("GetUser calls = %d, want > 0", first)
	}
	// The page refreshes itself: with the workload running the count grows
	// without a reload.
	deadline := time.Now().Add(15 * time.Second)
	for calls() <= first {
		if time.Now().After(deadline) {
			t.Fatalf("GetUser calls stayed at %d: the page did not refresh", first)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ratio := text(row + ` td.ratio`)
	m := regexp.MustCompile(`^(\d+(?:\.\d)?)%$`).FindStringSubmatch(ratio)
	if m == nil {
		t.Fatalf("GetUser hit ratio %q, want a percentage", ratio)
	}
	if pct, _ := strconv.ParseFloat(m[1], 64); pct <= 50 {
		t.Errorf("GetUser hit ratio %s%%: a workload rereading one user should hit mostly", m[1])
	}
	if s := text(`tr[data-breaker="postgres"] .state`); s != "closed" {
		t.Errorf("postgres breaker shows %q, want closed", s)
	}
	if s := text(`tr[data-breaker="redis"] .state`); s != "closed" {
		t.Errorf("redis breaker shows %q, want closed", s)
	}
	if s := text(`[data-pending]`); s != "0" {
		t.Errorf("pending invalidations %q, want 0", s)
	}
	if s := text(`#pool`); !strings.Contains(s, "/ 4 in use") {
		t.Errorf("pool section %q does not show the pool size 4", s)
	}
	waitFor(`#slow tbody tr`)
	if s := text(`#slow`); !strings.Contains(s, "SELECT") || !strings.Contains(s, "load-") {
		t.Errorf("slow-query section %q: want the pg_sleep SELECT with its request ID", s)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(artifactDir(t), "debug-datalayer.png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

func TestJSONSnapshot(t *testing.T) {
	e := newEnv(t)
	stop := e.workload(t)
	time.Sleep(50 * time.Millisecond)
	stop()
	srv := httptest.NewServer(debugpage.Handler(e.cfg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/anything?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap debugpage.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		t.Fatal(err)
	}
	var get *debugpage.Method
	for i := range snap.Methods {
		if snap.Methods[i].Name == "GetUser" {
			get = &snap.Methods[i]
		}
	}
	if get == nil || get.Calls == 0 || get.HitRatio == nil {
		t.Fatalf("snapshot methods %+v: want GetUser with calls and a hit ratio", snap.Methods)
	}
	want := e.rt.Stats()
	for _, m := range want {
		if m.Name == "GetUser" && m.Calls != get.Calls {
			t.Errorf("JSON says %d GetUser calls, the runtime %d", get.Calls, m.Calls)
		}
	}
	if snap.Pool == nil || snap.Pool.Max != 4 || snap.PendingInvalidations == nil || len(snap.Breakers) != 2 {
		t.Errorf("snapshot %+v: want pool (max 4), pending invalidations and two breakers", snap)
	}
	if r, _ := http.Post(srv.URL, "text/plain", nil); r == nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: want 405")
	}
}
