package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/resilience"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

type item struct {
	ID    int64
	Name  string
	Price pgtype.Numeric
	At    time.Time
}

func itemKey(id int64) cache.Key {
	return cache.NewKey("GetItem", cache.Deps{Rows: []cache.RowRef{cache.Row("items", "id", id)}}, id)
}

var listKey = cache.NewKey("ListItems", cache.Deps{Tables: []string{"items"}})

// counted wraps a loader and counts its calls.
func counted[T any](n *atomic.Int64, f func(ctx context.Context) (T, error)) func(ctx context.Context) (T, error) {
	return func(ctx context.Context) (T, error) { n.Add(1); return f(ctx) }
}

func TestHitMiss(t *testing.T) {
	for _, clientCache := range []bool{true, false} {
		t.Run(fmt.Sprintf("clientCache=%v", clientCache), func(t *testing.T) {
			c, obs := newCache(t, testinfra.Redis(t), func(cfg *cache.Config) { cfg.DisableClientCache = !clientCache })
			ctx := context.Background()
			var loads atomic.Int64
			at := time.Date(2026, 1, 1, 0, 0, 0, 999, time.UTC)
			load := counted(&loads, func(context.Context) (item, error) {
				return item{ID: 1, Name: "one", Price: pgtype.Numeric{Int: big.NewInt(1999), Exp: -2, Valid: true}, At: at}, nil
			})
			v, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load)
			if err != nil || v.Name != "one" {
				t.Fatalf("first get: %+v %v", v, err)
			}
			cache.WaitBackground(c)
			for range 5 {
				v, err = cache.Get(ctx, c, itemKey(1), cache.Options{}, load)
				if err != nil || v.Name != "one" || !v.At.Equal(at) || v.Price.Int.Int64() != 1999 {
					t.Fatalf("hit: %+v %v", v, err)
				}
			}
			if loads.Load() != 1 {
				t.Fatalf("%d loads, want 1", loads.Load())
			}
			if obs.Misses.Load() != 1 || obs.Fills.Load() != 1 || obs.Hits() != 5 {
				t.Fatalf("misses=%d fills=%d hits=%d", obs.Misses.Load(), obs.Fills.Load(), obs.Hits())
			}
			if clientCache && obs.LocalHits.Load() == 0 {
				t.Fatal("no hit came from the in-process tier")
			}
			if !clientCache && obs.LocalHits.Load() != 0 {
				t.Fatal("local hits with the in-process tier off")
			}
			// Another key is a miss of its own.
			if _, err := cache.Get(ctx, c, itemKey(2), cache.Options{}, load); err != nil || loads.Load() != 2 {
				t.Fatalf("second key: loads=%d err=%v", loads.Load(), err)
			}
			// Loader errors come back unchanged and are not cached.
			boom := errors.New("boom")
			for range 2 {
				if _, err := cache.Get(ctx, c, itemKey(3), cache.Options{}, counted(&loads, func(context.Context) (item, error) { return item{}, boom })); !errors.Is(err, boom) {
					t.Fatalf("err = %v", err)
				}
			}
			if loads.Load() != 4 {
				t.Fatalf("errors were cached: loads=%d", loads.Load())
			}
		})
	}
}

func TestInvalidateRowsAndTables(t *testing.T) {
	c, _ := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	var l1, l2, ll atomic.Int64
	get := func(id int64, n *atomic.Int64) {
		t.Helper()
		if _, err := cache.Get(ctx, c, itemKey(id), cache.Options{}, counted(n, func(context.Context) (int64, error) { return id, nil })); err != nil {
			t.Fatal(err)
		}
	}
	list := func() {
		t.Helper()
		if _, err := cache.Get(ctx, c, listKey, cache.Options{}, counted(&ll, func(context.Context) ([]int64, error) { return []int64{1, 2}, nil })); err != nil {
			t.Fatal(err)
		}
	}
	warm := func() { get(1, &l1); get(2, &l2); list(); cache.WaitBackground(c) }
	want := func(a, b, l int64) {
		t.Helper()
		if l1.Load() != a || l2.Load() != b || ll.Load() != l {
			t.Fatalf("loads item1=%d item2=%d list=%d, want %d %d %d", l1.Load(), l2.Load(), ll.Load(), a, b, l)
		}
	}
	warm()
	warm()
	want(1, 1, 1)

	// UPDATE items ... WHERE id = 1: row 1 and lists, not row 2.
	if err := c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", int32(1))}); err != nil {
		t.Fatal(err)
	}
	warm()
	want(2, 1, 2)

	// A table-wide write (UPDATE items SET ... WHERE price > 10): everything.
	if err := c.Invalidate(ctx, []string{"items"}, nil); err != nil {
		t.Fatal(err)
	}
	warm()
	want(3, 2, 3)

	// Another table: nothing.
	if err := c.Invalidate(ctx, []string{"orders"}, []cache.RowRef{cache.Row("orders", "id", 1)}); err != nil {
		t.Fatal(err)
	}
	warm()
	want(3, 2, 3)

	// A batch applied after commit.
	var b cache.Batch
	b.Add(nil, cache.Row("items", "id", 2))
	if err := c.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	warm()
	want(3, 3, 4)
}

