package httpmw_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/httpmw"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/resilience"
)

// async sends a request from another goroutine; its result arrives on the
// channel (errors as status -1 with the error in Body).
func async(method, url string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- response{Status: -1, Body: err.Error()}
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		ch <- response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	}()
	return ch
}

func recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// createUser is a transactional handler body creating a user named by the
// request's ?name.
func createUser(r *http.Request) (db.User, error) {
	rp := httpmw.Repo[*db.Repository](r.Context())
	name := r.URL.Query().Get("name")
	return rp.CreateUser(r.Context(), db.CreateUserParams{Email: name + "@example.com", DisplayName: name, Role: db.UserRoleMember})
}

func TestTxCommitsBeforeAnyByteIsSent(t *testing.T) {
	e := newEnv(t, envOptions{})
	reached, release := make(chan struct{}), make(chan struct{})
	srv := e.serve(t, httpmw.Transactional(e.Repo, httpmw.TxConfig{DB: e.Pool}, func(w http.ResponseWriter, r *http.Request) error {
		u, err := createUser(r)
		if err != nil {
			return err
		}
		w.Header().Set("X-User-ID", u.ID.String())
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("created"))
		_ = http.NewResponseController(w).Flush() // must not send anything yet
		close(reached)
		<-release
		return nil
	}))
	name := randName()
	got := async("POST", srv.URL+"/?name="+name)
	recv(t, "the handler", reached)
	select {
	case r := <-got:
		t.Fatalf("the client got a response (%d) before the transaction committed", r.Status)
	case <-time.After(300 * time.Millisecond):
	}
	if n := e.userCount(t, name); n != 0 {
		t.Fatalf("row visible before commit: %d", n)
	}
	close(release)
	r := recv(t, "the response", got)
	if r.Status != http.StatusCreated || r.Body != "created" || r.Header.Get("X-User-ID") == "" {
		t.Fatalf("response %d %q %v, want 201 created with X-User-ID", r.Status, r.Body, r.Header)
	}
	if n := e.userCount(t, name); n != 1 {
		t.Fatalf("after the response: %d rows, want 1 (committed before sending)", n)
	}
	if st := parseTiming(t, r.Header.Get("Server-Timing")); st.queries < 3 {
		t.Errorf("Server-Timing counts %d queries; want BEGIN, INSERT and COMMIT (>= 3)", st.queries)
	}
}

func TestTxFailedCommitIsNeverASuccess(t *testing.T) {
	e := newEnv(t, envOptions{})
	reached, release := make(chan struct{}), make(chan struct{})
	srv := e.serve(t, httpmw.Transactional(e.Repo, httpmw.TxConfig{DB: e.Pool}, func(w http.ResponseWriter, r *http.Request) error {
		if _, err := createUser(r); err != nil {
			return err
		}
		close(reached)
		<-release
		w.WriteHeader(http.StatusOK) // the handler thinks all went well
		return nil
	}))
	name := randName()
	got := async("POST", srv.URL+"/?name="+name)
	recv(t, "the handler", reached)
	// Kill the transaction's connection: COMMIT cannot succeed.
	var killed int
	err := e.Pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the transaction's backend: killed %d, %v", killed, err)
	}
	close(release)
	r := recv(t, "the response", got)
	if r.Status < 500 {
		t.Fatalf("status %d (%s) for a transaction that did not commit; want 5xx", r.Status, r.Body)
	}
	if n := e.userCount(t, name); n != 0 {
		t.Fatalf("%d rows after a failed commit", n)
	}
}

func TestTxRollsBackOnErrorStatusErrorAndPanic(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		name       string
		handler    func(w http.ResponseWriter, r *http.Request) error
		wantStatus int
		wantBody   string
		wantLog    string
	}{
		{"error status", func(w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte("rejected"))
			return nil
		}, 422, "rejected", ""},
		{"server error status", func(w http.ResponseWriter, r *http.Request) error {
			http.Error(w, "oops", http.StatusInternalServerError)
			return nil
		}, 500, "oops\n", ""},
		{"error return", func(w http.ResponseWriter, r *http.Request) error {
			_, _ = w.Write([]byte("partial output that must not be sent"))
			return errors.New("boom")
		}, 500, `"error":"Internal Server Error"`, "http: request failed"},
		{"panic", func(w http.ResponseWriter, r *http.Request) error {
			panic("kaboom")
		}, 500, `"error":"Internal Server Error"`, "httpmw: handler panicked; transaction rolled back"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ran atomic.Int32
			srv := e.serve(t, httpmw.Transactional(e.Repo, httpmw.TxConfig{DB: e.Pool}, func(w http.ResponseWriter, r *http.Request) error {
				ran.Add(1)
				if _, err := createUser(r); err != nil {
					t.Errorf("create: %v", err)
					return err
				}
				return c.handler(w, r)
			}))
			name := randName()
			reqID := "rollback-" + strconv.Itoa(int(time.Now().UnixNano()))
			r := do(t, "POST", srv.URL+"/?name="+name, map[string]string{"X-Request-ID": reqID})
			if r.Status != c.wantStatus || !strings.Contains(r.Body, c.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", r.Status, r.Body, c.wantStatus, c.wantBody)
			}
			if strings.Contains(r.Body, "partial output") {
				t.Errorf("buffered output of a failed handler was sent: %q", r.Body)
			}
			if n := e.userCount(t, name); n != 0 {
				t.Fatalf("%d rows left after %s; want the insert rolled back", n, c.name)
			}
			if ran.Load() != 1 {
				t.Errorf("handler ran %d times, want 1", ran.Load())
			}
			if c.wantLog != "" {
				found := false
				for _, rec := range e.Logs.find(t, c.wantLog) {
					found = found || rec["request_id"] == reqID
				}
				if !found {
					t.Errorf("no %q log line with request_id %q", c.wantLog, reqID)
				}
			}
		})
	}
}

