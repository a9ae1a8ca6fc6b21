package reqctx

import (
	"context"
	"sync/atomic"
	"time"
)

type idKey struct{}

// WithRequestID returns ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, idKey{}, id)
}

// RequestID returns the request ID in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(idKey{}).(string)
	return id
}

// Stats accumulates one request's work. Safe for concurrent use: queries of
// one request may run on several goroutines.
type Stats struct {
	queries, dbNanos atomic.Int64
	hits, misses     atomic.Int64
}

// Snapshot is a copy of a Stats' counters.
type Snapshot struct {
	Queries     int64         // statements sent to PostgreSQL (batch entries count one each)
	DBTime      time.Duration // time spent in them, summed
	CacheHits   int64         // repository reads served from the cache
	CacheMisses int64         // repository reads that loaded from the database through the cache
}

type statsKey struct{}

// WithStats returns ctx carrying a new, empty Stats, and that Stats.
func WithStats(ctx context.Context) (context.Context, *Stats) {
	s := &Stats{}
	return context.WithValue(ctx, statsKey{}, s), s
}

// From returns the Stats in ctx, or nil. All Stats methods accept a nil
// receiver, so callers may write reqctx.From(ctx).AddQuery(d).
func From(ctx context.Context) *Stats {
	s, _ := ctx.Value(statsKey{}).(*Stats)
	return s
}

// AddQuery records one database statement that took d.
func (s *Stats) AddQuery(d time.Duration) {
	if s == nil {
		return
	}
	s.queries.Add(1)
	s.dbNanos.Add(int64(d))
}

// AddCacheHit records a read served from the cache.
func (s *Stats) AddCacheHit() {
	if s != nil {
		s.hits.Add(1)
	}
}

// AddCacheMiss records a read that went to the database through the cache.
func (s *Stats) AddCacheMiss() {
	if s != nil {
		s.misses.Add(1)
	}
}

// Snapshot reads the counters (zero for a nil Stats).
func (s *Stats) Snapshot() Snapshot {
	if s == nil {
		return Snapshot{}
	}
	return Snapshot{
		Queries: s.queries.Load(), DBTime: time.Duration(s.dbNanos.Load()),
		CacheHits: s.hits.Load(), CacheMisses: s.misses.Load(),
	}
}
