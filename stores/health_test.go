package stores_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/health"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/stores"
)

// probe GETs the readiness handler and decodes the report.
func probe(t testing.TB, h http.Handler) (int, health.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var rep health.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("readiness body is not a report: %v\n%s", err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, rep
}

var fresh = health.Config{CacheFor: -1} // every probe checks again

func newUser(t testing.TB, r *db.Repository, email string) db.User {
	t.Helper()
	u, err := r.CreateUser(t.Context(), db.CreateUserParams{Email: email, DisplayName: "U", Role: db.UserRoleMember})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// Redis stopped: ready (200) but degraded, the repository keeps working
// (the cache fails open), and Close reports the invalidations that could
// not reach Redis.
func TestReadinessWhileRedisStopped(t *testing.T) {
	dsn := testinfra.Postgres(t)
	rs := testinfra.PrivateRedis(t)
	cfg := loadConfig(t, map[string]string{"DATABASE_URL": dsn, "REDIS_URL": rs.URL(), "AUTO_MIGRATE": "false"})
	s, err := stores.Open(t.Context(), cfg, agentical(stores.Options{Logger: discard(), Health: fresh, DrainTimeout: 300 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	repo := db.NewRepository(s.DB(), s.Runtime())
	u := newUser(t, repo, "redis-stopped@example.com")

	code, rep := probe(t, s.Health().Ready())
	if code != 200 || rep.State != health.Up || rep.Stores["redis"].State != health.Up {
		t.Fatalf("before the outage: %d %+v", code, rep)
	}
	if err := rs.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, rep = probe(t, s.Health().Ready())
	if code != 200 || !rep.Ready || rep.State != health.Degraded || rep.Stores["redis"].State != health.Down || rep.Stores["postgres"].State != health.Up {
		t.Errorf("Redis stopped: %d %+v; want 200, degraded, redis down, postgres up", code, rep)
	}
	// Reads and writes go on without Redis.
	if got, err := repo.GetUser(t.Context(), u.ID); err != nil || got.ID != u.ID {
		t.Errorf("GetUser with Redis stopped: %v", err)
	}
	if _, err := repo.UpdateUserRole(t.Context(), db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleAdmin}); err != nil {
		t.Errorf("UpdateUserRole with Redis stopped: %v", err)
	}
	if _, rep = probe(t, s.Health().Ready()); rep.Stores["redis"].PendingInvalidations == nil || *rep.Stores["redis"].PendingInvalidations == 0 {
		t.Errorf("readiness shows no pending invalidations after a write with Redis down: %+v", rep.Stores["redis"])
	}
	err = s.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "invalidation pending") {
		t.Errorf("Close with invalidations that could not reach Redis = %v; want them reported", err)
	}
}

// Redis down at start-up is not fatal: Open goes on, readiness is
// degraded, and the cache connects once Redis is back.
func TestOpenWithoutRedis(t *testing.T) {
	dsn := testinfra.Postgres(t)
	rs := testinfra.PrivateRedis(t)
	if err := rs.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	cfg := loadConfig(t, map[string]string{"DATABASE_URL": dsn, "REDIS_URL": rs.URL(), "AUTO_MIGRATE": "false"})
	s := open(t, cfg, agentical(stores.Options{Logger: logs.logger(), Health: fresh, OptionalWait: 300 * time.Millisecond}))
	if !strings.Contains(logs.String(), "going on without redis") {
		t.Errorf("no log line says Open went on without Redis:\n%s", logs.String())
	}
	repo := db.NewRepository(s.DB(), s.Runtime())
	u := newUser(t, repo, "no-redis@example.com")
	if _, err := repo.GetUser(t.Context(), u.ID); err != nil {
		t.Errorf("GetUser without Redis: %v", err)
	}
	code, rep := probe(t, s.Health().Ready())
	if code != 200 || rep.State != health.Degraded || rep.Stores["redis"].State != health.Down {
		t.Errorf("without Redis: %d %+v; want 200 degraded, redis down", code, rep)
	}
	if err := rs.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, rep = probe(t, s.Health().Ready())
		if rep.Stores["redis"].State != health.Down {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis still down 15s after it started: %+v", rep.Stores["redis"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PostgreSQL down: not ready (503).
func TestReadinessPostgresDown(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	p := newProxy(t, hostPort(t, dsn))
	p.Resume()
	s := open(t, loadConfig(t, env(t, withHostPort(t, dsn, p.addr), r)), prefixed(r, agentical(stores.Options{Logger: discard(), Health: fresh})))
	if code, rep := probe(t, s.Health().Ready()); code != 200 || rep.Stores["postgres"].State == health.Down {
		t.Fatalf("before the outage: %d %+v", code, rep)
	}
	p.Pause()
	s.Pool().Reset() // drop idle connections the way a failover does
	code, rep := probe(t, s.Health().Ready())
	if code != http.StatusServiceUnavailable || rep.Ready || rep.State != health.Down || rep.Stores["postgres"].State != health.Down || rep.Stores["postgres"].Error == "" {
		t.Errorf("PostgreSQL down: %d %+v; want 503, not ready, postgres down with an error", code, rep)
	}
	// Liveness does not depend on the stores.
	rec := httptest.NewRecorder()
	s.Health().Live().ServeHTTP(rec, httptest.NewRequest("GET", "/livez", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"alive"`) {
		t.Errorf("liveness with PostgreSQL down: %d %s", rec.Code, rec.Body.String())
	}
}

// A probe storm reaches the database once per reuse period: counted by the
// pool's acquires.
func TestReadinessProbeStormReusesResults(t *testing.T) {
	const period = 2 * time.Second
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	s := open(t, loadConfig(t, env(t, dsn, r)), prefixed(r, agentical(stores.Options{Logger: discard(), Health: health.Config{CacheFor: period}})))
	srv := httptest.NewServer(s.Health().Ready())
	defer srv.Close()
	get := func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
	}
	acquires := func() int64 { return s.Pool().Stat().AcquireCount() }
	// storm sends n concurrent probes and returns the acquires they caused
	// and how many checks the elapsed time allows at most.
	storm := func(n int) (int64, int64) {
		a, start := acquires(), time.Now()
		var wg sync.WaitGroup
		for range n {
			wg.Go(get)
		}
		wg.Wait()
		return acquires() - a, int64(time.Since(start)/period) + 1
	}

	a0 := acquires()
	get() // a fresh check: nothing was probed yet
	one := acquires() - a0
	if one == 0 {
		t.Fatal("a readiness check did not touch the pool")
	}
	// Within the period: the report is reused (more checks only if the
	// storm itself outlasted the period on a loaded machine).
	if got, periods := storm(100); got > one*(periods-1) {
		t.Errorf("100 probes right after a check took %d acquires; want %d (one check costs %d)", got, one*(periods-1), one)
	}
	time.Sleep(period + 100*time.Millisecond)
	if got, periods := storm(20); got < one || got > one*periods {
		t.Errorf("20 concurrent probes after the period took %d acquires; want %d (one shared check)", got, one)
	}
}

// A check that does not answer is bounded by the timeout.
func TestReadinessCheckTimeout(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	s := open(t, loadConfig(t, env(t, dsn, r)), prefixed(r, stores.Options{Logger: discard()}))
	// A server that accepts connections and never answers.
	ln := newBlackhole(t)
	hung, err := pgxpoolNew(t, withHostPort(t, dsn, ln))
	if err != nil {
		t.Fatal(err)
	}
	c := health.New(health.Config{Timeout: 300 * time.Millisecond, Checks: []health.Check{health.Postgres(hung, health.PostgresOptions{Policies: s.Policies()}), health.Redis(s.Cache())}})
	start := time.Now()
	rep := c.Check(t.Context())
	took := time.Since(start)
	if took > 5*time.Second || rep.Ready || rep.Stores["postgres"].State != health.Down || rep.Stores["redis"].State != health.Up {
		t.Errorf("hung server: %+v after %s; want postgres down within about 300ms, redis up", rep, took)
	}
}

// SurrealDB down: ready but degraded; a store not up at start-up is
// connected in the background.
func TestSurrealDegraded(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	sp := surrealpeer.ForTest(t)
	p := newProxy(t, strings.TrimPrefix(sp.URL, "ws://"))
	cfg := loadConfig(t, env(t, dsn, r, "SURREALDB_URL", "ws://"+p.addr, "SURREALDB_USERNAME", sp.Username,
		"SURREALDB_PASSWORD", sp.Password, "SURREALDB_NAMESPACE", sp.Namespace, "SURREALDB_DATABASE", sp.Database))
	s := open(t, cfg, prefixed(r, stores.Options{Logger: discard(), Health: fresh, OptionalWait: 200 * time.Millisecond, BackoffMax: 100 * time.Millisecond}))
	if _, err := s.Surreal(); !errors.Is(err, stores.ErrSurrealUnavailable) {
		t.Errorf("Surreal() before the server answers = %v; want ErrSurrealUnavailable", err)
	}
	code, rep := probe(t, s.Health().Ready())
	if code != 200 || rep.State != health.Degraded || rep.Stores["surrealdb"].State != health.Down {
		t.Errorf("SurrealDB not up: %d %+v; want 200 degraded, surrealdb down", code, rep)
	}
	p.Resume()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := s.Surreal(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SurrealDB not connected 20s after it answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, rep = probe(t, s.Health().Ready()); code != 200 || rep.Stores["surrealdb"].State != health.Up {
		t.Errorf("SurrealDB up: %d %+v", code, rep.Stores["surrealdb"])
	}
	p.Pause()
	if code, rep = probe(t, s.Health().Ready()); code != 200 || !rep.Ready || rep.Stores["surrealdb"].State != health.Down || rep.State != health.Degraded {
		t.Errorf("SurrealDB down: %d %+v; want 200 ready degraded", code, rep)
	}
}
