package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A concurrent mixed workload against real PostgreSQL and Redis: every read
// must return a value at least as new as every write whose Invalidate had
// returned before the read started. Checked within one process (default
// mode) and across two processes (strict mode).
func TestNoStaleReadsUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name      string
		processes int
		strict    bool
	}{{"one process", 1, false}, {"two processes strict", 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			pool := itemsDB(t)
			target := testinfra.Redis(t)
			const rows = 8
			for id := range rows {
				exec(t, pool, "INSERT INTO items (id, name, price) VALUES ($1, 'x', 0)", id)
			}
			caches := make([]*cache.Cache, tc.processes)
			var obs []*cache.Counters
			for i := range caches {
				var o *cache.Counters
				caches[i], o = newCache(t, target, func(cfg *cache.Config) { cfg.Strict = tc.strict })
				obs = append(obs, o)
			}
			var committed [rows]atomic.Int64
			var stale, reads, writes atomic.Int64
			ctx := context.Background()
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					c := caches[g%len(caches)]
					for range 250 {
						id := int64(rng.IntN(rows))
						if rng.IntN(10) < 2 {
							var v int64
							if err := pool.QueryRow(ctx, "UPDATE items SET price = price + 1 WHERE id = $1 RETURNING price::bigint", id).Scan(&v); err != nil {
								t.Error(err)
								return
							}
							_ = c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", id)})
							for {
								cur := committed[id].Load()
								if v <= cur || committed[id].CompareAndSwap(cur, v) {
									break
								}
							}
							writes.Add(1)
							continue
						}
						floor := committed[id].Load()
						v, err := cache.Get(ctx, c, itemKey(id), cache.Options{}, func(ctx context.Context) (int64, error) {
							return price(ctx, pool, id)
						})
						if err != nil {
							t.Error(err)
							return
						}
						reads.Add(1)
						if v < floor {
							stale.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			var hits, misses, skipped int64
			for _, o := range obs {
				hits += o.Hits()
				misses += o.Misses.Load()
				skipped += o.FillsSkipped.Load()
			}
			t.Logf("%d reads (%d hits, %d misses), %d writes, %d fills skipped as stale, %d stale reads",
				reads.Load(), hits, misses, writes.Load(), skipped, stale.Load())
			if stale.Load() != 0 {
				t.Fatalf("%d stale reads", stale.Load())
			}
			if hits == 0 {
				t.Fatal("the cache was never hit: the test proves nothing")
			}
		})
	}
}

func price(ctx context.Context, pool *pgxpool.Pool, id int64) (int64, error) {
	var v int64
	err := pool.QueryRow(ctx, "SELECT price::bigint FROM items WHERE id = $1", id).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("price %d: %w", id, err)
	}
	return v, nil
}
