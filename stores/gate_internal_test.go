package stores

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/resilience"
)

// A database that refuses connections is an infrastructure failure (the
// breaker must count it), never "pool exhausted": the gate used to decide
// that after cancelling its own timeout, so every failed dial read as
// exhausted and the breaker never opened on a down database.
func TestGateDialFailureIsNotExhaustion(t *testing.T) {
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
	g := newGate(pool, 5*time.Second)

	start := time.Now()
	_, err = g.Exec(context.Background(), "SELECT 1")
	if err == nil {
		t.Fatal("Exec against a refused port succeeded")
	}
	if errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("dial failure reported as pool exhaustion: %v", err)
	}
	if !resilience.IsInfrastructure(err) {
		t.Errorf("dial failure not classified as infrastructure (the breaker would ignore it): %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dial failure took %s; want it to fail fast, not wait for the pool timeout", d)
	}
	if n := g.inFlight(); n != 0 {
		t.Errorf("in flight after a failed acquire = %d, want 0", n)
	}
}