// Within one process a read right after Invalidate returns never sees the
// old value, even before the invalidation push reaches the in-process tier.
func TestReadYourWritesInProcess(t *testing.T) {
	c, _ := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	var version atomic.Int64
	load := func(context.Context) (int64, error) { return version.Load(), nil }
	for i := range 200 {
		if v, err := cache.Get(ctx, c, itemKey(7), cache.Options{}, load); err != nil || v != int64(i) {
			t.Fatalf("round %d: got %d err %v", i, v, err)
		}
		cache.WaitBackground(c)
		// Hit (possibly local) of the current value.
		if v, _ := cache.Get(ctx, c, itemKey(7), cache.Options{}, load); v != int64(i) {
			t.Fatalf("round %d: hit %d", i, v)
		}
		version.Add(1) // "commit"
		if err := c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 7)}); err != nil {
			t.Fatal(err)
		}
	}
}

// The forced race: a reader loads the old row, a writer commits and
// invalidates, then the reader's fill runs. The stale value must not be
// stored, and the next read must see the new row.
func TestStaleFillNeverLands(t *testing.T) {
	pool := itemsDB(t)
	target := testinfra.Redis(t)
	reader, robs := newCache(t, target, nil)
	writer, _ := newCache(t, target, nil) // another process
	ctx := context.Background()
	exec(t, pool, "INSERT INTO items (id, name) VALUES (1, 'old')")

	for _, w := range []struct {
		name string
		c    *cache.Cache
	}{{"same process", reader}, {"other process", writer}} {
		t.Run(w.name, func(t *testing.T) {
			exec(t, pool, "UPDATE items SET name = 'old' WHERE id = 1")
			// The reader invalidates its own view (read-your-writes), so its
			// next Get is a miss whatever the push latency.
			if err := reader.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 1)}); err != nil {
				t.Fatal(err)
			}
			skippedBefore := robs.FillsSkipped.Load()
			fillsBefore := robs.Fills.Load()

			loaded := make(chan string, 1)
			release := make(chan struct{})
			var staleKey string
			cache.SetBeforeFill(reader, func(vk string) {
				staleKey = vk
				<-release
			})
			load := func(ctx context.Context) (string, error) {
				name, err := itemName(ctx, pool, 1)
				loaded <- name
				return name, err
			}
			got, err := cache.Get(ctx, reader, itemKey(1), cache.Options{}, load)
			if err != nil || got != "old" || <-loaded != "old" {
				t.Fatalf("reader: %q %v", got, err)
			}
			// The reader's fill is parked between "db load" and "cache fill".
			exec(t, pool, "UPDATE items SET name = 'new' WHERE id = 1")
			if err := w.c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 1)}); err != nil {
				t.Fatal(err)
			}
			cache.SetBeforeFill(reader, nil)
			close(release)
			cache.WaitBackground(reader)

			if robs.FillsSkipped.Load() != skippedBefore+1 || robs.Fills.Load() != fillsBefore {
				t.Fatalf("fill not skipped: skipped %d->%d fills %d->%d", skippedBefore, robs.FillsSkipped.Load(), fillsBefore, robs.Fills.Load())
			}
			n, err := reader.Client().Do(ctx, reader.Client().B().Exists().Key(staleKey).Build()).AsInt64()
			if err != nil || n != 0 {
				t.Fatalf("stale value stored under %s (exists=%d, err=%v)", staleKey, n, err)
			}
			for _, c := range []*cache.Cache{reader, writer} {
				got, err = cache.Get(ctx, c, itemKey(1), cache.Options{}, load)
				if err != nil || got != "new" {
					t.Fatalf("after invalidation: %q %v", got, err)
				}
				select {
				case <-loaded:
				default:
				}
			}
		})
	}
}