// barrier lets n goroutines continue once all arrived (or fails after a
// bound, so a broken test does not hang).
type barrier struct {
	wg sync.WaitGroup
}

func newBarrier(n int) *barrier { b := &barrier{}; b.wg.Add(n); return b }

func (b *barrier) arrive() error {
	b.wg.Done()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("barrier: the other transaction never arrived")
	}
}

func TestTxRerunsHandlerOnSerializationFailure(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := e.user(t)
	var attempts, retries atomic.Int32
	var retryErr atomic.Value
	both := newBarrier(2)
	cfg := httpmw.TxConfig{DB: e.Pool, Options: postgres.TxOptions{
		TxOptions: pgx.TxOptions{IsoLevel: pgx.Serializable},
		OnRetry: func(_ int, err error) {
			retries.Add(1)
			retryErr.Store(err)
		},
	}}
	srv := e.serve(t, httpmw.Transactional(e.Repo, cfg, func(w http.ResponseWriter, r *http.Request) error {
		n := attempts.Add(1)
		ctx := r.Context()
		rp := httpmw.Repo[*db.Repository](ctx)
		cur, err := rp.GetUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if n <= 2 { // both first attempts read before either writes
			if err := both.arrive(); err != nil {
				return err
			}
		}
		role := db.UserRole(r.URL.Query().Get("role"))
		if _, err := rp.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: role}); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s->%s", cur.Role, role)
		return nil
	}))
	a := async("PUT", srv.URL+"/?role=admin")
	b := async("PUT", srv.URL+"/?role=viewer")
	ra, rb := recv(t, "response a", a), recv(t, "response b", b)
	if ra.Status != 200 || rb.Status != 200 {
		t.Fatalf("statuses %d (%s), %d (%s); want both 200 after a rerun", ra.Status, ra.Body, rb.Status, rb.Body)
	}
	if attempts.Load() != 3 || retries.Load() != 1 {
		t.Fatalf("handler ran %d times with %d retries; want 3 and 1 (one serialization failure)", attempts.Load(), retries.Load())
	}
	if err, _ := retryErr.Load().(error); !postgres.IsSerializationFailure(err) {
		t.Errorf("retry cause %v, want SQLSTATE 40001", err)
	}
	// The rerun saw the other transaction's committed write.
	if !(ra.Body == "member->admin" && rb.Body == "admin->viewer") && !(rb.Body == "member->viewer" && ra.Body == "viewer->admin") {
		t.Errorf("bodies %q and %q: the rerun must start from the other transaction's result", ra.Body, rb.Body)
	}
}

func TestTxInvalidatesAfterCommitOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	u := e.user(t)
	ctx := context.Background()
	warm := func() {
		t.Helper()
		waitFor(t, "a cached GetUser", 5*time.Second, func() bool {
			h := e.Obs.Hits()
			if _, err := e.Repo.GetUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			return e.Obs.Hits() > h
		})
	}
	role := func() db.UserRole {
		t.Helper()
		got, err := e.Repo.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Role
	}
	warm()
	reached, release := make(chan struct{}), make(chan struct{})
	srv := e.serve(t, httpmw.Transactional(e.Repo, httpmw.TxConfig{DB: e.Pool}, func(w http.ResponseWriter, r *http.Request) error {
		rp := httpmw.Repo[*db.Repository](r.Context())
		newRole := db.UserRole(r.URL.Query().Get("role"))
		if _, err := rp.UpdateUserRole(r.Context(), db.UpdateUserRoleParams{ID: u.ID, Role: newRole}); err != nil {
			return err
		}
		if r.URL.Query().Get("reject") != "" {
			w.WriteHeader(http.StatusConflict)
			return nil
		}
		close(reached)
		<-release
		return nil
	}))

	inv := e.Obs.Invalidations.Load()
	got := async("PUT", srv.URL+"/?role=admin")
	recv(t, "the handler", reached)
	if n := e.Obs.Invalidations.Load(); n != inv {
		t.Fatalf("%d invalidations before commit", n-inv)
	}
	if r := role(); r != db.UserRoleMember {
		t.Fatalf("before commit a cached read gives %q, want the old role member", r)
	}
	close(release)
	if r := recv(t, "the response", got); r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	// Applied before the response was sent: the client's next read sees it.
	if n := e.Obs.Invalidations.Load(); n <= inv {
		t.Fatalf("no invalidation after commit")
	}
	if r := role(); r != db.UserRoleAdmin {
		t.Fatalf("after the response a read gives %q, want admin", r)
	}

	// A rolled-back request invalidates nothing.
	warm()
	inv = e.Obs.Invalidations.Load()
	if r := do(t, "PUT", srv.URL+"/?role=viewer&reject=1", nil); r.Status != http.StatusConflict {
		t.Fatalf("status %d, want 409", r.Status)
	}
	if n := e.Obs.Invalidations.Load(); n != inv {
		t.Errorf("%d invalidations for a rolled-back transaction", n-inv)
	}
	if r := role(); r != db.UserRoleAdmin {
		t.Errorf("after rollback the role is %q, want admin", r)
	}
}

