package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/resilience"
)

// rawClient is a plain client on target for poking at the cache's keys.
func rawClient(t testing.TB, target testinfra.RedisTarget) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{target.Addr}, Username: target.Username, Password: target.Password,
		SelectDB: target.DB, DisableCache: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func rawGet(t testing.TB, r rueidis.Client, key string) []byte {
	t.Helper()
	b, err := r.Do(context.Background(), r.B().Get().Key(key).Build()).AsBytes()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return b
}

func rawSet(t testing.TB, r rueidis.Client, key string, val []byte) {
	t.Helper()
	if err := r.Do(context.Background(), r.B().Set().Key(key).Value(rueidis.BinaryString(val)).Build()).Error(); err != nil {
		t.Fatalf("SET %s: %v", key, err)
	}
}

func valueKey(t testing.TB, c *cache.Cache, k cache.Key) string {
	t.Helper()
	vk, err := cache.ValueKey(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return vk
}

// fillItem caches v under itemKey(id) and returns its value key.
func fillItem(t testing.TB, c *cache.Cache, id int64, v item) string {
	t.Helper()
	if _, err := cache.Get(context.Background(), c, itemKey(id), cache.Options{TTL: time.Minute}, func(context.Context) (item, error) { return v, nil }); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)
	return valueKey(t, c, itemKey(id))
}

// Defect 2: a corrupt value found while another process holds the fill
// lease was handed to the caller as an empty row with a nil error.
func TestCorruptValueWhileLeaseHeldIsMiss(t *testing.T) {
	target := testinfra.Redis(t)
	c, _ := newCache(t, target, nil)
	raw := rawClient(t, target)
	vk := valueKey(t, c, itemKey(7))
	lease := strings.Replace(vk, ":q:{", ":l:{", 1)
	rawSet(t, raw, lease, []byte("someone-else"))
	rawSet(t, raw, vk, []byte("\x00garbage-that-is-not-a-value"))

	var loads atomic.Int64
	v, err := cache.Get(context.Background(), c, itemKey(7), cache.Options{}, counted(&loads, func(context.Context) (item, error) {
		return item{ID: 7, Name: "seven"}, nil
	}))
	if err != nil || v.Name != "seven" || loads.Load() != 1 {
		t.Fatalf("got %+v, err %v, loads %d: want the loaded row", v, err, loads.Load())
	}
}

// Defect 3: values that still decode but were altered, or copied from
// another key, must be misses (loaded from the database), and reported.
func TestTamperedValuesAreMisses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, raw rueidis.Client, c *cache.Cache, vk string)
	}{
		{"flipped byte", func(t *testing.T, raw rueidis.Client, c *cache.Cache, vk string) {
			b := rawGet(t, raw, vk)
			i := strings.Index(string(b), "alpha")
			if i < 0 {
				t.Fatalf("row name not found in %q", b)
			}
			b[i+4] = 'b' // "alphb": still valid msgpack
			rawSet(t, raw, vk, b)
		}},
		{"copied from another key", func(t *testing.T, raw rueidis.Client, c *cache.Cache, vk string) {
			other := fillItem(t, c, 2, item{ID: 2, Name: "other agent's row"})
			rawSet(t, raw, vk, rawGet(t, raw, other))
		}},
		{"not-found flag set", func(t *testing.T, raw rueidis.Client, c *cache.Cache, vk string) {
			b := rawGet(t, raw, vk)
			b[0] |= 0x01
			rawSet(t, raw, vk, b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := testinfra.Redis(t)
			c, obs := newCache(t, target, nil)
			raw := rawClient(t, target)
			row := item{ID: 1, Name: "alpha"}
			vk := fillItem(t, c, 1, row)
			tc.tamper(t, raw, c, vk)
			// Another process reads it: a miss, loaded from the database.
			c2, obs2 := newCache(t, target, nil)
			var loads atomic.Int64
			v, err := cache.Get(context.Background(), c2, itemKey(1), cache.Options{}, counted(&loads, func(context.Context) (item, error) { return row, nil }))
			if err != nil || v != row || loads.Load() != 1 {
				t.Fatalf("got %+v, err %v, %d loads: want %+v from the database", v, err, loads.Load(), row)
			}
			// The filling process never serves a wrong row either.
			for range 3 {
				v, err := cache.Get(context.Background(), c, itemKey(1), cache.Options{}, func(context.Context) (item, error) { return row, nil })
				if err != nil || v != row {
					t.Fatalf("filling cache: got %+v, err %v", v, err)
				}
			}
			if n := obs.Corrupt.Load() + obs2.Corrupt.Load(); n == 0 {
				t.Fatalf("tampered value not reported (errors %d)", obs.Errors.Load()+obs2.Errors.Load())
			}
		})
	}
}

