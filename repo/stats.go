package repo

import (
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latency buckets: 16 per power of two from 1µs up to ~70s, so quantiles
// are within ~5% without storing samples.
const (
	subBuckets = 16
	octaves    = 27
)

type methodStats struct {
	tier                        atomic.Pointer[tierBox] // the method's typed cache tier
	calls, errors, hits, misses atomic.Int64
	buckets                     [subBuckets * octaves]atomic.Int64
	// hitDur is the duration of the last timed typed-tier hit (Hit times
	// one in hitSample and reuses it for the others: a hit is far below
	// the histogram's first bucket, and a clock read is a sizeable part of
	// its cost).
	hitDur atomic.Int64
}

const hitSample = 16

func bucketOf(d time.Duration) int {
	us := d.Nanoseconds() / 1000
	if us < 1 {
		return 0
	}
	oct := 63 - bits.LeadingZeros64(uint64(us))
	if oct >= octaves {
		return subBuckets*octaves - 1
	}
	frac := 0
	if oct > 0 {
		frac = int((uint64(us) - 1<<oct) * subBuckets >> oct)
	}
	return oct*subBuckets + frac
}

func bucketUpper(i int) time.Duration {
	oct, frac := i/subBuckets, i%subBuckets
	us := (uint64(1) << oct) + (uint64(frac+1)<<oct)/subBuckets
	return time.Duration(us) * time.Microsecond
}

func (s *methodStats) observe(d time.Duration, err error) {
	s.calls.Add(1)
	if err != nil {
		s.errors.Add(1)
	}
	s.buckets[bucketOf(d)].Add(1)
}

// MethodStats is a snapshot of one method's counters.
type MethodStats struct {
	Name     string
	Calls    int64
	Errors   int64 // not-found results are not errors
	Hits     int64 // served from the cache (either tier)
	Misses   int64 // loaded from the database through the cache
	P50, P99 time.Duration
}

// HitRatio is Hits / (Hits + Misses), or 0 for uncached methods.
func (s MethodStats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

type statsTable struct {
	mu sync.RWMutex
	m  map[*Method]*methodStats
}

func (t *statsTable) get(m *Method) *methodStats {
	t.mu.RLock()
	s := t.m[m]
	t.mu.RUnlock()
	if s != nil {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[*Method]*methodStats{}
	}
	if s = t.m[m]; s == nil {
		s = &methodStats{}
		t.m[m] = s
	}
	return s
}

func (t *statsTable) snapshot() []MethodStats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]MethodStats, 0, len(t.m))
	for m, s := range t.m {
		ms := MethodStats{
			Name: m.Name, Calls: s.calls.Load(), Errors: s.errors.Load(),
			Hits: s.hits.Load(), Misses: s.misses.Load(),
		}
		var counts [subBuckets * octaves]int64
		var n int64
		for i := range counts {
			counts[i] = s.buckets[i].Load()
			n += counts[i]
		}
		ms.P50 = quantile(counts[:], n, 0.50)
		ms.P99 = quantile(counts[:], n, 0.99)
		out = append(out, ms)
	}
	slices.SortFunc(out, func(a, b MethodStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func quantile(counts []int64, n int64, q float64) time.Duration {
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n-1)) + 1
	var seen int64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(len(counts) - 1)
}
