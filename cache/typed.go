package cache

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Typed is a typed in-process tier for one query: decoded values keyed by
// the query's arguments (their bytes, not a hash), each remembered with the
// version keys and versions it was cached under. A hit looks the versions
// up in the exact version memo (kept exact by Redis' invalidation pushes,
// raised by this process' own bumps, see doc.go) and serves the value only
// if they are all known and equal: then the value key the slow path would
// compute is the one this value was verified or stored under, so a Typed
// hit answers exactly what Get would, without building the key, touching
// rueidis, checking the MAC or decoding. Values enter the tier only after
// they were verified under their value key (a Redis or in-process hit) or
// stored there by this process' fill (whose version check passed). Every
// caller gets its own copy (the copy function given to NewTyped).
//
// Typed.Get never answers under Config.Strict; lookups with Options.Strict
// must not call it either (GetTyped stores nothing for them).
//
// A nil *Typed is valid and never hits.
type Typed[T any] struct {
	c     *Cache
	query string
	copy  func(T) T
	tab   entryMap[typedEntry[T]]
}

type typedEntry[T any] struct {
	val      T
	negative bool
	vkeys    []string
	vers     []int64
	soft     time.Time // when the value goes stale (monotonic)
	stamp    atomic.Pointer[typedStamp]
}

// NewTyped returns a tier for query (the name reported to the Observer).
// copyFn returns a copy of a value that shares no mutable memory with it
// (slices, maps, pointers); nil means the reflection-based copy Get uses. It returns nil (no tier) when c is nil,
// has no version memo (DisableClientCache or a client it did not create) or
// keeps no decoded values (DecodedEntries < 0), or when T cannot be copied.
func NewTyped[T any](c *Cache, query string, copyFn func(T) T) *Typed[T] {
	if c == nil || c.vmemo == nil || !c.memo.enabled() {
		return nil
	}
	if copyFn == nil {
		var zero T
		if _, ok := deepCopy(&c.memo.copier, zero); !ok {
			return nil
		}
		cp := &c.memo.copier
		copyFn = func(v T) T { v, _ = deepCopy(cp, v); return v }
	}
	t := &Typed[T]{c: c, query: query, copy: copyFn}
	t.tab.init()
	return t
}

// Get returns a copy of the value cached for the argument bytes akey (see
// AppendArgs) when its versions are current at now (a clock reading with a
// monotonic part, such as time.Now() or Clock()); negative reports a cached not-found. ok is false
// when the caller must take the slow path (GetTyped).
func (t *Typed[T]) Get(akey []byte, now time.Time) (v T, negative, ok bool) {
	if t == nil {
		return v, false, false
	}
	c := t.c
	if c.closed.Load() || c.cfg.Strict || c.br.isOpen() {
		return v, false, false
	}
	e := t.tab.get(akey)
	if e == nil {
		return v, false, false
	}
	if !now.Before(e.soft) {
		return v, false, false // stale: the slow path serves it and refreshes
	}
	if !t.current(e, now) {
		return v, false, false
	}
	if c.npending.Load() > 0 && c.anyPending(e.vkeys) {
		return v, false, false
	}
	c.obs.CacheHit(HitEvent{Query: t.query, Tier: TierLocal, Negative: e.negative})
	if e.negative {
		return v, true, true
	}
	return t.copy(e.val), false, true
}

// current reports whether e's versions are the current ones: those the
// version memo holds, raised by this process' own bumps. A successful
// check leaves a stamp (the memo's and the bumps' generations, read before
// it, and the earliest expiry it relied on); while neither generation
// moved and the stamp has not expired, nothing the check read changed, so
// the check is not repeated.
func (t *Typed[T]) current(e *typedEntry[T], now time.Time) bool {
	c := t.c
	seq, bgen := c.vmemo.gen.Load(), c.bumpGen.Load()
	if st := e.stamp.Load(); st != nil && st.seq == seq && st.bumpGen == bgen && now.Before(st.until) {
		return true
	}
	var buf [16]int64
	if len(e.vkeys) > len(buf) {
		return false
	}
	vers := buf[:len(e.vkeys)]
	until, ok := c.vmemo.lookupUntil(e.vkeys, vers, now)
	if !ok {
		return false
	}
	if c.nbumps.Load() > 0 {
		if b := c.applyBumpsAt(e.vkeys, vers, now); !b.IsZero() && b.Before(until) {
			until = b
		}
	}
	for i := range vers {
		if vers[i] != e.vers[i] {
			return false
		}
	}
	e.stamp.Store(&typedStamp{seq: seq, bumpGen: bgen, until: until})
	return true
}

