package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// versionMemo keeps version numbers this process read through the
// in-process tier, so a lookup whose versions are all known makes no rueidis
// call for them. It is kept exact by the same invalidation pushes that
// maintain rueidis' tier (ClientOption.OnInvalidations, which rueidis calls
// after dropping its own entry): a push deletes the key; a lost connection
// (nil) clears everything. A read stores what it fetched only if no push for
// any of its keys (and no clear) arrived while it was fetching: seq counts
// pushes, pushed remembers the seq of each key's last push, so a value read
// just before its push can never be stored after it, while pushes for
// unrelated keys do not keep a busy process from memoizing. Entries also
// expire with ClientTTL, like rueidis' own. gen moves on every push and
// whenever a stored version replaces a different one: while it stays put,
// no known version changed (Typed's stamps rely on it).
type versionMemo struct {
	mu  sync.RWMutex
	seq atomic.Uint64
	gen atomic.Uint64
	m   map[string]memoVersion
	ttl time.Duration
	// pushed holds the seq of each key's last push (bounded: when full it
	// is cleared and clearedAt raised, which refuses older fetches).
	pushed    map[string]uint64
	clearedAt uint64
	// held, when not nil, queues pushes instead of applying them (tests
	// force a push to arrive late with it).
	held *[][]rueidis.RedisMessage
}

type memoVersion struct {
	v     int64
	until time.Time
}

func newVersionMemo(ttl time.Duration) *versionMemo {
	return &versionMemo{m: make(map[string]memoVersion), pushed: make(map[string]uint64), ttl: ttl}
}

// onInvalidations is the rueidis hook.
func (vm *versionMemo) onInvalidations(msgs []rueidis.RedisMessage) {
	vm.mu.Lock()
	// Tests: the push is "still in flight". A lost connection (nil) is
	// never held: the reconnect fence (fence.go) relies on the memo being
	// empty from the moment of the loss.
	if vm.held != nil && msgs != nil {
		*vm.held = append(*vm.held, msgs)
		vm.mu.Unlock()
		return
	}
	seq := vm.seq.Add(1)
	if msgs == nil {
		clear(vm.m)
		clear(vm.pushed)
		vm.clearedAt = seq
	} else {
		if len(vm.pushed) > 1<<16 {
			clear(vm.pushed)
			vm.clearedAt = seq
		}
		for _, m := range msgs {
			if k, err := m.ToString(); err == nil {
				delete(vm.m, k)
				vm.pushed[k] = seq
			}
		}
	}
	vm.gen.Add(1)
	vm.mu.Unlock()
}

// lookup fills vers from the memo; it reports whether every key was there.
func (vm *versionMemo) lookup(keys []string, vers []int64, now time.Time) bool {
	vm.mu.RLock()
	defer vm.mu.RUnlock()
	for i, k := range keys {
		e, ok := vm.m[k]
		if !ok || now.After(e.until) {
			return false
		}
		vers[i] = e.v
	}
	return true
}

// store records versions fetched since seq was s0, unless a push arrived
// meanwhile.
func (vm *versionMemo) store(s0 uint64, keys []string, vers []int64, now time.Time) {
	until := now.Add(vm.ttl)
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.clearedAt > s0 {
		return
	}
	for _, k := range keys {
		if vm.pushed[k] > s0 {
			return // pushed while we fetched: what we read may be older
		}
	}
	if len(vm.m) > 1<<16 { // bound memory; entries are cheap to refetch
		clear(vm.m)
	}
	changed := false
	for i, k := range keys {
		if old, ok := vm.m[k]; ok && old.v != vers[i] {
			changed = true
		}
		vm.m[k] = memoVersion{v: vers[i], until: until}
	}
	if changed {
		// A version changed without its push having arrived yet: tell
		// typed-tier stamps (Typed) that a known version moved.
		vm.gen.Add(1)
	}
}

// lookupUntil is lookup that also returns the earliest expiry of the
// entries it used.
func (vm *versionMemo) lookupUntil(keys []string, vers []int64, now time.Time) (time.Time, bool) {
	var first time.Time
	vm.mu.RLock()
	defer vm.mu.RUnlock()
	for i, k := range keys {
		e, ok := vm.m[k]
		if !ok || now.After(e.until) {
			return first, false
		}
		if i == 0 || e.until.Before(first) {
			first = e.until
		}
		vers[i] = e.v
	}
	return first, true
}

// hold starts queueing pushes; the returned function applies them.
func (vm *versionMemo) hold() (release func()) {
	vm.mu.Lock()
	vm.held = new([][]rueidis.RedisMessage)
	vm.mu.Unlock()
	return func() {
		vm.mu.Lock()
		q := *vm.held
		vm.held = nil
		vm.mu.Unlock()
		for _, msgs := range q {
			vm.onInvalidations(msgs)
		}
	}
}