// Defect 4: a version key holding something other than an integer must not
// open the breaker for the whole process, nor keep its invalidation pending.
func TestNonIntegerVersionKey(t *testing.T) {
	target := testinfra.Redis(t)
	c, obs := newCache(t, target, nil)
	raw := rawClient(t, target)
	ctx := context.Background()
	fillItem(t, c, 1, item{ID: 1, Name: "one"})
	rowKey := target.Prefix + ":v:{items}:r:id:" + cache.Row("items", "id", int64(1)).ID
	rawGet(t, raw, rowKey) // exists
	rawSet(t, raw, rowKey, []byte("not-a-number"))

	var loads atomic.Int64
	load := counted(&loads, func(context.Context) (item, error) { return item{ID: 1, Name: "one"}, nil })
	for range 10 {
		if v, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load); err != nil || v.Name != "one" {
			t.Fatalf("get: %+v %v", v, err)
		}
		cache.WaitBackground(c)
	}
	if !c.RedisAvailable() {
		t.Fatal("one bad version key opened the Redis breaker")
	}
	// Other keys are still cached.
	fillItem(t, c, 2, item{ID: 2, Name: "two"})
	before := obs.Hits()
	if _, err := cache.Get(ctx, c, itemKey(2), cache.Options{}, load); err != nil || obs.Hits() != before+1 {
		t.Fatalf("other key not served from the cache: err=%v hits %d -> %d", err, before, obs.Hits())
	}
	// The bad key itself is repaired: its invalidation lands and it caches again.
	rawSet(t, raw, rowKey, []byte("still-not-a-number"))
	if err := c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", int64(1))}); err != nil {
		t.Fatalf("invalidate: %v", err)
	}
	if c.Pending() != 0 {
		t.Fatalf("%d bumps pending", c.Pending())
	}
	n := loads.Load()
	for range 3 {
		if _, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load); err != nil {
			t.Fatal(err)
		}
		cache.WaitBackground(c)
	}
	if loads.Load() != n+1 {
		t.Fatalf("%d loads for 3 gets after repair, want 1", loads.Load()-n)
	}
}

// Defect 7: while Redis stays down the breaker must stay open (half-open
// probes fail and reopen it), not close and reopen again and again.
func TestRedisBreakerDoesNotFlapWhileDown(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "flap"}
	var mu sync.Mutex
	var transitions []resilience.State
	c, _ := newCache(t, target, func(cfg *cache.Config) {
		cfg.RedisTimeout = 50 * time.Millisecond
		cfg.BreakerDelay = 30 * time.Millisecond
		cfg.RetryInterval = 10 * time.Millisecond
		cfg.MaxRetryInterval = 30 * time.Millisecond
		cfg.OnRedisStateChange = func(ch resilience.StateChange) {
			mu.Lock()
			transitions = append(transitions, ch.To)
			mu.Unlock()
		}
	})
	ctx := context.Background()
	load := func(context.Context) (item, error) { return item{ID: 1}, nil }
	if _, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// A mixed workload: writes whose invalidations stay pending, reads of
	// those rows and of others, some callers giving up early.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i := int64(0); time.Now().Before(deadline); i++ {
		if i%10 == 0 {
			_ = c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", i%3)})
		}
		cctx, cancel := context.WithTimeout(ctx, time.Duration(i%4)*10*time.Millisecond+time.Millisecond)
		if _, err := cache.Get(cctx, c, itemKey(i%5), cache.Options{}, load); err != nil && cctx.Err() == nil {
			t.Fatal(err)
		}
		cancel()
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	closed := 0
	for _, s := range transitions {
		if s == resilience.Closed {
			closed++
		}
	}
	t.Logf("transitions while down: %v", transitions)
	if len(transitions) == 0 || transitions[0] != resilience.Open {
		t.Fatalf("breaker never opened: %v", transitions)
	}
	if closed > 0 {
		t.Fatalf("breaker closed %d times while Redis was down: %v", closed, transitions)
	}
}

