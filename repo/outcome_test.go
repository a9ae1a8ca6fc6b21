package repo_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
)

// Defect 6: a write after the cache was closed returned nil without
// invalidating anything, so other processes kept serving the old row.
func TestWriteAfterCacheClosedFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	a := e.agent(t, e.user(t).ID)
	noErr(t, e.Cache.Close())

	_, err := e.Repo.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusActive, ID: a.ID, Version: a.Version})
	if !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("autocommit write after Close: err = %v, want cache.ErrClosed", err)
	}
	cur := must[db.Agent](t)(e.Raw.GetAgent(ctx, a.ID))
	err = e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, tx *db.Repository) error {
		n, err := tx.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: cur.Version})
		if err == nil && n != 1 {
			err = errors.New("not updated")
		}
		return err
	})
	if !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("InTx after Close: err = %v, want cache.ErrClosed", err)
	}
}

// syncRepCluster is a PostgreSQL cluster of the test's own (so changing
// synchronous_standby_names breaks no other test) and the superuser DSN of
// its admin database.
func syncRepCluster(t *testing.T) (dsn, admin string) {
	t.Helper()
	h := testinfra.New(testinfra.Config{NoDocker: true, Postgres: devserver.PostgresConfig{
		Settings: map[string]string{"synchronous_commit": "on"},
	}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	dsn = h.Postgres(t)
	admin, err := h.PostgresURL(t.Context())
	noErr(t, err)
	return dsn, admin
}

// setSyncStandby makes every commit wait for a standby that does not exist
// (names != "") or releases the waiters (names == "").
func setSyncStandby(t *testing.T, admin, names string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	noErr(t, err)
	defer conn.Close(ctx)
	if names == "" {
		_, err = conn.Exec(ctx, "ALTER SYSTEM RESET synchronous_standby_names")
	} else {
		_, err = conn.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '"+names+"'")
	}
	noErr(t, err)
	_, err = conn.Exec(ctx, "SELECT pg_reload_conf()")
	noErr(t, err)
	waitFor(t, "synchronous_standby_names = "+names, 5*time.Second, func() bool {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return false
		}
		defer c.Close(ctx)
		var v string
		return c.QueryRow(ctx, "SHOW synchronous_standby_names").Scan(&v) == nil && v == names
	})
}

// poolSees waits until every connection of pool has taken in the reloaded
// synchronous_standby_names: a pooled backend reads the new value only when
// it handles the reload signal, which may come after a new connection
// (setSyncStandby's check) already sees it.
func poolSees(t *testing.T, pool *pgxpool.Pool, names string) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "every pooled connection sees synchronous_standby_names = "+names, 5*time.Second, func() bool {
		n := int(pool.Stat().TotalConns())
		conns := make([]*pgxpool.Conn, 0, n)
		defer func() {
			for _, c := range conns {
				c.Release()
			}
		}()
		for range n {
			c, err := pool.Acquire(ctx)
			if err != nil {
				return false
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			var v string
			if c.QueryRow(ctx, "SHOW synchronous_standby_names").Scan(&v) != nil || v != names {
				return false
			}
		}
		return true
	})
}

// Defect 9: writes whose commit outcome is unknown. With synchronous
// replication to a standby that never answers, the caller's deadline ends
// the statement (or the COMMIT) while the transaction has committed
// locally; its rows become visible only when the wait ends, after the
// invalidation that ran at the error.
func TestUnknownCommitOutcome(t *testing.T) {
	dsn, admin := syncRepCluster(t)
	var partitioned atomic.Bool
	e := newEnv(t, envOptions{dsn: dsn, cache: func(cfg *cache.Config) {
		cfg.UncertainRecheck = []time.Duration{300 * time.Millisecond, time.Second}
	}, pool: func(pc *pgxpool.Config) {
		// pgx sends a cancel request on a new connection when a query's
		// context ends; the server then ends the wait (the transaction stays
		// committed) within milliseconds, racing the invalidation. Refusing
		// new connections while partitioned keeps the backend waiting until
		// the test releases it, which makes the race deterministic.
		var d net.Dialer
		pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if partitioned.Load() {
				return nil, errors.New("test: network partitioned")
			}
			return d.DialContext(ctx, network, addr)
		}
	}})
	ctx := context.Background()
	owner := e.user(t).ID
	// Open a few connections before any partition, for the readers.
	var conns []*pgxpool.Conn
	for range 4 {
		c, err := e.Pool.Acquire(ctx)
		noErr(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}

	t.Run("autocommit statement", func(t *testing.T) {
		a := e.agent(t, owner)
		get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
		warm(t, e, "GetAgent", get)
		setSyncStandby(t, admin, "ghost")
		t.Cleanup(func() { setSyncStandby(t, admin, "") })
		poolSees(t, e.Pool, "ghost")
		partitioned.Store(true)
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := e.Repo.UpdateAgentStatus(wctx, db.UpdateAgentStatusParams{Status: db.AgentStatusActive, ID: a.ID, Version: a.Version})
		cancel()
		if err == nil {
			t.Fatal("the write did not time out")
		}
		// A reader in the window: the committed row is not visible yet, so
		// it loads and caches the old one under the bumped versions.
		if got := must[db.Agent](t)(get()); got.Status != db.AgentStatusDraft {
			t.Fatalf("row visible before the wait ended: %s", got.Status)
		}
		e.waitFills(t, 2)
		partitioned.Store(false)
		setSyncStandby(t, admin, "")
		waitFor(t, "the write visible in the database", 5*time.Second, func() bool {
			got, err := e.Raw.GetAgent(ctx, a.ID)
			return err == nil && got.Status == db.AgentStatusActive
		})
		waitFor(t, "the cached read to show the committed write", 3*time.Second, func() bool {
			got, err := get()
			return err == nil && got.Status == db.AgentStatusActive
		})
	})

	t.Run("InTx commit hits the deadline", func(t *testing.T) {
		a := e.agent(t, owner)
		get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
		warm(t, e, "GetAgent", get)
		setSyncStandby(t, admin, "ghost")
		t.Cleanup(func() { setSyncStandby(t, admin, "") })
		poolSees(t, e.Pool, "ghost")
		partitioned.Store(true)
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := e.Repo.InTx(wctx, postgres.TxOptions{}, func(ctx context.Context, tx *db.Repository) error {
			n, err := tx.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: a.Version})
			if err == nil && n != 1 {
				err = errors.New("not updated")
			}
			return err
		})
		cancel()
		if err == nil {
			t.Fatal("the commit did not time out")
		}
		partitioned.Store(false)
		setSyncStandby(t, admin, "")
		waitFor(t, "the transaction visible in the database", 5*time.Second, func() bool {
			got, err := e.Raw.GetAgent(ctx, a.ID)
			return err == nil && got.Status == db.AgentStatusPaused
		})
		// No reader ran in the window: the invalidation made at the error
		// is enough, at once.
		if got := must[db.Agent](t)(get()); got.Status != db.AgentStatusPaused {
			t.Fatalf("cached read after a committed InTx that returned %v: %s, want paused", err, got.Status)
		}
	})
}