func TestBreakerOpenAnswers503WithRetryAfter(t *testing.T) {
	// PostgreSQL is down: nothing listens on this port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newEnv(t, envOptions{
		dsn:      "postgres://nobody@" + addr + "/none?sslmode=disable",
		policies: resilience.Config{BreakerThreshold: 1, RetryAttempts: 1, BreakerDelay: 30 * time.Second, BreakerMinDelay: -1}, // fixed delay: Retry-After must show it
	})
	errs := make(chan error, 2)
	srv := e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := e.Repo.GetUser(r.Context(), [16]byte{1})
		errs <- err
		httpmw.WriteError(w, r, err)
	}))
	first := do(t, "GET", srv.URL, nil)
	if first.Status != http.StatusServiceUnavailable || first.Header.Get("Retry-After") != "1" {
		t.Errorf("database unreachable: %d Retry-After %q, want 503 and 1", first.Status, first.Header.Get("Retry-After"))
	}
	<-errs
	second := do(t, "GET", srv.URL, nil)
	if err := <-errs; !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("second call failed with %v, want the breaker open", err)
	}
	if second.Status != http.StatusServiceUnavailable {
		t.Fatalf("breaker open: status %d, want 503", second.Status)
	}
	ra, err := strconv.Atoi(second.Header.Get("Retry-After"))
	if err != nil || ra < 20 || ra > 30 {
		t.Errorf("breaker open: Retry-After %q, want the breaker's remaining delay (~30s)", second.Header.Get("Retry-After"))
	}
	var body httpmw.ErrorBody
	if err := json.Unmarshal([]byte(second.Body), &body); err != nil || body.RequestID == "" || body.RequestID != second.Header.Get("X-Request-ID") {
		t.Errorf("body %q: want JSON with the request ID", second.Body)
	}
}

func TestPoolExhaustedAnswers503(t *testing.T) {
	e := newEnv(t, envOptions{maxConns: 1})
	held, err := e.Pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	var ran atomic.Bool
	srv := e.serve(t, httpmw.Transactional(e.Repo, httpmw.TxConfig{DB: e.Pool, BeginTimeout: 100 * time.Millisecond},
		func(w http.ResponseWriter, r *http.Request) error { ran.Store(true); return nil }))
	r := do(t, "POST", srv.URL, nil)
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("pool exhausted: %d Retry-After %q (%s), want 503 and 1", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if ran.Load() {
		t.Error("the handler ran without a transaction")
	}
	held.Release()
	if r := do(t, "POST", srv.URL, nil); r.Status != http.StatusOK || !ran.Load() {
		t.Errorf("after the connection was freed: %d, handler ran %v", r.Status, ran.Load())
	}
}

func TestStatusOf(t *testing.T) {
	cases := []struct {
		err    error
		status int
		retry  time.Duration
	}{
		{&resilience.OpenError{Remaining: 7 * time.Second}, 503, 7 * time.Second},
		{&resilience.OpenError{Remaining: time.Millisecond}, 503, time.Second},
		{fmt.Errorf("wrapped: %w", httpmw.ErrPoolExhausted), 503, time.Second},
		{resilience.ErrTimeout, 503, time.Second},
		{postgres.ErrTxAborted, 503, time.Second},
		{context.DeadlineExceeded, 503, time.Second},
		{context.Canceled, httpmw.StatusClientClosed, 0},
		{postgres.TranslateError(pgx.ErrNoRows), 404, 0},
		{postgres.ErrConflict, 409, 0},
		{postgres.ErrForeignKey, 422, 0},
		{errors.New("other"), 500, 0},
	}
	for _, c := range cases {
		s, r := httpmw.StatusOf(c.err)
		if s != c.status || r != c.retry {
			t.Errorf("StatusOf(%v) = %d, %v; want %d, %v", c.err, s, r, c.status, c.retry)
		}
	}
}