// Defect 6 (cache side): Invalidate after Close is an error, never nil.
func TestInvalidateAfterCloseIsError(t *testing.T) {
	c, _ := newCache(t, testinfra.Redis(t), nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	err := c.Invalidate(context.Background(), []string{"items"}, nil)
	if !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("invalidate after close: %v", err)
	}
	var b cache.Batch
	b.Add([]string{"items"})
	if err := c.Apply(context.Background(), &b); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("apply after close: %v", err)
	}
}

// With Config.Secret, values are bound to the secret too: a process with
// another secret (or none) treats them as misses, and reports them.
func TestSecretBindsValues(t *testing.T) {
	target := testinfra.Redis(t)
	withSecret := func(s string) func(*cache.Config) {
		return func(cfg *cache.Config) { cfg.Secret = cache.Secret(s) }
	}
	a, _ := newCache(t, target, withSecret("first secret, 32 bytes long....."))
	row := item{ID: 1, Name: "alpha"}
	fillItem(t, a, 1, row)
	for _, tc := range []struct {
		name    string
		mod     func(*cache.Config)
		wantHit bool
	}{
		{"same secret", withSecret("first secret, 32 bytes long....."), true},
		{"other secret", withSecret("second secret"), false},
		{"no secret", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, obs := newCache(t, target, tc.mod)
			var loads atomic.Int64
			v, err := cache.Get(context.Background(), c, itemKey(1), cache.Options{}, counted(&loads, func(context.Context) (item, error) { return row, nil }))
			if err != nil || v != row {
				t.Fatalf("got %+v %v", v, err)
			}
			if hit := loads.Load() == 0; hit != tc.wantHit {
				t.Fatalf("hit = %v, want %v", hit, tc.wantHit)
			}
			if !tc.wantHit && obs.Corrupt.Load() == 0 {
				t.Fatal("value under another secret not reported")
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const secret = "hunter2-very-secret"
	cfg := cache.Config{Secret: cache.Secret(secret), Addrs: []string{"x:1"}}
	var sb strings.Builder
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		sb.WriteString(fmt.Sprintf(f, cfg))
		sb.WriteString(fmt.Sprintf(f, cfg.Secret))
	}
	j, err := json.Marshal(struct{ S cache.Secret }{cfg.Secret})
	if err != nil {
		t.Fatal(err)
	}
	sb.Write(j)
	slog.New(slog.NewTextHandler(&sb, nil)).Info("cfg", "secret", cfg.Secret, "cfg", cfg)
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("cfg", "secret", cfg.Secret)
	out := sb.String()
	if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
		t.Fatalf("secret printed: %s", out)
	}
	if !strings.Contains(out, "[REDACTED]") {
		t.Fatalf("no redaction marker in %s", out)
	}
}

// Defect 9 (cache side): an uncertain invalidation is applied now and again
// after each recheck delay; Close applies the remaining ones at once.
func TestInvalidateUncertainRechecks(t *testing.T) {
	target := testinfra.Redis(t)
	ctx := context.Background()
	c, obs := newCache(t, target, func(cfg *cache.Config) {
		cfg.UncertainRecheck = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, time.Hour}
	})
	raw := rawClient(t, target)
	rowKey := target.Prefix + ":v:{items}:r:id:" + cache.Row("items", "id", int64(1)).ID
	if err := c.InvalidateUncertain(ctx, nil, []cache.RowRef{cache.Row("items", "id", int64(1))}); err != nil {
		t.Fatal(err)
	}
	first := string(rawGet(t, raw, rowKey))
	eventually(t, 5*time.Second, "two rechecks", func() bool { return obs.Invalidations.Load() == 3 })
	if second := string(rawGet(t, raw, rowKey)); second == first {
		t.Fatal("rechecks did not bump the row version")
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close waited %v for a recheck due in an hour", d)
	}
	if n := obs.Invalidations.Load(); n != 4 {
		t.Fatalf("%d invalidations, want the last recheck applied by Close (4)", n)
	}
}

