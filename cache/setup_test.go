package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
)

// newCache builds a Cache on the target; mod adjusts the config.
func newCache(t testing.TB, target redisTarget, mod func(*cache.Config)) (*cache.Cache, *cache.Counters) {
	t.Helper()
	obs := &cache.Counters{}
	cfg := cache.Config{
		Addrs:         []string{target.Addr},
		Username:      target.Username,
		Password:      target.Password,
		DB:            target.DB,
		Prefix:        target.Prefix,
		SchemaVersion: "s1",
		Observer:      obs,
		RedisTimeout:  500 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, obs
}
