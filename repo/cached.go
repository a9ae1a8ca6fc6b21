package repo

import (
	"context"
	"sync/atomic"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/reqctx"
)

// cachedRead serves m through the cache. The cache guarantees that a load
// which started before a write's invalidation never fills after it, and
// falls back to load when Redis is unavailable.
func cachedRead[T any](ctx context.Context, rt *Runtime, st *methodStats, m *Method, args []any, load func(ctx context.Context) (T, error), ev *MethodEvent, tier *cache.Typed[T], akey []byte) (T, error) {
	keyArgs := make([]any, 0, len(args)+2)
	keyArgs = append(append(keyArgs, m.Schema, m.Shape), args...)
	key := cache.NewKey(m.Name, rt.deps(m, args), keyArgs...)
	opts := cache.Options{TTL: m.Cache.TTL, SWR: m.Cache.SWR, Negative: m.Cache.Negative}
	var loaded atomic.Bool
	v, err := cache.GetTyped(ctx, rt.cache, tier, akey, key, opts, func(ctx context.Context) (T, error) {
		loaded.Store(true)
		return load(ctx)
	})
	if loaded.Load() {
		if err == nil && len(m.Feeds) > 0 {
			rt.feed(m, v)
		}
		st.misses.Add(1)
		reqctx.From(ctx).AddCacheMiss()
		ev.CacheMiss = true
	} else if err == nil || rt.notFound(err) {
		st.hits.Add(1)
		reqctx.From(ctx).AddCacheHit()
		ev.CacheHit = true
	}
	return v, err
}

// apply sends an invalidation to the cache. Failures are retried in the
// background and reported by the cache's observer; the error is returned
// for callers that want to log it.
func (rt *Runtime) apply(ctx context.Context, inv invalidation) error {
	if rt.cache == nil || (len(inv.tables) == 0 && len(inv.rows) == 0) {
		return nil
	}
	return rt.cache.Invalidate(context.WithoutCancel(ctx), inv.tables, inv.rows)
}

// applyUncertain invalidates for a write whose outcome is unknown: now, and
// again after the cache's recheck delays.
func (rt *Runtime) applyUncertain(ctx context.Context, inv invalidation) error {
	if rt.cache == nil || (len(inv.tables) == 0 && len(inv.rows) == 0) {
		return nil
	}
	return rt.cache.InvalidateUncertain(context.WithoutCancel(ctx), inv.tables, inv.rows)
}

// InvalidateTables invalidates every cached read of tables, in every
// process: call it after writing those tables outside the repositories
// (psql, another service, a migration's data fix), which the cache cannot
// see. Without it such writes stay invisible to cached reads until their
// TTL. Errors match cache.ErrInvalidationPending (retried in the
// background) or cache.ErrClosed. See also cache.Cache.InvalidateAll.
func (rt *Runtime) InvalidateTables(ctx context.Context, tables ...string) error {
	if rt.cache == nil || len(tables) == 0 {
		return nil
	}
	return rt.cache.Invalidate(ctx, tables, nil)
}
