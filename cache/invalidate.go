package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/rueidis"
)

// Invalidate is called after a write committed. Every cached read that
// depends on one of tables, or on one of rows (or on their tables as a
// whole), is invalidated: the version keys involved are bumped in Redis, so
// later lookups compute new value keys, and the in-process tiers of all
// processes drop the old versions on the invalidation push.
//
// tables are tables the write may have changed anywhere (UPDATE without a
// key, DELETE ... WHERE status = ..., cascades, `-- @invalidates`); rows
// are rows it changed identified by a key column. Both bump the table
// version that list and aggregate reads depend on.
//
// If Redis cannot be updated the bumps stay pending: they are retried in
// the background with backoff and reported through Observer on every
// attempt, reads in this process that depend on them bypass the cache until
// they succeed, and the error returned matches ErrInvalidationPending. The
// database write is not affected; TTLs bound the staleness other processes
// may see meanwhile.
func (c *Cache) Invalidate(ctx context.Context, tables []string, rows []RowRef) error {
	if c == nil {
		return nil
	}
	return c.invalidate(ctx, tables, rows, false)
}

// InvalidateUncertain is Invalidate for a write whose commit outcome is
// unknown: a timeout or a broken connection after COMMIT (or an autocommit
// write statement) was sent. Such a write may have committed and may
// become visible only later (e.g. a commit waiting for a synchronous
// standby is released after the client gave up), after this invalidation:
// a reader in between would cache the old rows under the new versions. So
// the bumps are applied now and again after each Config.UncertainRecheck
// delay (in the background; Close applies the remaining ones at once).
// The error is that of the first attempt.
func (c *Cache) InvalidateUncertain(ctx context.Context, tables []string, rows []RowRef) error {
	if c == nil {
		return nil
	}
	err := c.invalidate(ctx, tables, rows, false)
	if errors.Is(err, ErrClosed) || len(c.cfg.UncertainRecheck) == 0 {
		return err
	}
	tables, rows = slices.Clone(tables), slices.Clone(rows)
	start := time.Now()
	c.background(func() {
		for _, d := range c.cfg.UncertainRecheck {
			t := time.NewTimer(time.Until(start.Add(d)))
			select {
			case <-t.C:
				_ = c.invalidate(context.Background(), tables, rows, false)
			case <-c.stop:
				t.Stop()
				_ = c.invalidate(context.Background(), tables, rows, true)
				return
			}
		}
	})
	return err
}

// Closed reports whether Close was called: Invalidate then fails with
// ErrClosed, and writers must not report success for writes whose
// invalidation cannot run.
func (c *Cache) Closed() bool { return c != nil && c.closed.Load() }

// invalidate bumps the versions of tables and rows. closing lets the last
// rechecks of InvalidateUncertain run while Close waits for them.
func (c *Cache) invalidate(ctx context.Context, tables []string, rows []RowRef, closing bool) error {
	keys := c.bumpKeys(tables, rows)
	if len(keys) == 0 {
		return nil
	}
	if c.closed.Load() && !closing {
		c.obs.CacheInvalidate(InvalidateEvent{Tables: tables, Rows: rows, Keys: len(keys), Attempt: 1, Err: ErrClosed, Pending: c.Pending()})
		return ErrClosed
	}
	var failed []string
	var err error
	// While closing there is no later retry: try Redis even when the
	// breaker is open (it may be back without a lookup having probed it).
	if c.br.isOpen() && !closing {
		failed, err = keys, fmt.Errorf("cache: redis breaker open")
	} else {
		failed, err = c.bump(context.WithoutCancel(ctx), keys)
		if err != nil {
			c.redisError(ctx, "invalidate", "", err, noPermit)
		}
	}
	ev := InvalidateEvent{Tables: tables, Rows: rows, Keys: len(keys), Attempt: 1}
	if err == nil {
		c.redisAnswered()
		ev.Pending = c.Pending()
		c.obs.CacheInvalidate(ev)
		return nil
	}
	c.addPending(failed, tables, rows)
	ev.Err, ev.Pending = err, c.Pending()
	c.obs.CacheInvalidate(ev)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return fmt.Errorf("%w: %d of %d version bumps failed: %w", ErrInvalidationPending, len(failed), len(keys), err)
}