// typedStamp records a successful version check of a typed entry.
type typedStamp struct {
	seq, bumpGen uint64
	until        time.Time
}

// NotFound is the error a negative hit returns (Config.NotFoundError).
func (t *Typed[T]) NotFound() error { return t.c.cfg.NotFoundError }

// put remembers v (which the caller may still use: it is copied) as the
// value of akey under lk's versions.
func (t *Typed[T]) put(akey string, lk *lookup, v T, negative bool, soft int64) {
	if t == nil || len(lk.vkeys) != len(lk.vers) || lk.strict {
		return
	}
	if !negative {
		v = t.copy(v)
	}
	// soft is a wall-clock reading, possibly from another process: turn it
	// into a monotonic deadline so hits compare without reading the wall
	// clock.
	now := time.Now()
	deadline := now.Add(time.Duration(soft - now.UnixNano()))
	vkeys, vers := lk.vkeys, lk.vers
	if lk.key.Deps.Link != nil {
		if len(lk.xkeys) != len(lk.xvers) || (len(lk.xkeys) == 0 && !negative) {
			return // links not checked: the slow path checks them
		}
		vkeys = append(slices.Clone(vkeys), lk.xkeys...)
		vers = append(slices.Clone(vers), lk.xvers...)
	}
	t.tab.put(akey, &typedEntry[T]{val: v, negative: negative, vkeys: vkeys, vers: vers, soft: deadline}, &t.c.typedEntries, t.c.memo.max)
}

// AppendArgs appends the in-process tier key of args to buf: their
// type-tagged bytes (no hash; the key never leaves the process).
func AppendArgs(buf []byte, args ...any) []byte {
	for _, a := range args {
		switch v := a.(type) {
		case uuid.UUID:
			buf = append(append(buf, 'U', 16), v[:]...)
		case string:
			buf = appendLenString(buf, 's', v)
		default:
			buf = appendCanonical(buf, a)
		}
	}
	return buf
}

// GetTyped is Get with a typed in-process tier: call t.Get(akey) first (no
// key to build), and GetTyped on a miss; values this lookup verifies or
// stores enter t under akey.
func GetTyped[T any](ctx context.Context, c *Cache, t *Typed[T], akey []byte, key Key, opts Options, load func(ctx context.Context) (T, error)) (T, error) {
	if t == nil {
		return Get(ctx, c, key, opts, load)
	}
	return get(ctx, c, key, opts, load, t, string(akey))
}

func appendLenString(buf []byte, tag byte, s string) []byte {
	buf = append(buf, tag)
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// entryMap is a map of tier entries, bounded together with the other tiers
// of its Cache; a full budget drops an arbitrary entry (map order) to make
// room.
type entryMap[E any] struct {
	mu sync.RWMutex
	m  map[string]*E
}

func (em *entryMap[E]) init() { em.m = make(map[string]*E) }

func (em *entryMap[E]) get(k []byte) *E {
	em.mu.RLock()
	e := em.m[string(k)]
	em.mu.RUnlock()
	return e
}

// put stores e under k. total counts the entries of every map sharing the
// budget max: a new key beyond it replaces an arbitrary entry of this map,
// or is not stored when this map is empty.
func (em *entryMap[E]) put(k string, e *E, total *atomic.Int64, max int) {
	em.mu.Lock()
	defer em.mu.Unlock()
	if _, ok := em.m[k]; !ok {
		if total.Load() >= int64(max) {
			if len(em.m) == 0 {
				return
			}
			for old := range em.m {
				delete(em.m, old)
				break
			}
		} else {
			total.Add(1)
		}
	}
	em.m[k] = e
}

var clockBase = time.Now()

// Clock returns the current time read from the monotonic clock only (its
// wall part is derived from process start): cheaper than time.Now where
// only durations and monotonic comparisons matter, such as Typed.Get.
func Clock() time.Time { return clockBase.Add(time.Since(clockBase)) }

// AppendUUID and AppendString append one argument exactly as AppendArgs
// does, without boxing it: generated fast paths build the typed tier's key
// with them and allocate nothing.
func AppendUUID(buf []byte, v uuid.UUID) []byte { return append(append(buf, 'U', 16), v[:]...) }

// AppendString: see AppendUUID.
func AppendString(buf []byte, v string) []byte { return appendLenString(buf, 's', v) }
