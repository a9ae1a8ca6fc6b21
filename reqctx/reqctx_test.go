package reqctx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/reqctx"
)

func TestOutsideARequestEverythingIsANoOp(t *testing.T) {
	ctx := context.Background()
	if id := reqctx.RequestID(ctx); id != "" {
		t.Errorf("RequestID = %q outside a request", id)
	}
	s := reqctx.From(ctx)
	if s != nil {
		t.Fatalf("From = %v outside a request", s)
	}
	s.AddQuery(time.Second) // nil receiver: must not panic
	s.AddCacheHit()
	s.AddCacheMiss()
	if got := s.Snapshot(); got != (reqctx.Snapshot{}) {
		t.Errorf("nil Stats snapshot %+v", got)
	}
}

func TestStatsAddUpAcrossGoroutines(t *testing.T) {
	ctx, s := reqctx.WithStats(reqctx.WithRequestID(context.Background(), "r1"))
	if reqctx.From(ctx) != s || reqctx.RequestID(ctx) != "r1" {
		t.Fatal("context does not carry the stats and the ID")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				reqctx.From(ctx).AddQuery(time.Millisecond)
				reqctx.From(ctx).AddCacheHit()
			}
			reqctx.From(ctx).AddCacheMiss()
		}()
	}
	wg.Wait()
	want := reqctx.Snapshot{Queries: 800, DBTime: 800 * time.Millisecond, CacheHits: 800, CacheMisses: 8}
	if got := s.Snapshot(); got != want {
		t.Errorf("snapshot %+v, want %+v", got, want)
	}
}