// Issue 12 item 5: a value whose TTL is shorter than LeaseTTL expired while
// the lease of the fill that stored it was still held; the first reader
// after expiry then polled the whole LeaseWait for a fill nobody was doing.
func TestExpiredValueDoesNotWaitOnFinishedFillLease(t *testing.T) {
	target := testinfra.Redis(t)
	c, _ := newCache(t, target, func(cfg *cache.Config) {
		cfg.LeaseTTL = 20 * time.Second
		cfg.LeaseWait = 5 * time.Second
	})
	raw := rawClient(t, target)
	ctx := context.Background()
	var loads atomic.Int64
	load := counted(&loads, func(context.Context) (item, error) { return item{ID: 9, Name: "nine"}, nil })
	opts := cache.Options{TTL: 150 * time.Millisecond}
	if _, err := cache.Get(ctx, c, itemKey(9), opts, load); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)
	vk := valueKey(t, c, itemKey(9))
	eventually(t, 5*time.Second, "the value to expire", func() bool {
		n, err := raw.Do(ctx, raw.B().Exists().Key(vk).Build()).AsInt64()
		return err == nil && n == 0
	})
	start := time.Now()
	v, err := cache.Get(ctx, c, itemKey(9), opts, load)
	took := time.Since(start)
	if err != nil || v.Name != "nine" || loads.Load() != 2 {
		t.Fatalf("got %+v, err %v, loads %d: want the row loaded again", v, err, loads.Load())
	}
	if took > 2*time.Second { // LeaseWait is 5s: it waited on the finished fill's lease
		t.Fatalf("the read after expiry took %v: it waited on a lease no fill was using", took)
	}
}

// Close after Redis came back applies every bump, including the last
// rechecks of uncertain invalidations that run while closing, although the
// Redis breaker is still open (no lookup has probed Redis since it
// returned). It used to report them as not applied, so a service's clean
// shutdown after a Redis outage failed.
func TestCloseAppliesClosingRechecksAfterRedisReturns(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "closing"}
	c, _ := newCache(t, target, func(cfg *cache.Config) {
		cfg.RedisTimeout = 50 * time.Millisecond
		cfg.BreakerDelay = time.Minute // nothing may close it during the test
		cfg.RetryInterval = 10 * time.Millisecond
		cfg.MaxRetryInterval = 30 * time.Millisecond
		cfg.UncertainRecheck = []time.Duration{time.Hour} // only the closing recheck runs
	})
	ctx := context.Background()
	load := func(context.Context) (item, error) { return item{ID: 1}, nil }
	if _, err := cache.Get(ctx, c, itemKey(1), cache.Options{}, load); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 5; i++ {
		_ = c.InvalidateUncertain(ctx, nil, []cache.RowRef{cache.Row("items", "id", i)})
	}
	if st := c.RedisState(); st != resilience.Open {
		t.Fatalf("Redis breaker %v after failed bumps, want open", st)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := c.Pending(); n > 0 {
		t.Fatalf("%d bumps still pending 5s after Redis returned", n)
	}
	if st := c.RedisState(); st != resilience.Open {
		t.Fatalf("Redis breaker %v before Close; the test needs it still open", st)
	}
	t.Logf("before close: pending %d, state %v, available %v", c.Pending(), c.RedisState(), c.RedisAvailable())
	if err := c.Close(); err != nil {
		t.Fatalf("Close after Redis returned: %v", err)
	}
}
