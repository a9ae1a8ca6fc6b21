package repo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/agentical/datalayer/postgres"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/resilience"
)

func TestInvalidationAfterCommit(t *testing.T) {
	ctx := context.Background()
	t.Run("WithTx", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		// A second process on the same Redis prefix with a cold in-process
		// tier: it must get the committed value from Redis, not the
		// transaction's.
		other := newEnv(t, envOptions{dsn: e.DSN, redis: &e.Redis})
		a := e.agent(t, e.user(t).ID)
		get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
		warm(t, e, "GetAgent", get)

		tx := must[pgx.Tx](t)(e.Pool.Begin(ctx))
		defer tx.Rollback(ctx)
		txr, pending := e.Repo.WithTx(tx)
		n, err := txr.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusActive, ID: a.ID, Version: a.Version})
		affected(t, "UpdateAgentStatus in tx", n, err, 1)
		if pending.Pending() != 1 {
			t.Errorf("Pending = %d, want 1", pending.Pending())
		}
		// The transaction reads its own write, from the database.
		if got := must[db.Agent](t)(oneQuery(t, e, "GetAgent", func() (db.Agent, error) { return txr.GetAgent(ctx, a.ID) })); got.Status != db.AgentStatusActive {
			t.Errorf("in-tx read = %s, want its own write (active)", got.Status)
		}
		// Everybody else still gets the committed value, from the cache.
		if got := must[db.Agent](t)(noQuery(t, e, "GetAgent", get)); got.Status != db.AgentStatusDraft {
			t.Errorf("outside read during tx = %s, want draft", got.Status)
		}
		if got := must[db.Agent](t)(noQuery(t, other, "GetAgent", func() (db.Agent, error) { return other.Repo.GetAgent(ctx, a.ID) })); got.Status != db.AgentStatusDraft {
			t.Errorf("other process during tx = %s, want draft", got.Status)
		}
		if got := must[db.Agent](t)(e.Raw.GetAgent(ctx, a.ID)); got.Status != db.AgentStatusDraft {
			t.Errorf("database outside tx = %s, want draft", got.Status)
		}

		noErr(t, tx.Commit(ctx))
		noErr(t, pending.Committed(ctx))
		if pending.Pending() != 0 {
			t.Errorf("Pending after Committed = %d", pending.Pending())
		}
		if got := must[db.Agent](t)(oneQuery(t, e, "GetAgent", get)); got.Status != db.AgentStatusActive {
			t.Errorf("read right after commit = %s, want active", got.Status)
		}
		// Committed applies once.
		inv := e.Obs.Invalidations.Load()
		noErr(t, pending.Committed(ctx))
		if got := e.Obs.Invalidations.Load(); got != inv {
			t.Errorf("second Committed sent %d invalidations, want 0", got-inv)
		}
	})

	t.Run("InTx", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		owner := e.user(t).ID
		a := e.agent(t, owner)
		task := e.task(t, &a.ID, nil)
		get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
		counts := func() ([]db.CountTasksByStatusPerAgentRow, error) {
			return e.Repo.CountTasksByStatusPerAgent(ctx, owner)
		}
		warm(t, e, "GetAgent", get)
		warm(t, e, "CountTasksByStatusPerAgent", counts)

		err := e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
			n, err := r.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusActive, ID: a.ID, Version: a.Version})
			if err != nil || n != 1 {
				return errors.Join(err, errors.New("agent not updated"))
			}
			n, err = r.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{Status: db.TaskStatusRunning, ID: task.ID, Version: task.Version})
			if err != nil || n != 1 {
				return errors.Join(err, errors.New("task not updated"))
			}
			// Nested InTx joins the transaction.
			if err := r.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r2 *db.Repository) error {
				if r2 != r {
					t.Error("nested InTx did not join the transaction")
				}
				return nil
			}); err != nil {
				return err
			}
			if got := must[db.Agent](t)(noQuery(t, e, "GetAgent", get)); got.Status != db.AgentStatusDraft {
				t.Errorf("outside read during InTx = %s, want draft", got.Status)
			}
			if got := must[[]db.CountTasksByStatusPerAgentRow](t)(noQuery(t, e, "CountTasksByStatusPerAgent", counts)); got[0].Status != db.TaskStatusPending {
				t.Errorf("outside aggregate during InTx = %s, want pending", got[0].Status)
			}
			return nil
		})
		noErr(t, err)
		if got := must[db.Agent](t)(oneQuery(t, e, "GetAgent", get)); got.Status != db.AgentStatusActive {
			t.Errorf("read right after InTx = %s, want active", got.Status)
		}
		if got := must[[]db.CountTasksByStatusPerAgentRow](t)(oneQuery(t, e, "CountTasksByStatusPerAgent", counts)); got[0].Status != db.TaskStatusRunning {
			t.Errorf("aggregate right after InTx = %+v, want running", got)
		}
	})
}

