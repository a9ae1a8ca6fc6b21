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
