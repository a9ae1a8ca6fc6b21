package httpmw_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/httpmw"
	"github.com/agentical/datalayer/reqctx"
)

// getUser is a handler reading one user through the repository.
func (e *env) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	u, err := e.Repo.GetUser(r.Context(), id)
	if err != nil {
		httpmw.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(u)
}

func TestRequestIDReachesSlowQueryLogAndResponse(t *testing.T) {
	e := newEnv(t, envOptions{slow: time.Nanosecond}) // every query is "slow"
	u := e.user(t)
	srv := e.serve(t, http.HandlerFunc(e.getUser))

	const id = "req-7f3a:trace/42"
	resp := do(t, "GET", srv.URL+"/?id="+u.ID.String(), map[string]string{"X-Request-ID": id})
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	if got := resp.Header.Get("X-Request-ID"); got != id {
		t.Errorf("response X-Request-ID = %q, want %q", got, id)
	}
	var slow []map[string]any
	for _, r := range e.Logs.find(t, "postgres: slow query") {
		if r["query"] == "GetUser" {
			slow = append(slow, r)
		}
	}
	if len(slow) != 1 {
		t.Fatalf("want 1 slow-query record for GetUser, got %d: %v", len(slow), e.Logs.records(t))
	}
	if slow[0]["request_id"] != id {
		t.Errorf("slow-query record request_id = %v, want %q", slow[0]["request_id"], id)
	}
	// LogHandler does not add a second request_id to records that have one.
	for _, line := range strings.Split(e.Logs.String(), "\n") {
		if n := strings.Count(line, `"request_id"`); n > 1 {
			t.Errorf("log line with %d request_id keys: %s", n, line)
		}
	}
	// The tracer keeps it for the debug page too.
	qs, _ := e.Tracer.SlowQueries()
	if len(qs) == 0 || qs[0].RequestID != id {
		t.Errorf("Tracer.SlowQueries()[0] = %+v, want request ID %q", qs, id)
	}
	access := e.Logs.find(t, "http request")
	if len(access) != 1 || access[0]["request_id"] != id || access[0]["status"] != float64(200) {
		t.Errorf("access log = %v, want one line with request_id %q, status 200", access, id)
	}
}

func TestRequestIDRejectsBadInput(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	h := httpmw.New(httpmw.Config{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, reqctx.RequestID(r.Context()))
		mu.Unlock()
	}))
	srv := newPlainServer(t, h)
	for _, bad := range []string{"", "has space", "new\\nline", "<script>", strings.Repeat("a", 129), "ünicode"} {
		resp := do(t, "GET", srv, map[string]string{"X-Request-ID": bad})
		got := resp.Header.Get("X-Request-ID")
		if got == bad || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
			t.Errorf("X-Request-ID %q: response has %q, want a generated 32-hex ID", bad, got)
		}
		mu.Lock()
		last := seen[len(seen)-1]
		mu.Unlock()
		if last != got {
			t.Errorf("context request ID %q != response header %q", last, got)
		}
	}
	ok := strings.Repeat("b", 128)
	if got := do(t, "GET", srv, map[string]string{"X-Request-ID": ok}).Header.Get("X-Request-ID"); got != ok {
		t.Errorf("128-byte valid ID replaced by %q", got)
	}
}

var timingRe = regexp.MustCompile(`^db;dur=([0-9.]+);desc="(\d+) queries", cache;desc="(\d+) hits, (\d+) misses", total;dur=([0-9.]+)$`)

type timing struct {
	dbMs                  float64
	queries, hits, misses int
	totalMs               float64
}

func parseTiming(t testing.TB, h string) timing {
	t.Helper()
	m := timingRe.FindStringSubmatch(h)
	if m == nil {
		t.Fatalf("Server-Timing %q does not have the expected form", h)
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	atof := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	return timing{atof(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4]), atof(m[5])}
}

func (e *env) totalQueries() int64 {
	var n int64
	for _, s := range e.Tracer.Stats() {
		n += s.Count
	}
	return n
}

func TestServerTimingMatchesQueriesAndCacheHits(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := e.user(t)
	// A handler with two reads of the same user and one uncached query.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if _, err := e.Repo.GetUser(ctx, u.ID); err != nil {
			httpmw.WriteError(w, r, err)
			return
		}
		if _, err := e.Repo.ListUsers(ctx, listAll()); err != nil {
			httpmw.WriteError(w, r, err)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	srv := e.serve(t, h)

	before := e.totalQueries()
	first := do(t, "GET", srv.URL, nil)
	st := parseTiming(t, first.Header.Get("Server-Timing"))
	if ran := e.totalQueries() - before; int64(st.queries) != ran || ran != 2 {
		t.Errorf("first request: Server-Timing says %d queries, the tracer counted %d (want 2: GetUser miss + ListUsers)", st.queries, ran)
	}
	if st.hits != 0 || st.misses != 1 {
		t.Errorf("first request: %d hits, %d misses; want 0, 1", st.hits, st.misses)
	}
	if st.dbMs <= 0 || st.dbMs > st.totalMs {
		t.Errorf("first request: db %.3fms, total %.3fms: want 0 < db <= total", st.dbMs, st.totalMs)
	}
	// The fill runs in the background: repeat until the read is a hit.
	var second timing
	waitFor(t, "a cache hit", 5*time.Second, func() bool {
		before := e.totalQueries()
		second = parseTiming(t, do(t, "GET", srv.URL, nil).Header.Get("Server-Timing"))
		if ran := e.totalQueries() - before; int64(second.queries) != ran {
			t.Fatalf("Server-Timing says %d queries, the tracer counted %d", second.queries, ran)
		}
		return second.hits == 1
	})
	if second.misses != 0 || second.queries != 1 {
		t.Errorf("cached request: %d misses, %d queries; want 0 misses and 1 query (ListUsers is not cached)", second.misses, second.queries)
	}
	access := e.Logs.find(t, "http request")
	last := access[len(access)-1]
	if last["cache_hits"] != float64(1) || last["queries"] != float64(1) {
		t.Errorf("access log line %v: want cache_hits 1, queries 1", last)
	}
}

func newPlainServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func listAll() db.ListUsersParams {
	return db.ListUsersParams{AfterCreatedAt: time.Unix(0, 0), PageSize: 10}
}
