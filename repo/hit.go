package repo

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/reqctx"
)

// Hit answers a cached read of m (outside a transaction) from the typed
// in-process tier alone, for akey built like Read builds it (KeyUUID,
// KeyString, or cache.AppendArgs of the arguments). ok is false when it
// cannot: then call Read, which counts the call. Generated methods whose
// arguments are all UUIDs or strings try it first, so a hit boxes no
// argument and allocates no closure. Its duration (statistics, events) is
// measured for one hit in 16 and reused for the others.
func Hit[T any](ctx context.Context, rt *Runtime, m *Method, akey []byte) (v T, err error, ok bool) {
	if m.Cache == nil || rt.cache == nil {
		return v, nil, false
	}
	start := cache.Clock()
	st := rt.stats.get(m)
	tier := typedTier[T](rt, st, m)
	hv, negative, hit := tier.Get(akey, start)
	if !hit {
		return v, nil, false
	}
	var d time.Duration
	if st.hits.Add(1)%hitSample == 1 {
		d = time.Since(start)
		st.hitDur.Store(int64(d))
	} else {
		d = time.Duration(st.hitDur.Load())
	}
	reqctx.From(ctx).AddCacheHit()
	ev := MethodEvent{CacheHit: true}
	if negative {
		err = tier.NotFound()
	}
	rt.doneIn(ctx, st, m, nil, d, err, &ev)
	return hv, err, true
}

// KeyUUID and KeyString append one argument of a typed tier key (see Hit).
func KeyUUID(buf []byte, v uuid.UUID) []byte { return cache.AppendUUID(buf, v) }

// KeyString: see KeyUUID.
func KeyString(buf []byte, v string) []byte { return cache.AppendString(buf, v) }