func TestSingleflight(t *testing.T) {
	target := testinfra.Redis(t)
	c1, _ := newCache(t, target, func(cfg *cache.Config) { cfg.LeaseWait = 5 * time.Second })
	c2, obs2 := newCache(t, target, func(cfg *cache.Config) { cfg.LeaseWait = 5 * time.Second })
	ctx := context.Background()

	var loads atomic.Int64
	start := make(chan struct{})
	load := counted(&loads, func(context.Context) ([]int64, error) {
		time.Sleep(100 * time.Millisecond)
		return []int64{1, 2, 3}, nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := cache.Get(ctx, c1, listKey, cache.Options{}, load)
			if err == nil && len(v) != 3 {
				err = fmt.Errorf("goroutine %d: %v", i, v)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("100 concurrent misses in one process ran %d loads", loads.Load())
	}

	// Across processes: a lease makes the second process wait for the fill.
	key := cache.NewKey("ListItems", cache.Deps{Tables: []string{"items"}}, "page2")
	loads.Store(0)
	start = make(chan struct{})
	for i := range 100 {
		wg.Add(1)
		c := c1
		if i%2 == 1 {
			c = c2
		}
		go func() {
			defer wg.Done()
			<-start
			_, err := cache.Get(ctx, c, key, cache.Options{}, load)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if loads.Load() != 1 {
		t.Fatalf("100 misses over two processes ran %d loads (lease)", loads.Load())
	}
	t.Logf("second process: %d misses, %d hits", obs2.Misses.Load(), obs2.Hits())
}

func TestNegativeCaching(t *testing.T) {
	pool := itemsDB(t)
	c, obs := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	var loads atomic.Int64
	load := counted(&loads, func(ctx context.Context) (string, error) { return itemName(ctx, pool, 9) })
	opts := cache.Options{Negative: time.Minute}
	for range 3 {
		if _, err := cache.Get(ctx, c, itemKey(9), opts, load); !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("err = %v, want pgx.ErrNoRows", err)
		}
		cache.WaitBackground(c)
	}
	if loads.Load() != 1 || obs.NegativeHits.Load() != 2 {
		t.Fatalf("loads=%d negative hits=%d", loads.Load(), obs.NegativeHits.Load())
	}
	// Without Negative, not-found is not cached.
	for range 2 {
		_, _ = cache.Get(ctx, c, cache.NewKey("Other", cache.Deps{}, 9), cache.Options{}, load)
	}
	if loads.Load() != 3 {
		t.Fatalf("not-found cached without Negative: loads=%d", loads.Load())
	}
	// The INSERT names the row: the negative entry is gone.
	exec(t, pool, "INSERT INTO items (id, name) VALUES (9, 'nine')")
	if err := c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 9)}); err != nil {
		t.Fatal(err)
	}
	if v, err := cache.Get(ctx, c, itemKey(9), opts, load); err != nil || v != "nine" {
		t.Fatalf("after insert: %q %v", v, err)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	c, obs := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	var version, loads atomic.Int64
	load := counted(&loads, func(context.Context) (int64, error) { return version.Load(), nil })
	opts := cache.Options{TTL: 100 * time.Millisecond, SWR: 10 * time.Second}
	if v, _ := cache.Get(ctx, c, itemKey(5), opts, load); v != 0 {
		t.Fatal(v)
	}
	cache.WaitBackground(c)
	version.Store(1)
	time.Sleep(150 * time.Millisecond)
	v, err := cache.Get(ctx, c, itemKey(5), opts, load)
	if err != nil || v != 0 || obs.StaleHits.Load() != 1 {
		t.Fatalf("stale read: v=%d err=%v stale=%d", v, err, obs.StaleHits.Load())
	}
	cache.WaitBackground(c)
	if loads.Load() != 2 {
		t.Fatalf("refresh loads = %d", loads.Load())
	}
	eventually(t, 2*time.Second, "refreshed value", func() bool {
		v, _ := cache.Get(ctx, c, itemKey(5), opts, load)
		return v == 1
	})
	// Past TTL+SWR it is a plain miss.
	if loads.Load() != 2 {
		t.Fatalf("extra loads: %d", loads.Load())
	}
}

// Redis stopped mid-test: reads fall back to the loader, writes' invalidations
// stay pending and are applied when Redis is back.
func TestRedisDownFailsOpen(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "fo"}
	var transitions []resilience.State
	var tmu sync.Mutex
	c, obs := newCache(t, target, func(cfg *cache.Config) {
		cfg.OnRedisStateChange = func(ch resilience.StateChange) {
			tmu.Lock()
			transitions = append(transitions, ch.To)
			tmu.Unlock()
		}
		cfg.RedisTimeout = 100 * time.Millisecond
		cfg.BreakerDelay = 200 * time.Millisecond
		cfg.RetryInterval = 20 * time.Millisecond
		cfg.MaxRetryInterval = 100 * time.Millisecond
	})
	ctx := context.Background()
	var version, loads atomic.Int64
	load := counted(&loads, func(context.Context) (int64, error) { return version.Load(), nil })
	if _, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	version.Store(1)
	err := c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 1)})
	if !errors.Is(err, cache.ErrInvalidationPending) || c.Pending() == 0 {
		t.Fatalf("invalidate with redis down: err=%v pending=%d", err, c.Pending())
	}
	start := time.Now()
	for i := range 50 {
		v, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load)
		if err != nil || v != 1 {
			t.Fatalf("get %d with redis down: v=%d err=%v", i, v, err)
		}
	}
	t.Logf("50 gets with redis down: %v, bypasses=%d errors=%d breaker open=%v",
		time.Since(start), obs.Bypasses.Load(), obs.Errors.Load(), !c.RedisAvailable())
	if obs.Bypasses.Load() < 50 || obs.InvalidationErrors.Load() == 0 {
		t.Fatalf("bypasses=%d invalidation errors=%d", obs.Bypasses.Load(), obs.InvalidationErrors.Load())
	}
	// Reads without a pending dependency try Redis until the breaker opens,
	// then stop touching it.
	errsBefore := obs.Errors.Load()
	for i := range 50 {
		v, err := cache.Get(ctx, c, itemKey(2), cache.Options{}, load)
		if err != nil || v != 1 {
			t.Fatalf("get %d with redis down: v=%d err=%v", i, v, err)
		}
	}
	if c.RedisAvailable() || c.RedisState() != resilience.Open {
		t.Fatalf("redis breaker still closed (%v)", c.RedisState())
	}
	if n := obs.Errors.Load() - errsBefore; n > int64(cache.DefaultBreakerThreshold)+1 {
		t.Fatalf("%d redis errors in 50 gets: the breaker did not stop the calls", n)
	}

	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "pending invalidation applied", func() bool { return c.Pending() == 0 })
	if obs.Invalidations.Load() < 2 { // the first success plus the retried one
		t.Fatalf("retried invalidation not reported: %d", obs.Invalidations.Load())
	}
	eventually(t, 5*time.Second, "cache in use again", func() bool {
		_, _ = cache.Get(ctx, c, itemKey(1), cache.Options{}, load)
		cache.WaitBackground(c)
		before := loads.Load()
		v, _ := cache.Get(ctx, c, itemKey(1), cache.Options{}, load)
		return v == 1 && loads.Load() == before
	})
	tmu.Lock()
	defer tmu.Unlock()
	if c.RedisState() != resilience.Closed || len(transitions) < 3 || transitions[0] != resilience.Open ||
		transitions[len(transitions)-1] != resilience.Closed {
		t.Fatalf("breaker transitions %v, state %v", transitions, c.RedisState())
	}
}