// Batch collects invalidations (e.g. during a transaction) to apply after
// commit with Cache.Apply; drop it on rollback. The zero value is empty and
// ready to use. Not safe for concurrent use.
type Batch struct {
	Tables []string
	Rows   []RowRef
}

// Add records tables and rows a statement wrote.
func (b *Batch) Add(tables []string, rows ...RowRef) {
	b.Tables = append(b.Tables, tables...)
	b.Rows = append(b.Rows, rows...)
}

// Empty reports whether nothing was recorded.
func (b *Batch) Empty() bool { return len(b.Tables) == 0 && len(b.Rows) == 0 }

// Reset empties the batch.
func (b *Batch) Reset() { b.Tables, b.Rows = b.Tables[:0], b.Rows[:0] }

// Apply invalidates everything b recorded (see Invalidate).
func (c *Cache) Apply(ctx context.Context, b *Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	return c.Invalidate(ctx, b.Tables, b.Rows)
}

// bumpChunk bounds the keys sent in one pipeline: each chunk gets its own
// RedisTimeout, so a large invalidation (a bulk insert naming thousands of
// rows, or everything pending after an outage) cannot exceed one timeout
// every time it is retried and stay pending forever.
const bumpChunk = 256

// bump runs the bump scripts on keys, in pipelines of at most bumpChunk
// keys each bounded by RedisTimeout, and returns the keys that failed
// (after the first failed chunk, the rest are not tried).
func (c *Cache) bump(ctx context.Context, keys []string) (failed []string, err error) {
	for len(keys) > 0 {
		n := min(len(keys), bumpChunk)
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
		f, e := c.bumpOnce(rctx, keys[:n])
		cancel()
		failed = append(failed, f...)
		keys = keys[n:]
		if e != nil {
			return append(failed, keys...), e
		}
	}
	return failed, nil
}

// bumpOnce runs the bump scripts on keys in one pipeline and returns the
// keys that failed.
func (c *Cache) bumpOnce(ctx context.Context, keys []string) (failed []string, err error) {
	// Row counters go through their table's counter (a third key); one
	// pipeline, one round trip.
	execs := make([]rueidis.LuaExec, len(keys))
	for i, k := range keys {
		ks := []string{k, epochKeyOf(k)}
		if isRowKey(k) {
			ks = append(ks, tableKeyOfRow(k))
		}
		execs[i] = rueidis.LuaExec{Keys: ks, Args: []string{c.versionTTL}}
	}
	resps := bumpScript.ExecMulti(ctx, c.client, execs...)
	until := time.Now().Add(c.cfg.ClientTTL)
	c.bumpMu.Lock()
	for i, r := range resps {
		v, epoch, e := parseBump(r)
		if e != nil {
			failed = append(failed, keys[i])
			if err == nil {
				err = e
			}
			continue
		}
		if b, ok := c.bumps[keys[i]]; !ok || b.ver < v || b.epoch != epoch {
			c.bumps[keys[i]] = localBump{ver: v, epoch: epoch, until: until}
		}
	}
	// Entries older than ClientTTL are useless: no in-process copy outlives it.
	if now := time.Now(); len(c.bumps) > 1024 && now.Sub(c.lastPrune) > time.Second {
		c.lastPrune = now
		for k, b := range c.bumps {
			if now.After(b.until) {
				delete(c.bumps, k)
			}
		}
	}
	c.nbumps.Store(int32(len(c.bumps)))
	c.bumpGen.Add(1)
	c.bumpMu.Unlock()
	return failed, err
}