func TestRollbackDropsInvalidations(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	a := e.agent(t, e.user(t).ID)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	warm(t, e, "GetAgent", get)
	invalidations := e.Obs.Invalidations.Load()

	t.Run("WithTx", func(t *testing.T) {
		tx := must[pgx.Tx](t)(e.Pool.Begin(ctx))
		txr, pending := e.Repo.WithTx(tx)
		n, err := txr.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusActive, ID: a.ID, Version: a.Version})
		affected(t, "UpdateAgentStatus in tx", n, err, 1)
		if _, err := txr.DeleteAgent(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if pending.Pending() != 2 {
			t.Errorf("Pending = %d, want 2", pending.Pending())
		}
		noErr(t, tx.Rollback(ctx))
		// The dropped Tx is never applied: the value is still cached.
		if got := must[db.Agent](t)(noQuery(t, e, "GetAgent", get)); got.Status != db.AgentStatusDraft {
			t.Errorf("after rollback = %s, want draft", got.Status)
		}
	})
	t.Run("InTx", func(t *testing.T) {
		boom := errors.New("boom")
		err := e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
			n, err := r.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: a.Version})
			affected(t, "UpdateAgentStatus in tx", n, err, 1)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if got := must[db.Agent](t)(noQuery(t, e, "GetAgent", get)); got.Status != db.AgentStatusDraft || got.Version != a.Version {
			t.Errorf("after rolled-back InTx = %s v%d, want draft v%d", got.Status, got.Version, a.Version)
		}
	})
	if got := e.Obs.Invalidations.Load(); got != invalidations {
		t.Errorf("rollbacks sent %d invalidations, want 0", got-invalidations)
	}
}

// TestInTxRetriesSerializationFailure forces a real 40001: the first attempt
// reads under REPEATABLE READ, a concurrent autocommit write changes the row,
// and the attempt's UPDATE of that row fails. InTx runs fn again; only the
// successful attempt's invalidations are applied, after its commit.
func TestInTxRetriesSerializationFailure(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	owner := e.user(t).ID
	a, b := e.agent(t, owner), e.agent(t, owner)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	getB := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, b.ID) }
	warm(t, e, "GetAgent", get)
	warm(t, e, "GetAgent", getB)

	attempts := 0
	var retried []error
	opts := postgres.TxOptions{
		TxOptions: pgx.TxOptions{IsoLevel: pgx.RepeatableRead},
		OnRetry:   func(_ int, err error) { retried = append(retried, err) },
	}
	err := e.Repo.InTx(ctx, opts, func(ctx context.Context, r *db.Repository) error {
		attempts++
		cur, err := r.GetAgent(ctx, a.ID) // takes the snapshot
		if err != nil {
			return err
		}
		if attempts == 1 {
			// A write only the failed attempt makes: its invalidation must
			// be dropped with the attempt.
			n, err := r.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusRetired, ID: b.ID, Version: b.Version})
			if err != nil || n != 1 {
				return errors.Join(err, errors.New("b not updated"))
			}
			// A concurrent writer commits after our snapshot.
			e.setAgentStatus(t, a.ID, db.AgentStatusPaused)
		}
		n, err := r.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusActive, ID: a.ID, Version: cur.Version})
		if err != nil {
			return err
		}
		if n != 1 {
			return errors.New("not updated")
		}
		return nil
	})
	noErr(t, err)
	if attempts != 2 || len(retried) != 1 {
		t.Fatalf("attempts = %d, retries = %d, want 2 and 1", attempts, len(retried))
	}
	if !resilience.IsConflict(retried[0]) {
		t.Errorf("retried on %v, want a serialization failure (40001)", retried[0])
	}
	got := must[db.Agent](t)(oneQuery(t, e, "GetAgent", get))
	if got.Status != db.AgentStatusActive || got.Version != a.Version+2 {
		t.Errorf("after retried InTx = %s v%d, want active v%d", got.Status, got.Version, a.Version+2)
	}
	if got := must[db.Agent](t)(noQuery(t, e, "GetAgent", getB)); got.Status != db.AgentStatusDraft {
		t.Errorf("agent written only by the failed attempt = %s, want draft", got.Status)
	}
	if e.Pol.State() != resilience.Closed {
		t.Errorf("breaker %s after a conflict, want closed (conflicts are not infrastructure failures)", e.Pol.State())
	}
}
