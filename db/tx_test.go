package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/db"
)

// writeSkew runs the classic write-skew race under SERIALIZABLE: "a parent
// task gets at most one subtask". The InTx function reads the subtasks; on
// its first attempt it then lets a rival transaction read, insert and
// commit, and only then inserts itself. PostgreSQL must abort the first
// attempt (40001); a retry sees the rival's subtask and inserts nothing.
func writeSkew(t *testing.T, e *env, opts postgres.TxOptions) (attempts int, retried []int, subtasks []db.Task, err error) {
	t.Helper()
	ctx := context.Background()
	parent := mkTask(t, e, db.CreateTaskParams{Title: "parent", Priority: 1})
	addIfNone := func(q *db.Queries, title string) error {
		subs, err := q.ListSubtasks(ctx, &parent.ID)
		if err != nil || len(subs) > 0 {
			return err
		}
		_, err = q.CreateTask(ctx, db.CreateTaskParams{Title: title, Priority: 1, ParentTaskID: &parent.ID, Metadata: json.RawMessage(`{}`)})
		return err
	}

	firstRead := make(chan struct{})
	rivalDone := make(chan error, 1)
	go func() {
		<-firstRead
		rivalDone <- pgx.BeginTxFunc(ctx, e.Pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
			return addIfNone(e.Q.WithTx(tx), "rival")
		})
	}()

	opts.IsoLevel = pgx.Serializable
	opts.OnRetry = func(attempt int, err error) {
		if !postgres.IsSerializationFailure(err) {
			t.Errorf("OnRetry(%d) with a non-serialization error: %v", attempt, err)
		}
		retried = append(retried, attempt)
	}
	err = postgres.InTx(ctx, e.Pool, opts, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		q := e.Q.WithTx(tx)
		subs, err := q.ListSubtasks(ctx, &parent.ID)
		if err != nil {
			return err
		}
		if attempts == 1 {
			close(firstRead)
			if err := <-rivalDone; err != nil {
				return fmt.Errorf("rival transaction: %w", err)
			}
		}
		if len(subs) > 0 {
			return nil
		}
		_, err = q.CreateTask(ctx, db.CreateTaskParams{Title: fmt.Sprintf("attempt %d", attempts), Priority: 1, ParentTaskID: &parent.ID, Metadata: json.RawMessage(`{}`)})
		return err
	})
	if attempts == 0 {
		t.Fatal("InTx never ran the function")
	}
	subtasks = must[[]db.Task](t)(e.Q.ListSubtasks(ctx, &parent.ID))
	return attempts, retried, subtasks, err
}

func TestInTxRetriesSerializationFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	attempts, retried, subs, err := writeSkew(t, e, postgres.TxOptions{})
	noErr(t, err)
	eq(t, "attempts", attempts, 2)
	eq(t, "OnRetry calls", retried, []int{1})
	if len(subs) != 1 || subs[0].Title != "rival" {
		t.Fatalf("subtasks = %+v, want only the rival's", subs)
	}
}

func TestInTxGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	attempts, retried, subs, err := writeSkew(t, e, postgres.TxOptions{MaxAttempts: 1})
	if !errors.Is(err, postgres.ErrTxAborted) {
		t.Fatalf("err = %v, want postgres.ErrTxAborted", err)
	}
	if !postgres.IsSerializationFailure(err) {
		t.Errorf("the 40001 is not reachable through %v", err)
	}
	eq(t, "attempts", attempts, 1)
	eq(t, "OnRetry calls", len(retried), 0)
	eq(t, "subtasks", len(subs), 1)
}

func TestInTxConflictIsNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	mkUser(t, e, "taken@example.com")
	attempts := 0
	err := postgres.InTx(ctx, e.Pool, postgres.TxOptions{
		TxOptions: pgx.TxOptions{IsoLevel: pgx.Serializable},
		OnRetry:   func(a int, err error) { t.Errorf("OnRetry(%d, %v) on a unique violation", a, err) },
	}, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		q := e.Q.WithTx(tx)
		if _, err := q.CreateUser(ctx, db.CreateUserParams{Email: "new@example.com", DisplayName: "New", Role: db.UserRoleMember}); err != nil {
			return err
		}
		_, err := q.CreateUser(ctx, db.CreateUserParams{Email: "TAKEN@example.com", DisplayName: "Dup", Role: db.UserRoleMember})
		// WithTx runs on the raw pgx.Tx; the helpers still classify its errors.
		if !postgres.IsConflict(err) || postgres.ConstraintName(err) != "users_email_key" {
			t.Errorf("inside the transaction: IsConflict %v, ConstraintName %q", postgres.IsConflict(err), postgres.ConstraintName(err))
		}
		return err
	})
	eq(t, "attempts", attempts, 1)
	wantConstraint(t, err, postgres.ErrConflict, "users_email_key")
	_, err = e.Q.GetUserByEmail(ctx, "new@example.com")
	wantNotFound(t, err) // rolled back with the failing statement's transaction
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	boom := errors.New("boom")
	var id uuid.UUID
	err := postgres.InTx(ctx, e.Pool, postgres.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		q := e.Q.WithTx(tx)
		u, err := q.CreateUser(ctx, db.CreateUserParams{Email: "ghost@example.com", DisplayName: "Ghost", Role: db.UserRoleMember})
		if err != nil {
			return err
		}
		id = u.ID
		// Visible inside the transaction...
		if _, err := q.GetUser(ctx, id); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the function's error", err)
	}
	// ...and gone after it.
	_, err = e.Q.GetUser(ctx, id)
	wantNotFound(t, err)
	eq(t, "users", scalar[int64](t, e, `SELECT count(*) FROM users`), int64(0))

	// The same function without the error commits.
	err = postgres.InTx(ctx, e.Pool, postgres.TxOptions{}, func(ctx context.Context, tx pgx.Tx) error {
		_, err := e.Q.WithTx(tx).CreateUser(ctx, db.CreateUserParams{Email: "real@example.com", DisplayName: "Real", Role: db.UserRoleMember})
		return err
	})
	noErr(t, err)
	must[db.User](t)(e.Q.GetUserByEmail(ctx, "real@example.com"))
}

// Deadlocks (40P01) are retried like serialization failures; the function's
// own writes of failed attempts are rolled back each time.
func TestInTxRetriesDeadlockErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	attempts := 0
	var retried []int
	err := postgres.InTx(ctx, e.Pool, postgres.TxOptions{BaseDelay: time.Millisecond, OnRetry: func(a int, err error) { retried = append(retried, a) }},
		func(ctx context.Context, tx pgx.Tx) error {
			attempts++
			if _, err := e.Q.WithTx(tx).CreateUser(ctx, db.CreateUserParams{Email: fmt.Sprintf("try%d@example.com", attempts), DisplayName: "T", Role: db.UserRoleMember}); err != nil {
				return err
			}
			if attempts < 3 {
				return fmt.Errorf("step: %w", &pgconn.PgError{Code: "40P01", Message: "deadlock detected"})
			}
			return nil
		})
	noErr(t, err)
	eq(t, "attempts", attempts, 3)
	eq(t, "OnRetry", retried, []int{1, 2})
	eq(t, "users (only the last attempt's)", scalar[int64](t, e, `SELECT count(*) FROM users`), int64(1))
	must[db.User](t)(e.Q.GetUserByEmail(ctx, "try3@example.com"))
}

func TestInTxBackoffHonoursContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attempts := 0
	err := postgres.InTx(ctx, e.Pool, postgres.TxOptions{BaseDelay: time.Hour, MaxDelay: time.Hour, OnRetry: func(int, error) { cancel() }},
		func(ctx context.Context, tx pgx.Tx) error {
			attempts++
			return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !postgres.IsSerializationFailure(err) {
		t.Errorf("the last database error is not kept: %v", err)
	}
	eq(t, "attempts", attempts, 1)
}
