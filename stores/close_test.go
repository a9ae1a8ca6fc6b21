package stores_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/stores"
)

// Close stops new work at once, waits for the transaction in flight to
// commit, then closes; a write after Close fails with ErrClosed.
func TestCloseDrainsInFlightAndRefusesNewWork(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	s := open(t, loadConfig(t, env(t, dsn, r)), prefixed(r, agentical(stores.Options{Logger: discard(), Health: fresh})))
	repo := db.NewRepository(s.DB(), s.Runtime())
	ctx := t.Context()
	u := newUser(t, repo, "close@example.com")
	// Cache the user in Redis: the transaction's invalidation must reach it
	// before Close closes the cache, or the check below reads it stale.
	if _, err := repo.GetUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	valueKeyTTL(t, r)

	inTx, release := make(chan struct{}), make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
			if _, err := r.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleAdmin}); err != nil {
				return err
			}
			close(inTx)
			<-release
			_, err := r.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleViewer})
			return err
		})
	}()
	<-inTx
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()

	// New database work is refused while the transaction drains.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := repo.GetUserByEmail(ctx, fmt.Sprintf("nobody-%d@example.com", time.Now().UnixNano()))
		if errors.Is(err, stores.ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reads still served 5s after Close began: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-txErr; err != nil {
		t.Errorf("the transaction in flight failed: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close after a clean drain = %v", err)
	}

	// The transaction committed and its invalidation was applied: another
	// process reads the new row, not the cached one.
	check := open(t, loadConfig(t, env(t, dsn, r)), prefixed(r, agentical(stores.Options{Logger: discard()})))
	got, err := db.NewRepository(check.DB(), check.Runtime()).GetUser(ctx, u.ID)
	if err != nil || got.Role != db.UserRoleViewer {
		t.Errorf("after the drained commit: role %q, %v; want viewer", got.Role, err)
	}

	// A write after Close fails; it never succeeds silently.
	_, err = repo.CreateUser(ctx, db.CreateUserParams{Email: "after-close@example.com", DisplayName: "Late", Role: db.UserRoleMember})
	if !errors.Is(err, stores.ErrClosed) {
		t.Errorf("write after Close = %v; want ErrClosed", err)
	}
	if _, err := repo.GetUserByEmail(ctx, "after-close@example.com"); err == nil {
		t.Error("a read after Close succeeded")
	}
	if _, err := db.NewRepository(check.DB(), check.Runtime()).GetUserByEmail(ctx, "after-close@example.com"); !postgres.IsNotFound(err) {
		t.Errorf("the write after Close reached the database: %v", err)
	}
	// Readiness after Close: the pool is gone.
	if code, _ := probe(t, s.Health().Ready()); code != http.StatusServiceUnavailable {
		t.Errorf("readiness after Close = %d; want 503", code)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// Close reports operations that did not finish within DrainTimeout.
func TestCloseReportsWhatDidNotDrain(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	s := open(t, loadConfig(t, env(t, dsn, r)), prefixed(r, stores.Options{Logger: discard(), DrainTimeout: 200 * time.Millisecond}))
	rows, err := s.DB().Query(t.Context(), "SELECT generate_series(1, 10)")
	if err != nil {
		t.Fatal(err)
	}
	err = s.Close(t.Context())
	rows.Close()
	if err == nil || !containsAll(err.Error(), "1 database operations still running", "connections in use") {
		t.Errorf("Close with open rows = %v; want the operation and the connection reported", err)
	}
}