// Two Cache instances with their own clients see each other's
// invalidations; the window of the in-process tier is measured in both modes.
func TestCrossProcessWindow(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			target := testinfra.Redis(t)
			a, _ := newCache(t, target, nil)
			b, bobs := newCache(t, target, func(cfg *cache.Config) { cfg.Strict = strict })
			ctx := context.Background()
			var version atomic.Int64
			load := func(context.Context) (int64, error) { return version.Load(), nil }
			var windows []time.Duration
			staleReads := 0
			for round := range 30 {
				want := version.Load()
				for {
					v, _ := cache.Get(ctx, b, itemKey(1), cache.Options{}, load)
					cache.WaitBackground(b)
					if v == want {
						break
					}
				}
				// Read until b's in-process tier holds the value.
				for i := 0; ; i++ {
					// Strict lookups read versions from Redis: never a local hit.
					hits := func() int64 {
						if strict {
							return bobs.Hits()
						}
						return bobs.LocalHits.Load()
					}
					before := hits()
					if v, _ := cache.Get(ctx, b, itemKey(1), cache.Options{}, load); v != want {
						t.Fatalf("round %d: %d", round, v)
					}
					if hits() > before {
						break
					}
					if i > 10 {
						t.Fatalf("round %d: no local hit", round)
					}
				}
				version.Add(1)
				if err := a.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 1)}); err != nil {
					t.Fatal(err)
				}
				done := time.Now()
				stale := false
				for {
					v, _ := cache.Get(ctx, b, itemKey(1), cache.Options{}, load)
					if v == version.Load() {
						break
					}
					stale = true
					if time.Since(done) > 5*time.Second {
						t.Fatalf("round %d: invalidation never reached the other process", round)
					}
				}
				if stale {
					staleReads++
				}
				windows = append(windows, time.Since(done))
			}
			sort.Slice(windows, func(i, j int) bool { return windows[i] < windows[j] })
			t.Logf("strict=%v: rounds with a stale read after Invalidate returned: %d/30; time to first fresh read p50=%v max=%v",
				strict, staleReads, windows[len(windows)/2], windows[len(windows)-1])
			if strict && staleReads != 0 {
				t.Fatalf("strict mode served %d stale reads after Invalidate returned", staleReads)
			}
		})
	}
}

