package db_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
)

// env is one test's database: a pool with a tracer, and the generated
// queries over it with error translation.
type env struct {
	DSN    string
	Pool   *pgxpool.Pool
	Q      *db.Queries
	Tracer *postgres.Tracer
}

// newEnv gives the test a fresh database cloned from the schema template.
func newEnv(t testing.TB) *env {
	t.Helper()
	dsn := testinfra.Postgres(t)
	tr := postgres.NewTracer(postgres.TracerConfig{})
	pool := newPool(t, postgres.Config{URL: dsn, Tracer: tr, MaxConns: 4})
	return &env{DSN: dsn, Pool: pool, Q: db.New(postgres.Translate(pool)), Tracer: tr}
}

// newPool opens a pool through postgres.NewPool and closes it at cleanup.
func newPool(t testing.TB, cfg postgres.Config) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.NewPool(ctx, cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// scalar runs an ad-hoc query returning one value, for checks the query
// set does not offer (row counts after cascades, raw column values).
func scalar[T any](t testing.TB, e *env, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := e.Pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func exec(t testing.TB, e *env, sql string, args ...any) {
	t.Helper()
	if _, err := e.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
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

func eq[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// affected checks an :execrows result.
func affected(t testing.TB, what string, n int64, err error, want int64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if n != want {
		t.Errorf("%s affected %d rows, want %d", what, n, want)
	}
}

func wantNotFound(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, postgres.ErrNotFound) {
		t.Fatalf("err = %v, want postgres.ErrNotFound", err)
	}
	if !postgres.IsNotFound(err) {
		t.Errorf("postgres.IsNotFound(%v) = false", err)
	}
}

// wantConstraint checks that err is a translated constraint error of the
// given kind naming the given constraint.
func wantConstraint(t testing.TB, err error, kind error, constraint string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v on %s", kind, constraint)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want errors.Is(%v)", err, kind)
	}
	var ce *postgres.ConstraintError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %T %v, want *postgres.ConstraintError", err, err)
	}
	if ce.Constraint != constraint {
		t.Errorf("constraint = %q, want %q (err: %v)", ce.Constraint, constraint, err)
	}
	if got := postgres.ConstraintName(err); got != constraint {
		t.Errorf("postgres.ConstraintName = %q, want %q", got, constraint)
	}
	if !strings.Contains(err.Error(), constraint) {
		t.Errorf("message %q does not name %s", err.Error(), constraint)
	}
}

// jsonEq compares JSON documents semantically (jsonb reorders keys).
func jsonEq(t testing.TB, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: bad JSON %q: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expected JSON %q: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func ids[T any](rows []T, id func(T) uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// Fixtures. Each returns the created row and fails the test on error.

func mkUser(t testing.TB, e *env, email string) db.User {
	t.Helper()
	return must[db.User](t)(e.Q.CreateUser(context.Background(), db.CreateUserParams{
		Email: email, DisplayName: "User " + email, Role: db.UserRoleMember,
	}))
}

func mkAgent(t testing.TB, e *env, owner uuid.UUID, name string, status db.AgentStatus, config string) db.Agent {
	t.Helper()
	return must[db.Agent](t)(e.Q.CreateAgent(context.Background(), db.CreateAgentParams{
		OwnerID: owner, Name: name, Kind: db.AgentKindWorker, Status: status,
		Description: "agent " + name, Config: json.RawMessage(config),
	}))
}

func mkTool(t testing.TB, e *env, name, category string, enabled bool) db.Tool {
	t.Helper()
	return must[db.Tool](t)(e.Q.UpsertTool(context.Background(), db.UpsertToolParams{
		Name: name, Category: category, Description: "tool " + name,
		InputSchema: json.RawMessage(`{"type":"object"}`), IsEnabled: enabled,
	}))
}

func mkTask(t testing.TB, e *env, p db.CreateTaskParams) db.Task {
	t.Helper()
	if p.Metadata == nil {
		p.Metadata = json.RawMessage(`{}`)
	}
	return must[db.Task](t)(e.Q.CreateTask(context.Background(), p))
}

func mkWorkflow(t testing.TB, e *env, owner uuid.UUID, name string) db.Workflow {
	t.Helper()
	return must[db.Workflow](t)(e.Q.CreateWorkflow(context.Background(), db.CreateWorkflowParams{
		OwnerID: owner, Name: name, Description: "wf " + name, Definition: json.RawMessage(`{}`),
	}))
}

func mkAgentExecution(t testing.TB, e *env, agent uuid.UUID) db.Execution {
	t.Helper()
	return must[db.Execution](t)(e.Q.CreateExecution(context.Background(), db.CreateExecutionParams{
		SubjectKind: db.ExecutionSubjectAgent, AgentID: &agent, Input: json.RawMessage(`{}`),
	}))
}

// uuidLess orders ids as PostgreSQL does (bytewise).
func uuidLess(a, b uuid.UUID) bool { return bytes.Compare(a[:], b[:]) < 0 }

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
