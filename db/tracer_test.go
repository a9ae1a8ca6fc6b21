package db_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
)

// logSink collects slog JSON records; pool goroutines may write to it.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *logSink) records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// byQuery returns the slow-query records of one query name.
func byQuery(recs []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["query"] == name {
			out = append(out, r)
		}
	}
	return out
}

// tracedEnv is a fresh database with a pool whose tracer logs through sink.
func tracedEnv(t *testing.T, cfg postgres.TracerConfig) (*env, *logSink) {
	t.Helper()
	sink := &logSink{}
	cfg.Logger = slogJSON(sink)
	tr := postgres.NewTracer(cfg)
	dsn := testinfra.Postgres(t)
	pool := newPool(t, postgres.Config{URL: dsn, Tracer: tr})
	return &env{DSN: dsn, Pool: pool, Q: db.New(postgres.Translate(pool)), Tracer: tr}, sink
}

const secretEmail = "s3cr3t-person@example.com"

func TestTracerSlowQueryLog(t *testing.T) {
	t.Parallel()
	e, sink := tracedEnv(t, postgres.TracerConfig{SlowThreshold: time.Nanosecond})
	ctx := context.Background()
	q := e.Q
	u := must[db.User](t)(q.CreateUser(ctx, db.CreateUserParams{Email: secretEmail, DisplayName: "Secret Person", Role: db.UserRoleMember}))
	must[db.User](t)(q.GetUser(ctx, u.ID))
	_, err := q.GetUser(ctx, uuid.New())
	wantNotFound(t, err)
	_, err = q.CreateUser(ctx, db.CreateUserParams{Email: secretEmail, DisplayName: "Again", Role: db.UserRoleMember})
	wantConstraint(t, err, postgres.ErrConflict, "users_email_key")
	agent := mkAgent(t, e, u.ID, "a", db.AgentStatusActive, `{}`)
	t1 := mkTask(t, e, db.CreateTaskParams{Title: "t1", Priority: 1, AssigneeAgentID: &agent.ID})
	t2 := mkTask(t, e, db.CreateTaskParams{Title: "t2", Priority: 1, AssigneeAgentID: &agent.ID})
	q.BumpTaskPriority(ctx, []uuid.UUID{t1.ID, t2.ID, uuid.New()}).Exec(func(i int, err error) { noErr(t, err) })
	ex := mkAgentExecution(t, e, agent.ID)
	evs := make([]db.InsertExecutionEventsParams, 25)
	for i := range evs {
		evs[i] = db.InsertExecutionEventsParams{ExecutionID: ex.ID, Seq: int32(i), Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(`{}`), CreatedAt: time.Now()}
	}
	eq(t, "copied", must[int64](t)(q.InsertExecutionEvents(ctx, evs)), int64(25))
	var one int
	noErr(t, e.Pool.QueryRow(ctx, "select 1").Scan(&one))

	recs := sink.records(t)
	if len(recs) == 0 {
		t.Fatal("no slow-query records with a 1ns threshold")
	}
	for _, r := range recs {
		eq(t, "msg", r["msg"], any("postgres: slow query"))
		eq(t, "level", r["level"], any("WARN"))
		for _, k := range []string{"query", "duration", "rows"} {
			if _, ok := r[k]; !ok {
				t.Errorf("record lacks %q: %v", k, r)
			}
		}
		if d, _ := r["duration"].(float64); d <= 0 {
			t.Errorf("duration %v not positive: %v", r["duration"], r)
		}
		if _, ok := r["args"]; ok {
			t.Errorf("arguments logged without LogArgs: %v", r)
		}
	}
	if strings.Contains(sink.String(), "s3cr3t") {
		t.Errorf("an argument value reached the log:\n%s", sink.String())
	}

	// rows: number of rows returned or affected by that call.
	eq(t, "CreateUser records", len(byQuery(recs, "CreateUser")), 2)
	eq(t, "CreateUser rows", byQuery(recs, "CreateUser")[0]["rows"], any(float64(1)))
	if _, ok := byQuery(recs, "CreateUser")[1]["error"]; !ok {
		t.Errorf("failed CreateUser record lacks error: %v", byQuery(recs, "CreateUser")[1])
	}
	gets := byQuery(recs, "GetUser")
	eq(t, "GetUser records", len(gets), 2)
	eq(t, "GetUser rows", []any{gets[0]["rows"], gets[1]["rows"]}, []any{float64(1), float64(0)})
	bumps := byQuery(recs, "BumpTaskPriority")
	eq(t, "batch records", len(bumps), 3)
	eq(t, "batch rows", []any{bumps[0]["rows"], bumps[1]["rows"], bumps[2]["rows"]}, []any{float64(1), float64(1), float64(0)})
	copies := byQuery(recs, `COPY "execution_events"`)
	eq(t, "copy records", len(copies), 1)
	if len(copies) == 1 {
		eq(t, "copy rows", copies[0]["rows"], any(float64(25)))
	}
	eq(t, "ad-hoc query named by keyword", len(byQuery(recs, "SELECT")), 1)
}

func TestTracerLogArgs(t *testing.T) {
	t.Parallel()
	e, sink := tracedEnv(t, postgres.TracerConfig{SlowThreshold: time.Nanosecond, LogArgs: true})
	must[db.User](t)(e.Q.CreateUser(context.Background(), db.CreateUserParams{Email: secretEmail, DisplayName: "Secret Person", Role: db.UserRoleMember}))
	recs := byQuery(sink.records(t), "CreateUser")
	if len(recs) != 1 {
		t.Fatalf("CreateUser records = %v", recs)
	}
	args, ok := recs[0]["args"].([]any)
	if !ok || len(args) != 3 || args[0] != secretEmail {
		t.Errorf("args = %#v, want the three arguments with LogArgs", recs[0]["args"])
	}
}

func TestTracerThresholdAndStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("threshold", func(t *testing.T) {
		for _, th := range []time.Duration{time.Hour, -1} {
			e, sink := tracedEnv(t, postgres.TracerConfig{SlowThreshold: th})
			mkUser(t, e, "x@example.com")
			if s := sink.String(); s != "" {
				t.Errorf("threshold %v logged:\n%s", th, s)
			}
			st, ok := e.Tracer.Query("CreateUser")
			if !ok || st.Count != 1 {
				t.Errorf("threshold %v: stats %+v, %v; want them kept", th, st, ok)
			}
		}
	})

	t.Run("counts and histograms", func(t *testing.T) {
		e, _ := tracedEnv(t, postgres.TracerConfig{})
		u := mkUser(t, e, "u@example.com")
		for range 9 {
			must[db.User](t)(e.Q.GetUser(ctx, u.ID))
		}
		_, err := e.Q.GetUser(ctx, uuid.New())
		wantNotFound(t, err)
		_, err = e.Q.CreateUser(ctx, db.CreateUserParams{Email: "u@example.com", DisplayName: "dup", Role: db.UserRoleMember})
		wantConstraint(t, err, postgres.ErrConflict, "users_email_key")

		st, ok := e.Tracer.Query("GetUser")
		if !ok {
			t.Fatalf("no stats for GetUser in %+v", e.Tracer.Stats())
		}
		eq(t, "GetUser count", st.Count, int64(10))
		eq(t, "GetUser errors (not found is no error)", st.Errors, int64(0))
		eq(t, "GetUser rows", st.Rows, int64(9))
		eq(t, "default bounds", len(st.Bounds), 13)
		eq(t, "buckets", len(st.Buckets), 14)
		var sum int64
		for _, c := range st.Buckets {
			sum += c
		}
		eq(t, "bucket total", sum, st.Count)
		if st.Total <= 0 || st.Max <= 0 || st.Mean() <= 0 || st.Mean() > st.Max {
			t.Errorf("durations: total %v max %v mean %v", st.Total, st.Max, st.Mean())
		}
		if p := st.Quantile(0.5); p <= 0 || p > st.Max {
			t.Errorf("p50 = %v, max %v", p, st.Max)
		}
		if p := st.Quantile(1); p != st.Max && p < st.Quantile(0.5) {
			t.Errorf("p100 = %v < p50", p)
		}
		cu, _ := e.Tracer.Query("CreateUser")
		eq(t, "CreateUser count", cu.Count, int64(2))
		eq(t, "CreateUser errors", cu.Errors, int64(1))

		names := map[string]bool{}
		for _, s := range e.Tracer.Stats() {
			names[s.Name] = true
		}
		if !names["GetUser"] || !names["CreateUser"] {
			t.Errorf("Stats names = %v", names)
		}
		e.Tracer.Reset()
		eq(t, "stats after Reset", len(e.Tracer.Stats()), 0)

		ps := postgres.Stats(e.Pool)
		if ps.AcquireCount < 12 || ps.TotalConns < 1 || ps.MaxConns != 10 {
			t.Errorf("pool stats = %+v", ps)
		}
	})

	t.Run("custom buckets", func(t *testing.T) {
		// Bounds are sorted; every call lands below an hour.
		e, _ := tracedEnv(t, postgres.TracerConfig{Buckets: []time.Duration{time.Hour, time.Nanosecond}})
		mkUser(t, e, "b@example.com")
		st, _ := e.Tracer.Query("CreateUser")
		eq(t, "bounds", st.Bounds, []time.Duration{time.Nanosecond, time.Hour})
		eq(t, "buckets", st.Buckets, []int64{0, 1, 0})
	})
}

func TestQueryName(t *testing.T) {
	for sql, want := range map[string]string{
		"-- name: GetAgent :one\nSELECT 1":       "GetAgent",
		"  -- name: BumpTaskPriority :batchexec": "BumpTaskPriority",
		"select * from agents":                   "SELECT",
		"-- a comment\n  update agents set x=1":  "UPDATE",
		"with x as (select 1) select * from x":   "WITH",
		"":                                       "EMPTY",
	} {
		eq(t, "QueryName("+sql+")", postgres.QueryName(sql), want)
	}
}

// PostgreSQL quotes rejected input in its error messages (22P02 and
// friends: `invalid input value for enum user_role: "..."`), so logging
// err.Error() of a failed query would log the argument even without
// LogArgs.
func TestTracerErrorsDoNotLeakArgs(t *testing.T) {
	t.Parallel()
	e, sink := tracedEnv(t, postgres.TracerConfig{SlowThreshold: time.Nanosecond})
	_, err := e.Q.CreateUser(context.Background(), db.CreateUserParams{Email: "x@example.com", DisplayName: "X", Role: db.UserRole("s3cr3t-role")})
	if err == nil {
		t.Fatal("CreateUser with an invalid enum value succeeded")
	}
	recs := byQuery(sink.records(t), "CreateUser")
	if len(recs) != 1 {
		t.Fatalf("CreateUser records = %v", recs)
	}
	if _, ok := recs[0]["error"]; !ok {
		t.Errorf("failed query logged without an error attribute: %v", recs[0])
	}
	if strings.Contains(sink.String(), "s3cr3t") {
		t.Errorf("argument value reached the log through the error text:\n%s", sink.String())
	}
}
