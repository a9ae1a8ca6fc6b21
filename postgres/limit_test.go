package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/jackc/pgx/v5"
)

// Connection limits (issue 11): with every connection busy, a call fails
// after the acquire timeout with a clear error instead of hanging until its
// own deadline, and the numbers are visible in Stats.
func TestBoundedPoolFailsFastWhenExhausted(t *testing.T) {
	pool := openPool(t, postgres.Config{URL: testinfra.PostgresServer(t), MaxConns: 2})
	b := postgres.Bounded(pool, 150*time.Millisecond)
	ctx := context.Background()
	var held []pgx.Tx
	for range 2 {
		tx, err := b.BeginTx(ctx, pgx.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tx)
	}
	// The caller's own deadline is far away: only the pool's bound may end it.
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := b.Exec(callCtx, "SELECT 1")
	waited := time.Since(start)
	if !errors.Is(err, postgres.ErrPoolExhausted) {
		t.Fatalf("exhausted pool: %v, want ErrPoolExhausted", err)
	}
	if !strings.Contains(err.Error(), "all 2 connections") {
		t.Errorf("error does not name the limit: %v", err)
	}
	if waited > 10*time.Second {
		t.Errorf("waited %v: the call hung", waited)
	}
	var n int
	if err := b.QueryRow(callCtx, "SELECT 1").Scan(&n); !errors.Is(err, postgres.ErrPoolExhausted) {
		t.Errorf("QueryRow on an exhausted pool: %v", err)
	}
	st := b.Stats()
	if st.MaxConns != 2 || st.AcquiredConns != 2 || st.AcquireTimeouts != 2 {
		t.Errorf("stats %+v: want MaxConns 2, AcquiredConns 2, AcquireTimeouts 2", st)
	}
	// Releasing one connection lets calls through again; every wrapper
	// returns its connection (rows, row, tx).
	if err := held[0].Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		rows, err := b.Query(ctx, "SELECT generate_series(1, 3)")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := b.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		br := b.SendBatch(ctx, &pgx.Batch{QueuedQueries: []*pgx.QueuedQuery{{SQL: "SELECT 1"}}})
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := held[1].Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.AcquiredConns != 0 {
		t.Errorf("%d connections still acquired: a wrapper leaked one", st.AcquiredConns)
	}
}
