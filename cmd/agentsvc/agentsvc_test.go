package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestAgentsvc builds the real binary once and runs it as a user would:
// configured by environment variables only, against real PostgreSQL and
// Redis, driven over HTTP.
func TestAgentsvc(t *testing.T) {
	bin := buildService(t)
	t.Run("SQLiteURLRefused", func(t *testing.T) { testSQLiteRefused(t, bin) })
	t.Run("EndToEnd", func(t *testing.T) { testEndToEnd(t, bin) })
	t.Run("PostgresDown", func(t *testing.T) { testPostgresDown(t, bin) })
	t.Run("ScheduledBackups", func(t *testing.T) { testScheduledBackups(t, bin) })
}

// TestOnlyPublicImports: the example service imports none of the module's
// internal packages, so a service in another module could be written the
// same way.
func TestOnlyPublicImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := strings.Fields(string(out))
	if !slices.Contains(imports, "github.com/agentical/datalayer") {
		t.Fatalf("go list found no import of the datalayer root package: %q", imports)
	}
	for _, p := range imports {
		if strings.HasPrefix(p, "github.com/agentical/datalayer/internal") {
			t.Errorf("cmd/agentsvc imports %s", p)
		}
	}
}

// buildService builds the service into a temporary directory.
func buildService(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agentsvc")
	build := exec.Command("go", append(append([]string{"build"}, raceFlags...), "-o", bin, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testSQLiteRefused: a sqlite: DATABASE_URL stops the service at start-up
// with an error that says PostgreSQL is the relational store.
func testSQLiteRefused(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"DATABASE_URL=sqlite:///var/lib/agentsvc/app.db", "REDIS_URL=redis://127.0.0.1:1/0", "AGENTSVC_ADDR=127.0.0.1:0"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v\n%s", err, out)
	}
	for _, want := range []string{"DATABASE_URL", "PostgreSQL is the relational store", "sqlite is not supported"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("listening")) {
		t.Errorf("the service started listening:\n%s", out)
	}
}

// service is a running agentsvc process.
type service struct {
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRe = regexp.MustCompile(`"msg":"agentsvc: listening","addr":"([^"]+)"`)

// start runs bin with env and waits for its "listening" log line.
func start(t testing.TB, bin string, env ...string) *service {
	t.Helper()
	return launch(t, bin, env...)()
}

// launch runs bin with env; the function it returns waits for the
// "listening" log line (so several services can start at once).
func launch(t testing.TB, bin string, env ...string) (wait func() *service) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "AGENTSVC_ADDR=127.0.0.1:0", "AGENTSVC_EVENTS_PREFIX=agentsvc-test-" + randomHex(4)}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &service{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(s.logs, line)
			if m := listenRe.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("service log:\n%s", s.logs.String())
		}
	})
	return func() *service {
		t.Helper()
		select {
		case a := <-addr:
			s.base = "http://" + a
		case err := <-s.done:
			s.done <- err
			t.Fatalf("service exited before listening: %v\n%s", err, s.logs.String())
		case <-time.After(40 * time.Second):
			t.Fatalf("service not listening after 40s:\n%s", s.logs.String())
		}
		return s
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *service) stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("service did not exit within 20s of SIGTERM")
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (s *service) do(t testing.TB, method, path string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// must is do that also checks the status.
func (s *service) must(t testing.TB, want int, method, path string, body any) response {
	t.Helper()
	r := s.do(t, method, path, body)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

var timingRe = regexp.MustCompile(`cache;desc="(\d+) hits, (\d+) misses"`)

// cacheCounts reads hits and misses from a Server-Timing header.
func cacheCounts(t *testing.T, h http.Header) (hits, misses int) {
	t.Helper()
	m := timingRe.FindStringSubmatch(h.Get("Server-Timing"))
	if m == nil {
		t.Fatalf("Server-Timing %q has no cache entry", h.Get("Server-Timing"))
	}
	fmt.Sscan(m[1], &hits)
	fmt.Sscan(m[2], &misses)
	return hits, misses
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// emptyDatabase creates a database with nothing in it (AUTO_MIGRATE
// applies the schema) and drops it when t ends.
func emptyDatabase(t testing.TB) string {
	t.Helper()
	admin := testinfra.PostgresServer(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	name := "agentsvc_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

type agent struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Config      json.RawMessage `json:"config"`
	Version     int32           `json:"version"`
}

type task struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version int32  `json:"version"`
}

// sseClient reads one event stream.
type sseClient struct {
	lines chan string
}

// subscribe opens path as an event stream and returns once the server said
// the subscription is confirmed (": subscribed").
func (s *service) subscribe(t *testing.T, path string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("GET %s: %d %s: %s", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	c := &sseClient{lines: make(chan string, 64)}
	go func() {
		defer res.Body.Close()
		defer close(c.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	c.waitFor(t, ": subscribed", 10*time.Second)
	return c
}

// waitFor returns the first line starting with prefix.
func (c *sseClient) waitFor(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("event stream ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q line within %s", prefix, d)
		}
	}
}

func testEndToEnd(t *testing.T, bin string) {
	dsn := emptyDatabase(t)
	redis := testinfra.PrivateRedis(t)
	svc := start(t, bin, "DATABASE_URL="+dsn, "REDIS_URL="+redis.URL(), "AUTO_MIGRATE=true",
		"DB_POOL_SIZE=4", "CIRCUIT_BREAKER_ENABLED=true", "SLOW_QUERY_THRESHOLD=1ms")

	// Health.
	svc.must(t, 200, "GET", "/livez", nil)
	var ready struct {
		Ready  bool                       `json:"ready"`
		State  string                     `json:"state"`
		Stores map[string]json.RawMessage `json:"stores"`
	}
	svc.must(t, 200, "GET", "/readyz", nil).json(t, &ready)
	if !ready.Ready || ready.State != "up" {
		t.Fatalf("readiness at start: ready=%v state=%q", ready.Ready, ready.State)
	}

	// Create a user and an agent.
	var user struct{ ID string }
	svc.must(t, 201, "POST", "/users", map[string]any{"email": "ada@example.com", "display_name": "Ada"}).json(t, &user)
	var ag agent
	svc.must(t, 201, "POST", "/agents", map[string]any{"owner_id": user.ID, "name": "triage", "kind": "worker",
		"description": "sorts tickets", "config": map[string]any{"model": "small"}}).json(t, &ag)
	if ag.Version != 1 || ag.Name != "triage" {
		t.Fatalf("created agent: %+v", ag)
	}
	// Bad input is a 400 naming the field, not a database error.
	if r := svc.do(t, "POST", "/agents", map[string]any{"owner_id": user.ID, "name": "x", "kind": "robot"}); r.status != 400 || !bytes.Contains(r.body, []byte("kind")) {
		t.Errorf("bad kind: %d %s", r.status, r.body)
	}

	// Read twice: the first read fills the cache, the second is a hit, and
	// Server-Timing says so. The request ID is echoed.
	r1 := svc.do(t, "GET", "/agents/"+ag.ID, nil, "X-Request-ID", "e2e-read-1")
	if r1.status != 200 || r1.header.Get("X-Request-ID") != "e2e-read-1" {
		t.Fatalf("first read: %d, X-Request-ID %q: %s", r1.status, r1.header.Get("X-Request-ID"), r1.body)
	}
	if hits, misses := cacheCounts(t, r1.header); hits != 0 || misses != 1 {
		t.Errorf("first read: %d hits, %d misses; want 0, 1 (Server-Timing %q)", hits, misses, r1.header.Get("Server-Timing"))
	}
	if !strings.Contains(r1.header.Get("Server-Timing"), `db;dur=`) {
		t.Errorf("first read's Server-Timing lacks db: %q", r1.header.Get("Server-Timing"))
	}
	r2 := svc.must(t, 200, "GET", "/agents/"+ag.ID, nil)
	if hits, misses := cacheCounts(t, r2.header); hits != 1 || misses != 0 {
		t.Errorf("second read: %d hits, %d misses; want 1, 0 (Server-Timing %q)", hits, misses, r2.header.Get("Server-Timing"))
	}
	if !strings.Contains(r2.header.Get("Server-Timing"), `desc="0 queries"`) {
		t.Errorf("second read queried the database: %q", r2.header.Get("Server-Timing"))
	}
	t.Logf("Server-Timing of the first read: %s; of the second: %s", r1.header.Get("Server-Timing"), r2.header.Get("Server-Timing"))
	if !bytes.Equal(r1.body, r2.body) {
		t.Errorf("cached read differs:\n%s\n%s", r1.body, r2.body)
	}

	// Update with the version read, then again with the now stale version.
	var upd agent
	svc.must(t, 200, "PATCH", "/agents/"+ag.ID, map[string]any{"version": ag.Version, "description": "sorts and routes tickets"}).json(t, &upd)
	if upd.Version != ag.Version+1 || upd.Description != "sorts and routes tickets" {
		t.Fatalf("updated agent: %+v", upd)
	}
	var cf struct {
		Error          string `json:"error"`
		CurrentVersion int32  `json:"current_version"`
	}
	svc.must(t, 409, "PATCH", "/agents/"+ag.ID, map[string]any{"version": ag.Version, "description": "lost update"}).json(t, &cf)
	if cf.CurrentVersion != upd.Version {
		t.Errorf("409 body says current version %d, want %d", cf.CurrentVersion, upd.Version)
	}
	var after agent
	svc.must(t, 200, "GET", "/agents/"+ag.ID, nil).json(t, &after) // the update invalidated the cached row
	if after.Version != upd.Version || after.Description != upd.Description {
		t.Errorf("read after update: %+v, want version %d %q", after, upd.Version, upd.Description)
	}
	svc.must(t, 404, "PATCH", "/agents/00000000-0000-4000-8000-000000000000", map[string]any{"version": 1})

	// Two clients update from the same version at once: one wins, the
	// other gets 409 (no lost update).
	statuses := make(chan int, 2)
	for _, d := range []string{"client A", "client B"} {
		go func() {
			statuses <- svc.do(t, "PATCH", "/agents/"+ag.ID, map[string]any{"version": upd.Version, "description": d}).status
		}()
	}
	if a, b := <-statuses, <-statuses; a+b != 200+409 {
		t.Errorf("concurrent updates from one version: %d and %d, want 200 and 409", a, b)
	}
	svc.must(t, 200, "GET", "/agents/"+ag.ID, nil).json(t, &after)
	if after.Version != upd.Version+1 || (after.Description != "client A" && after.Description != "client B") {
		t.Errorf("after concurrent updates: %+v", after)
	}

	// Transactional endpoint: a workflow with its steps commits as a whole...
	var wf struct {
		ID    string `json:"id"`
		Steps []struct {
			ID string `json:"id"`
		} `json:"steps"`
	}
	created := svc.must(t, 201, "POST", "/workflows", map[string]any{"owner_id": user.ID, "name": "intake",
		"steps": []map[string]any{{"name": "classify", "agent_id": ag.ID}, {"name": "route", "timeout_ms": 5000}}})
	created.json(t, &wf)
	if len(wf.Steps) != 2 {
		t.Fatalf("workflow created with %d steps, want 2", len(wf.Steps))
	}
	// The response was held back until COMMIT, so Server-Timing covers the
	// whole transaction: BEGIN, three INSERTs, COMMIT.
	var queries int
	if m := regexp.MustCompile(`desc="(\d+) queries"`).FindStringSubmatch(created.header.Get("Server-Timing")); m != nil {
		queries, _ = strconv.Atoi(m[1])
	}
	if queries < 5 {
		t.Errorf("transactional Server-Timing %q: want at least 5 queries", created.header.Get("Server-Timing"))
	}
	t.Logf("Server-Timing of the transactional POST /workflows: %s", created.header.Get("Server-Timing"))
	var got struct {
		Steps []struct {
			StepName  string  `json:"step_name"`
			AgentName *string `json:"agent_name"`
		} `json:"steps"`
	}
	svc.must(t, 200, "GET", "/workflows/"+wf.ID, nil).json(t, &got)
	if len(got.Steps) != 2 || got.Steps[0].AgentName == nil || *got.Steps[0].AgentName != "triage" {
		t.Errorf("workflow read back: %+v", got)
	}
	// ... and a step the database refuses (timeout out of range) after a good
	// one rolls back the workflow and the good step: no partial rows.
	bad := svc.do(t, "POST", "/workflows", map[string]any{"owner_id": user.ID, "name": "half-done",
		"steps": []map[string]any{{"name": "ok", "agent_id": ag.ID}, {"name": "too-fast", "timeout_ms": 0}}})
	if bad.status != 422 || !bytes.Contains(bad.body, []byte("workflow_steps_timeout_range")) {
		t.Errorf("refused step: %d %s, want 422 naming the constraint", bad.status, bad.body)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var workflows, steps int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM workflows WHERE name = 'half-done'),
		(SELECT count(*) FROM workflow_steps WHERE name IN ('ok', 'too-fast'))`).Scan(&workflows, &steps); err != nil {
		t.Fatal(err)
	}
	if workflows != 0 || steps != 0 {
		t.Errorf("rolled-back request left %d workflows and %d steps", workflows, steps)
	}

	// An execution created and started in one transaction.
	var ex struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Version int32  `json:"version"`
	}
	svc.must(t, 201, "POST", "/executions", map[string]any{"agent_id": ag.ID, "start": true, "input": map[string]any{"ticket": 7}}).json(t, &ex)
	if ex.Status != "running" || ex.Version != 2 {
		t.Errorf("execution: %+v, want running at version 2", ex)
	}
	svc.must(t, 200, "GET", "/executions/"+ex.ID, nil)

	// Task status changes reach an SSE client, after the change committed.
	var tk task
	svc.must(t, 201, "POST", "/tasks", map[string]any{"title": "answer ticket 7", "assignee_agent_id": ag.ID}).json(t, &tk)
	one := svc.subscribe(t, "/tasks/"+tk.ID+"/events")
	all := svc.subscribe(t, "/tasks/events")
	var moved task
	svc.must(t, 200, "POST", "/tasks/"+tk.ID+"/transition", map[string]any{"status": "running", "version": tk.Version}).json(t, &moved)
	if moved.Status != "running" || moved.Version != tk.Version+1 {
		t.Errorf("transitioned task: %+v", moved)
	}
	for name, c := range map[string]*sseClient{"one task": one, "all tasks": all} {
		c.waitFor(t, "event: task.status", 10*time.Second)
		data := c.waitFor(t, "data: ", time.Second)
		var ev struct {
			TaskID  string `json:"task_id"`
			From    string `json:"from"`
			To      string `json:"to"`
			Version int32  `json:"version"`
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &ev); err != nil {
			t.Fatalf("%s stream: %q: %v", name, data, err)
		}
		if ev.TaskID != tk.ID || ev.From != "pending" || ev.To != "running" || ev.Version != moved.Version {
			t.Errorf("%s stream: event %+v", name, ev)
		}
	}
	svc.must(t, 409, "POST", "/tasks/"+tk.ID+"/transition", map[string]any{"status": "completed", "version": tk.Version})

	// /metrics has our instruments; the page and its JSON show the methods.
	metrics := string(svc.must(t, 200, "GET", "/metrics", nil).body)
	for _, name := range []string{"datalayer_repo_calls_total", "datalayer_repo_duration_seconds", "datalayer_cache_hits_total",
		"datalayer_cache_misses_total", "datalayer_cache_invalidations_total", "datalayer_pool_connections", "datalayer_breaker_state",
		"db_client_operation_duration_seconds", `method="GetAgent"`} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	page := svc.must(t, 200, "GET", "/debug/datalayer", nil)
	if !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") || !bytes.Contains(page.body, []byte("agentsvc")) {
		t.Errorf("/debug/datalayer: %s, %d bytes", page.header.Get("Content-Type"), len(page.body))
	}
	var snap struct {
		Methods []struct {
			Name string `json:"name"`
			Hits int64  `json:"hits"`
		} `json:"methods"`
		SlowTotal int `json:"slow_total"`
	}
	svc.must(t, 200, "GET", "/debug/datalayer?format=json", nil).json(t, &snap)
	var getAgentHits int64 = -1
	for _, m := range snap.Methods {
		if m.Name == "GetAgent" {
			getAgentHits = m.Hits
		}
	}
	if getAgentHits < 1 {
		t.Errorf("debug page JSON: GetAgent hits %d, want >= 1 (%+v)", getAgentHits, snap.Methods)
	}
	if snap.SlowTotal == 0 {
		t.Errorf("debug page JSON: no slow queries with SLOW_QUERY_THRESHOLD=1ms")
	}

	// Redis stopped: ready but degraded, and the API still answers from
	// PostgreSQL (the cache fails open).
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := redis.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var degraded struct {
		Ready  bool   `json:"ready"`
		State  string `json:"state"`
		Stores map[string]struct {
			State string `json:"state"`
		} `json:"stores"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := svc.do(t, "GET", "/readyz", nil)
		if r.status != 200 {
			t.Fatalf("readiness with Redis stopped: %d %s", r.status, r.body)
		}
		r.json(t, &degraded)
		if degraded.State == "degraded" || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond) // reports are reused for 1s
	}
	if !degraded.Ready || degraded.State != "degraded" || degraded.Stores["redis"].State != "down" || degraded.Stores["postgres"].State != "up" {
		t.Errorf("readiness with Redis stopped: %+v", degraded)
	}
	svc.must(t, 200, "GET", "/agents/"+ag.ID, nil)
	var tk2 task
	svc.must(t, 201, "POST", "/tasks", map[string]any{"title": "while redis is down"}).json(t, &tk2)
	svc.must(t, 200, "POST", "/tasks/"+tk2.ID+"/transition", map[string]any{"status": "queued", "version": 1}) // event lost, change stands
	var queued task
	svc.must(t, 200, "GET", "/tasks/"+tk2.ID, nil).json(t, &queued)
	if queued.Status != "queued" || queued.Version != 2 {
		t.Errorf("task changed while Redis was down: %+v, want queued at version 2", queued)
	}
	if !strings.Contains(svc.logs.String(), "task status event not published (the change stands)") {
		t.Errorf("no log line about the event lost while Redis was down")
	}
	if err := redis.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// Graceful shutdown on SIGTERM, with the event streams still open.
	svc.stop(t)
	logs := svc.logs.String()
	for _, want := range []string{`"msg":"agentsvc: shutting down"`, `"msg":"agentsvc: data layer closed"`, `"msg":"http request"`, `"request_id":"e2e-read-1"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// testPostgresDown: with its PostgreSQL stopped the service stays alive,
// is not ready (503) and answers requests that need the database with 503
// and Retry-After instead of hanging.
func testPostgresDown(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	pg, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	redis := testinfra.PrivateRedis(t)
	svc := start(t, bin, "DATABASE_URL="+pg.DSN(), "REDIS_URL="+redis.URL(), "AUTO_MIGRATE=true",
		"DB_POOL_TIMEOUT=1s", "DB_CONNECT_TIMEOUT=1s", "MAX_RETRY_ATTEMPTS=1")
	svc.must(t, 201, "POST", "/users", map[string]any{"email": "grace@example.com", "display_name": "Grace"})
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	svc.must(t, 200, "GET", "/livez", nil)
	var rep struct {
		Ready  bool `json:"ready"`
		Stores map[string]struct {
			State string `json:"state"`
		} `json:"stores"`
	}
	svc.must(t, 503, "GET", "/readyz", nil).json(t, &rep)
	if rep.Ready || rep.Stores["postgres"].State != "down" {
		t.Errorf("readiness with PostgreSQL down: %+v", rep)
	}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/users", map[string]any{"email": "linus@example.com", "display_name": "Linus"}},
		{"POST", "/workflows", map[string]any{"owner_id": "00000000-0000-4000-8000-000000000000", "name": "w"}},
		{"GET", "/agents/00000000-0000-4000-8000-000000000000", nil},
	} {
		start := time.Now()
		r := svc.do(t, req.method, req.path, req.body)
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s with PostgreSQL down: %d, Retry-After %q: %s", req.method, req.path, r.status, r.header.Get("Retry-After"), r.body)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s %s took %s", req.method, req.path, d)
		}
	}
	svc.stop(t)
}
