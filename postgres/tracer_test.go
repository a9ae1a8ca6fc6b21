package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/reqctx"
)

// The tracer's bookkeeping needs no server: it is driven with pgx's trace
// data directly.
func trace(t *postgres.Tracer, ctx context.Context, sql string) {
	ctx = t.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: sql})
	time.Sleep(time.Millisecond)
	t.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{})
}

func TestSlowQueriesKeepsNewestFirst(t *testing.T) {
	tr := postgres.NewTracer(postgres.TracerConfig{SlowThreshold: time.Nanosecond, SlowKeep: 3})
	for i := range 5 {
		trace(tr, reqctx.WithRequestID(context.Background(), fmt.Sprint("r", i)), fmt.Sprintf("-- name: Q%d :one\nSELECT 1", i))
	}
	got, total := tr.SlowQueries()
	if total != 5 || len(got) != 3 {
		t.Fatalf("got %d kept of %d total, want 3 of 5", len(got), total)
	}
	for i, want := range []string{"Q4", "Q3", "Q2"} {
		if got[i].Query != want || got[i].RequestID != "r"+want[1:] {
			t.Errorf("SlowQueries()[%d] = %s (%s), want %s (r%s)", i, got[i].Query, got[i].RequestID, want, want[1:])
		}
	}
}

func TestTracerCountsIntoRequestStats(t *testing.T) {
	tr := postgres.NewTracer(postgres.TracerConfig{SlowThreshold: -1})
	ctx, stats := reqctx.WithStats(context.Background())
	trace(tr, ctx, "SELECT 1")
	trace(tr, ctx, "SELECT 2")
	trace(tr, context.Background(), "SELECT 3") // another request's
	s := stats.Snapshot()
	if s.Queries != 2 || s.DBTime < 2*time.Millisecond {
		t.Errorf("request stats %+v, want 2 queries and >= 2ms", s)
	}
	if q, _ := tr.SlowQueries(); len(q) != 0 {
		t.Errorf("slow-query logging disabled, yet %d kept", len(q))
	}
}
