package cache

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// The reconnect fence (issue 11). While this process cannot reach Redis,
// other processes may write to the database and fail to bump their
// versions just the same: their bumps stay pending (retried with backoff),
// their writes are acknowledged. Whatever this process reads from Redis
// after such a loss (versions, epochs, values) may therefore be older than
// a write acknowledged meanwhile. So a loss event (rueidis reporting a lost
// connection, or the breaker opening) starts a new fence generation, and
// from then on every table's epoch is renewed, unconditionally, before
// this process uses it again: a new random epoch under which nothing was
// ever stored, so every value cached before becomes unreachable for all
// processes, and the next lookups load from the database, which holds the
// acknowledged writes. Each table is renewed once per generation: the first
// lookup (or fill check) needing it leads the renewal, concurrent ones wait
// for it (a failed renewal is an error: they fail open). The version memo
// is cleared at the event, so no lookup takes an epoch from it, and an
// epoch validated before the event is trusted again only after the table
// was renewed. Nothing of this is on the hit path: hits answered from the
// version memo or a Typed tier never look at the fence (the event empties
// the memo); the slow path loads one atomic counter while no loss ever
// happened.
type fence struct {
	// gen counts loss events; 0: none since New.
	gen atomic.Uint64

	mu sync.RWMutex
	// renewed holds, per epoch key, the generation its last renewal by
	// this process served: the table is fenced while renewed < gen.
	renewed map[string]uint64
	// flights are the renewals under way, one per epoch key.
	flights map[string]*renewal
	// renewals counts the epochs this process renewed (tests).
	renewals atomic.Int64
}

// renewal is one epoch renewal under way; done is closed when it ended.
type renewal struct {
	gen  uint64
	done chan struct{}
	n    int64
	err  error
}

// renewScript gives an epoch key a new epoch "<run_id>:<ARGV[1]>" whatever
// it holds (epochScript keeps an epoch of the current server).
var renewScript = rueidis.NewLuaScript(`
local rid = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local n = rid .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], n)
return n`)

// onInvalidations is the rueidis hook: nil means a lost connection (or a
// server-wide invalidation, such as FLUSHALL), a loss event; every push
// also goes to the version memo.
func (c *Cache) onInvalidations(msgs []rueidis.RedisMessage) {
	if msgs == nil {
		// First the generation, then the memo: a lookup that misses the
		// cleared memo already sees the table fenced.
		c.fence.gen.Add(1)
	}
	if c.vmemo != nil {
		c.vmemo.onInvalidations(msgs)
	}
}

// breakerOpened is the breaker's hook (called with its lock held): Redis
// failed for this process, so it may have failed for others too, whose
// invalidations may then be pending. A loss event, like a lost connection.
func (c *Cache) breakerOpened() {
	c.fence.gen.Add(1)
	if c.vmemo != nil {
		c.vmemo.onInvalidations(nil)
	}
}

// fenced reports whether the epoch key k must be renewed before use: a loss
// event happened since this process last renewed it.
func (c *Cache) fenced(k string) bool {
	g := c.fence.gen.Load()
	if g == 0 {
		return false
	}
	c.fence.mu.RLock()
	r := c.fence.renewed[k]
	c.fence.mu.RUnlock()
	return r < g
}

// renewEpochs stores in vers[i] a new epoch of keys[i] for each i in idx,
// renewed in generation g or later; keys renewed since by another lookup
// are left in plain for the caller to validate. One renewal per key runs
// at a time; concurrent callers wait for it.
func (c *Cache) renewEpochs(ctx context.Context, keys []string, idx []int, vers []int64, g uint64) (plain []int, err error) {
	type slot struct {
		i int
		r *renewal
	}
	var lead, join []slot
	f := &c.fence
	f.mu.Lock()
	if f.renewed == nil {
		f.renewed, f.flights = make(map[string]uint64), make(map[string]*renewal)
	}
	for _, i := range idx {
		k := keys[i]
		switch r := f.flights[k]; {
		case f.renewed[k] >= g:
			plain = append(plain, i)
		case r != nil && r.gen >= g:
			join = append(join, slot{i, r})
		default:
			r = &renewal{gen: g, done: make(chan struct{})}
			f.flights[k] = r
			lead = append(lead, slot{i, r})
		}
	}
	f.mu.Unlock()

	if len(lead) > 0 {
		execs := make([]rueidis.LuaExec, len(lead))
		for j, s := range lead {
			execs[j] = rueidis.LuaExec{Keys: []string{keys[s.i]}, Args: []string{newEpochNumber()}}
		}
		// Waiters share this renewal: it must not end with its leader's
		// caller.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RedisTimeout)
		resps := renewScript.ExecMulti(rctx, c.client, execs...)
		cancel()
		for j, s := range lead {
			v, err := resps[j].ToString()
			n, ok := parseEpoch(v)
			if err == nil && !ok {
				err = &epochError{value: v}
			}
			s.r.n, s.r.err = n, err
			if err == nil {
				// Trusted before the table counts as renewed: until then
				// the fence keeps it from being used.
				c.trustEpoch(keys[s.i], v)
				f.renewals.Add(1)
			}
		}
		f.mu.Lock()
		if len(f.renewed) > 1<<16 { // bound memory: forgetting only renews again
			clear(f.renewed)
		}
		for _, s := range lead {
			k := keys[s.i]
			if s.r.err == nil && f.renewed[k] < s.r.gen {
				f.renewed[k] = s.r.gen
			}
			if f.flights[k] == s.r {
				delete(f.flights, k)
			}
			close(s.r.done)
		}
		f.mu.Unlock()
	}
	for _, s := range slices.Concat(lead, join) {
		select {
		case <-s.r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if s.r.err != nil {
			return nil, s.r.err
		}
		vers[s.i] = s.r.n
	}
	return plain, nil
}
