package postgres_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/resilience"
)

// counting is an Admission that counts calls in flight and can refuse.
type counting struct {
	mu       sync.Mutex
	inflight int
	entered  int
	refuse   error
}

func (c *counting) Enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		return c.refuse
	}
	c.inflight++
	c.entered++
	return nil
}

func (c *counting) Leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
}

func (c *counting) state() (inflight, entered int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight, c.entered
}

// A database that refuses connections is an infrastructure failure (the
// breaker must count it), never "pool exhausted". The gate in stores used
// to decide that after cancelling its own timeout, so every failed dial
// read as exhausted and the breaker never opened on a down database.
func TestBoundedDialFailureIsNotExhaustion(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused

	pool, err := pgxpool.New(context.Background(), "postgres://u:pw@"+addr+"/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	adm := &counting{}
	b := postgres.Bounded(pool, 5*time.Second).Admit(adm)

	start := time.Now()
	_, err = b.Exec(context.Background(), "SELECT 1")
	if err == nil {
		t.Fatal("Exec against a refused port succeeded")
	}
	if errors.Is(err, postgres.ErrPoolExhausted) {
		t.Fatalf("dial failure reported as pool exhaustion: %v", err)
	}
	if !resilience.IsInfrastructure(err) {
		t.Errorf("dial failure not classified as infrastructure (the breaker would ignore it): %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dial failure took %s; want it to fail fast, not wait for the acquire timeout", d)
	}
	if n, _ := adm.state(); n != 0 {
		t.Errorf("in flight after a failed acquire = %d, want 0", n)
	}
}

// Every way of using a connection leaves the admission once, when the
// connection is back; a refused admission never touches the pool.
func TestBoundedAdmission(t *testing.T) {
	dsn := testinfra.Postgres(t)
	ctx := context.Background()
	pool, err := postgres.NewPool(ctx, postgres.Config{URL: dsn, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	adm := &counting{}
	b := postgres.Bounded(pool, time.Second).Admit(adm)
	acquires := pool.Stat().AcquireCount() // NewPool's own start-up check
	settled := func(what string, wantEntered int) {
		t.Helper()
		if n, e := adm.state(); n != 0 || e != wantEntered {
			t.Errorf("%s: in flight %d, entered %d; want 0 and %d", what, n, e, wantEntered)
		}
	}

	if _, err := b.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	settled("Exec", 1)

	var v int
	if err := b.QueryRow(ctx, "SELECT 2").Scan(&v); err != nil || v != 2 {
		t.Fatalf("QueryRow = %d, %v", v, err)
	}
	settled("QueryRow", 2)

	rows, err := b.Query(ctx, "SELECT generate_series(1, 3)")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := adm.state(); n != 1 {
		t.Errorf("rows open: in flight %d, want 1", n)
	}
	for rows.Next() {
	}
	rows.Close() // after Next returned false: must not leave twice
	settled("Query", 3)

	tx, err := b.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback(ctx) // the usual deferred rollback after commit
	settled("BeginTx/Commit/Rollback", 4)

	adm.refuse = errors.New("closed")
	if _, err := b.Exec(ctx, "SELECT 1"); err == nil || err.Error() != "closed" {
		t.Errorf("refused admission: err %v, want the admission's error", err)
	}
	if n := pool.Stat().AcquireCount() - acquires; n != 4 {
		t.Errorf("pool acquires = %d, want 4 (a refused call must not acquire)", n)
	}
}