func (c *Cache) addPending(keys []string, tables []string, rows []RowRef) {
	now := time.Now()
	c.pendMu.Lock()
	for _, k := range keys {
		if _, ok := c.pending[k]; !ok {
			c.pending[k] = &pendingBump{tables: tables, rows: rows, since: now}
		}
	}
	c.npending.Store(int32(len(c.pending)))
	c.pendMu.Unlock()
}

func (c *Cache) anyPending(keys []string) bool {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	for _, k := range keys {
		if _, ok := c.pending[k]; ok {
			return true
		}
	}
	return false
}

// retryLoop retries pending bumps with exponential backoff until they
// succeed or the cache closes (then it makes one last attempt). A new
// failure or the Redis breaker closing restarts the backoff.
func (c *Cache) retryLoop() {
	defer close(c.loopDone)
	interval := c.cfg.RetryInterval
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-c.stop:
			timer.Stop()
			c.retryPending()
			return
		case <-c.wake:
			// A new failed invalidation, or Redis answering again: retry
			// soon, whatever the backoff had grown to (other processes may
			// serve the old values until the bumps land).
			interval = c.cfg.RetryInterval
			timer.Reset(interval)
			continue
		case <-timer.C:
		}
		if c.retryPending() {
			interval = c.cfg.RetryInterval
			continue
		}
		interval = min(2*interval, c.cfg.MaxRetryInterval)
		timer.Reset(interval)
	}
}

// redisAnswered wakes the retry loop when Redis answered this process while
// bumps are pending: they can land now, and other processes may serve old
// values until they do.
func (c *Cache) redisAnswered() {
	if c.npending.Load() > 0 {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// retryPending tries every pending bump once; it reports whether none is
// left.
func (c *Cache) retryPending() bool {
	c.pendMu.Lock()
	if len(c.pending) == 0 {
		c.pendMu.Unlock()
		return true
	}
	keys := make([]string, 0, len(c.pending))
	entries := make([]*pendingBump, 0, len(c.pending))
	for k, p := range c.pending {
		p.attempts++
		keys = append(keys, k)
		entries = append(entries, p)
	}
	c.pendMu.Unlock()

	failed, err := c.bump(context.Background(), keys)
	failedSet := make(map[string]struct{}, len(failed))
	for _, k := range failed {
		failedSet[k] = struct{}{}
	}
	c.pendMu.Lock()
	for _, k := range keys {
		if _, ok := failedSet[k]; !ok {
			delete(c.pending, k)
		}
	}
	left := len(c.pending)
	c.npending.Store(int32(left))
	c.pendMu.Unlock()

	// Report per original invalidation (entries sharing tables/rows once).
	seen := make(map[*pendingBump]bool)
	for i, p := range entries {
		if seen[p] {
			continue
		}
		seen[p] = true
		_, stillFailed := failedSet[keys[i]]
		ev := InvalidateEvent{Tables: p.tables, Rows: p.rows, Keys: 1, Attempt: p.attempts + 1, Pending: left, Lag: time.Since(p.since)}
		if stillFailed {
			ev.Err = err
		}
		c.obs.CacheInvalidate(ev)
	}
	if l := c.cfg.Logger; l != nil {
		if err != nil {
			l.LogAttrs(context.Background(), slogWarn, "cache: invalidation retry failed", slogErr(err))
		} else {
			l.LogAttrs(context.Background(), slogInfo, "cache: pending invalidations applied")
		}
	}
	return left == 0
}

// parseBump reads bumpScript's {version, epoch} reply. An epoch that is
// missing or malformed comes back as 0, which no validated epoch equals.
func parseBump(r rueidis.RedisResult) (ver, epoch int64, err error) {
	arr, err := r.ToArray()
	if err != nil {
		return 0, 0, err
	}
	if len(arr) != 2 {
		return 0, 0, fmt.Errorf("cache: bump script returned %d values", len(arr))
	}
	if ver, err = arr[0].AsInt64(); err != nil {
		return 0, 0, err
	}
	if s, err := arr[1].ToString(); err == nil {
		epoch, _ = parseEpoch(s)
	}
	return ver, epoch, nil
}
