package cache

import (
	"errors"
	"sync/atomic"
	"time"
)

// Tier says where a hit came from.
type Tier uint8

const (
	// TierLocal is the in-process (client-side) tier: no network.
	TierLocal Tier = iota
	// TierRemote is Redis.
	TierRemote
)

func (t Tier) String() string {
	if t == TierLocal {
		return "local"
	}
	return "remote"
}

// MissReason says why a lookup went to the loader.
type MissReason uint8

const (
	// MissAbsent: no value for the current versions.
	MissAbsent MissReason = iota
	// MissBypass: Redis is failing (breaker open or an error) or an
	// invalidation of one of the dependencies is still pending; the loader
	// ran and nothing was cached.
	MissBypass
)

func (r MissReason) String() string {
	if r == MissAbsent {
		return "absent"
	}
	return "bypass"
}

// HitEvent is a lookup served from the cache.
type HitEvent struct {
	Query    string
	Tier     Tier
	Stale    bool // served within the stale-while-revalidate window; a refresh was started
	Negative bool // a cached not-found
}

// MissEvent is a lookup that ran (or waited for) the loader.
type MissEvent struct {
	Query  string
	Reason MissReason
}

// FillEvent is the end of one attempt to store a loaded value.
type FillEvent struct {
	Query    string
	Bytes    int
	Negative bool
	// Skipped is true when a dependency's version changed between the lookup
	// and the fill (a write committed meanwhile): the value was not stored.
	Skipped bool
	Err     error
}

// InvalidateEvent reports an invalidation: the first attempt, or a retry of
// one that failed.
type InvalidateEvent struct {
	Tables []string
	Rows   []RowRef
	// Keys is the number of version keys bumped (or to bump).
	Keys int
	// Attempt is 1 for the call itself, >1 for background retries.
	Attempt int
	// Err is nil on success. A failed invalidation stays pending and is
	// retried until it succeeds; reads depending on it bypass the cache.
	Err error
	// Pending is the number of version keys still waiting for a bump.
	Pending int
	// Lag is, for a retry, how long the invalidation has been pending since
	// its first attempt failed; 0 for the first attempt.
	Lag time.Duration
}

// ErrorEvent is a Redis or codec failure the cache absorbed (failing open).
type ErrorEvent struct {
	// Op is "versions", "get", "lease", "fill", "decode", "refresh", or
	// "integrity" (a value that failed its MAC check: Err matches
	// ErrIntegrity; the value was treated as absent).
	Op    string
	Query string
	Err   error
}

// Observer receives cache events. Methods are called synchronously on the
// request or background goroutine: keep them cheap and non-blocking. Embed
// NopObserver to implement only some.
type Observer interface {
	CacheHit(HitEvent)
	CacheMiss(MissEvent)
	CacheFill(FillEvent)
	CacheInvalidate(InvalidateEvent)
	CacheError(ErrorEvent)
}

// NopObserver ignores every event.
type NopObserver struct{}

func (NopObserver) CacheHit(HitEvent)               {}
func (NopObserver) CacheMiss(MissEvent)             {}
func (NopObserver) CacheFill(FillEvent)             {}
func (NopObserver) CacheInvalidate(InvalidateEvent) {}
func (NopObserver) CacheError(ErrorEvent)           {}

// Counters is an Observer that counts events (all queries together). Safe
// for concurrent use; read the fields with Load.
type Counters struct {
	LocalHits, RemoteHits, StaleHits, NegativeHits atomic.Int64
	Misses, Bypasses                               atomic.Int64
	Fills, FillsSkipped, FillErrors                atomic.Int64
	Invalidations, InvalidationErrors              atomic.Int64
	Errors                                         atomic.Int64
	// Corrupt counts values that failed their integrity check (also
	// counted in Errors).
	Corrupt atomic.Int64
}

var _ Observer = (*Counters)(nil)

func (c *Counters) CacheHit(e HitEvent) {
	if e.Tier == TierLocal {
		c.LocalHits.Add(1)
	} else {
		c.RemoteHits.Add(1)
	}
	if e.Stale {
		c.StaleHits.Add(1)
	}
	if e.Negative {
		c.NegativeHits.Add(1)
	}
}

func (c *Counters) CacheMiss(e MissEvent) {
	if e.Reason == MissBypass {
		c.Bypasses.Add(1)
	} else {
		c.Misses.Add(1)
	}
}

func (c *Counters) CacheFill(e FillEvent) {
	switch {
	case e.Err != nil:
		c.FillErrors.Add(1)
	case e.Skipped:
		c.FillsSkipped.Add(1)
	default:
		c.Fills.Add(1)
	}
}

func (c *Counters) CacheInvalidate(e InvalidateEvent) {
	if e.Err != nil {
		c.InvalidationErrors.Add(1)
	} else {
		c.Invalidations.Add(1)
	}
}

func (c *Counters) CacheError(e ErrorEvent) {
	c.Errors.Add(1)
	if errors.Is(e.Err, ErrIntegrity) {
		c.Corrupt.Add(1)
	}
}

// Hits returns local plus remote hits.
func (c *Counters) Hits() int64 { return c.LocalHits.Load() + c.RemoteHits.Load() }