// A Redis that stops answering (CLIENT PAUSE) costs a lookup at most
// RedisTimeout, then the breaker takes Redis out of the path.
func TestRedisSlowFailsOpen(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "slow"}
	c, obs := newCache(t, target, func(cfg *cache.Config) {
		cfg.RedisTimeout = 50 * time.Millisecond
		cfg.BreakerDelay = time.Minute
	})
	admin, _ := newCache(t, target, func(cfg *cache.Config) { cfg.DisableClientCache = true })
	ctx := context.Background()
	load := func(context.Context) (int64, error) { return 7, nil }
	if _, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)
	if err := admin.Client().Do(ctx, admin.Client().B().ClientPause().Timeout(1500).All().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 20 { // new keys: every lookup needs Redis
		v, err := cache.Get(ctx, c, itemKey(int64(100+i)), cache.Options{}, load)
		if err != nil || v != 7 {
			t.Fatalf("get %d: %v %v", i, v, err)
		}
	}
	elapsed := time.Since(start)
	t.Logf("20 lookups against a paused redis: %v, errors=%d, breaker open=%v", elapsed, obs.Errors.Load(), !c.RedisAvailable())
	if c.RedisAvailable() {
		t.Fatal("breaker did not open on a paused redis")
	}
	if elapsed > time.Second { // the pause lasts 1.5s: lookups did not wait for it
		t.Fatalf("lookups waited for the paused redis: %v", elapsed)
	}
}

// A panicking loader does not strand the goroutines waiting on it.
func TestLoaderPanicReleasesWaiters(t *testing.T) {
	c, _ := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	key := cache.NewKey("Panics", cache.Deps{})
	entered := make(chan struct{})
	release := make(chan struct{})
	go func() {
		defer func() { _ = recover() }()
		_, _ = cache.Get(ctx, c, key, cache.Options{}, func(context.Context) (int, error) {
			close(entered)
			<-release
			panic("loader bug")
		})
	}()
	<-entered
	done := make(chan error, 1)
	go func() {
		v, err := cache.Get(ctx, c, key, cache.Options{}, func(context.Context) (int, error) { return 7, nil })
		if err == nil && v != 7 {
			err = fmt.Errorf("v = %d", v)
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second Get join the flight
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter stranded by a panicking loader")
	}
}
