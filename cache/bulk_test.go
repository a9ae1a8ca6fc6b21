package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
)

// TestLargeInvalidationLands: an invalidation naming tens of thousands of
// rows (a bulk insert) must land, and not stay pending forever because the
// whole batch never fits in one RedisTimeout. It once did: every retry sent
// all pending bumps in one pipeline under one timeout.
func TestLargeInvalidationLands(t *testing.T) {
	target := testinfra.Redis(t)
	c, _ := newCache(t, target, func(cfg *cache.Config) {
		cfg.RedisTimeout = 100 * time.Millisecond
		cfg.MaxRetryInterval = 200 * time.Millisecond
	})
	rows := make([]cache.RowRef, 40000)
	for i := range rows {
		rows[i] = cache.Row("bulk", "id", int64(i))
	}
	_ = c.Invalidate(context.Background(), nil, rows) // may be pending: the retries must finish it
	eventually(t, 20*time.Second, "every bump applied", func() bool { return c.Pending() == 0 })
	// and the bumps did land: a read of a bumped row sees its new version.
	k := cache.NewKey("GetBulk", cache.Deps{Rows: []cache.RowRef{rows[len(rows)-1]}}, int64(len(rows)-1))
	vk1, err := cache.ValueKey(c, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(context.Background(), nil, rows[len(rows)-1:]); err != nil {
		t.Fatal(err)
	}
	if vk2, _ := cache.ValueKey(c, k); vk2 == vk1 {
		t.Fatalf("value key unchanged after a bump: %s", vk1)
	}
}

// TestPendingInvalidationLandsSoonAfterRecovery: while Redis is away the
// retry backoff grows; once Redis answers again (here: the next write's
// invalidation, which lands at once) the pending bumps must land within a
// few RetryIntervals, not after the grown backoff: until it lands other
// processes serve the old row. The fault suite once counted 399 such reads
// up to 1 s after a Redis restart.
func TestPendingInvalidationLandsSoonAfterRecovery(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	proxy := newCutProxy(t, srv.Addr())
	c, _ := newCache(t, testinfra.RedisTarget{Addr: proxy.addr(), Prefix: "retry"}, func(cfg *cache.Config) {
		cfg.RedisTimeout = 100 * time.Millisecond
		cfg.MaxRetryInterval = 5 * time.Second
	})
	ctx := context.Background()
	row := cache.Row("items", "id", int64(1))
	proxy.cut()
	_ = c.Invalidate(ctx, nil, []cache.RowRef{row})
	time.Sleep(2 * time.Second) // retries fail: 50ms, 100ms, ... 1.6s
	proxy.restore()
	time.Sleep(50 * time.Millisecond)
	// A new write now: its own bump lands (or, with the breaker open,
	// joins the pending ones); the old pending one must follow soon.
	_ = c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", int64(2))})
	start := time.Now()
	eventually(t, 5*time.Second, "pending bumps applied", func() bool { return c.Pending() == 0 })
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("pending bumps landed %v after a new write once Redis was back, want within a few RetryIntervals", d)
	}
}