// terminateSyncRepWaiter ends the backend whose commit waits for the
// synchronous standby, as an administrator or a shutdown would: PostgreSQL
// warns that the transaction "has already committed locally" and sends a
// FATAL error (57P01).
func terminateSyncRepWaiter(t *testing.T, admin string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	noErr(t, err)
	defer conn.Close(ctx)
	waitFor(t, "a commit waiting for the standby", 5*time.Second, func() bool {
		var n int
		err := conn.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").Scan(&n)
		return err == nil && n > 0
	})
}

// A FATAL error after COMMIT was sent (the session is terminated while the
// commit waits for a synchronous standby) leaves the outcome unknown: the
// transaction committed locally. Its invalidations must not be dropped.
func TestCommitEndedByTerminatedSession(t *testing.T) {
	dsn, admin := syncRepCluster(t)
	e := newEnv(t, envOptions{dsn: dsn, cache: func(cfg *cache.Config) {
		cfg.UncertainRecheck = []time.Duration{300 * time.Millisecond, time.Second}
	}})
	ctx := context.Background()
	owner := e.user(t).ID
	for _, tc := range []struct {
		name  string
		write func(a db.Agent) error
	}{
		{"autocommit", func(a db.Agent) error {
			_, err := e.Repo.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: a.Version})
			return err
		}},
		{"InTx", func(a db.Agent) error {
			return e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, tx *db.Repository) error {
				_, err := tx.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: a.Version})
				return err
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.agent(t, owner)
			get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
			warm(t, e, "GetAgent", get)
			setSyncStandby(t, admin, "ghost")
			t.Cleanup(func() { setSyncStandby(t, admin, "") })
			poolSees(t, e.Pool, "ghost")
			done := make(chan error, 1)
			go func() { done <- tc.write(a) }()
			terminateSyncRepWaiter(t, admin)
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the write did not return after its session was terminated")
			}
			if err == nil {
				t.Fatal("the write reported success")
			}
			t.Logf("write error: %v", err)
			setSyncStandby(t, admin, "")
			if got := must[db.Agent](t)(e.Raw.GetAgent(ctx, a.ID)); got.Status != db.AgentStatusPaused {
				t.Fatalf("precondition: the transaction did not commit (%s; write error %v)", got.Status, err)
			}
			waitFor(t, "the cached read to show the committed write", 3*time.Second, func() bool {
				got, err := get()
				return err == nil && got.Status == db.AgentStatusPaused
			})
		})
	}
}

// Item 11: writes made outside the repositories are invisible to cached
// reads until invalidated by hand.
func TestInvalidateByHand(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	owner := e.user(t)
	a, b := e.agent(t, owner.ID), e.agent(t, owner.ID)
	getA := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	getB := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, b.ID) }
	byName := func() (db.Agent, error) {
		return e.Repo.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: owner.ID, Name: a.Name})
	}
	warm(t, e, "GetAgent", getA)
	warm(t, e, "GetAgent", getB)
	warm(t, e, "GetAgentByName", byName)
	_, err := e.Pool.Exec(ctx, "UPDATE agents SET status = 'active' WHERE id = ANY($1)", []any{a.ID, b.ID})
	noErr(t, err)
	if got := must[db.Agent](t)(getA()); got.Status != db.AgentStatusDraft {
		t.Fatalf("precondition: the cache saw a write made outside the repositories (%s)", got.Status)
	}
	noErr(t, e.RT.InvalidateTables(ctx, "agents"))
	for _, get := range []func() (db.Agent, error){getA, getB, byName} {
		if got := must[db.Agent](t)(get()); got.Status != db.AgentStatusActive {
			t.Fatalf("after InvalidateTables: %s", got.Status)
		}
	}
	// Cached again before the next outside write.
	warm(t, e, "GetAgent", getA)
	warm(t, e, "GetAgent", getB)
	warm(t, e, "GetAgentByName", byName)
	_, err = e.Pool.Exec(ctx, "UPDATE agents SET status = 'paused' WHERE id = ANY($1)", []any{a.ID, b.ID})
	noErr(t, err)
	noErr(t, e.Cache.InvalidateAll(ctx))
	for _, get := range []func() (db.Agent, error){getA, getB, byName} {
		if got := must[db.Agent](t)(get()); got.Status != db.AgentStatusPaused {
			t.Fatalf("after InvalidateAll: %s", got.Status)
		}
	}
}
