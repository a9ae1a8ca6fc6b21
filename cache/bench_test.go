package cache_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/jackc/pgx/v5/pgtype"
)

type benchAgent struct {
	ID        int64
	Name      string
	Status    string
	Config    []byte
	Budget    pgtype.Numeric
	CreatedAt pgtype.Timestamptz
	UpdatedAt pgtype.Timestamptz
}

func benchValue() benchAgent {
	now := time.Now()
	return benchAgent{
		ID: 42, Name: "agent-42", Status: "active", Config: []byte(`{"model":"x","temperature":0.2}`),
		Budget:    pgtype.Numeric{Int: big.NewInt(1234567), Exp: -2, Valid: true},
		CreatedAt: pgtype.Timestamptz{Time: now, Valid: true}, UpdatedAt: pgtype.Timestamptz{Time: now, Valid: true},
	}
}

// BenchmarkGet compares, in one run: a hit from the in-process tier, the
// same in strict mode (versions from Redis), a Redis hit with the in-process
// tier off, and a miss (lease + load + background fill).
func BenchmarkGet(b *testing.B) {
	target := testinfra.Redis(b)
	ctx := context.Background()
	v := benchValue()
	load := func(context.Context) (benchAgent, error) { return v, nil }
	key := cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", int64(42))}}, int64(42))

	hit := func(b *testing.B, mod func(*cache.Config)) {
		c, obs := newCache(b, target, mod)
		defer func() {
			if obs.Hits() < int64(b.N) {
				b.Fatalf("%d hits in %d lookups", obs.Hits(), b.N)
			}
		}()
		for range 3 {
			if _, err := cache.Get(ctx, c, key, cache.Options{}, load); err != nil {
				b.Fatal(err)
			}
			cache.WaitBackground(c)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.Get(ctx, c, key, cache.Options{}, load); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("local-hit", func(b *testing.B) { hit(b, nil) })
	b.Run("strict-hit", func(b *testing.B) { hit(b, func(cfg *cache.Config) { cfg.Strict = true }) })
	b.Run("redis-hit", func(b *testing.B) { hit(b, func(cfg *cache.Config) { cfg.DisableClientCache = true }) })
	b.Run("miss", func(b *testing.B) {
		c, _ := newCache(b, target, nil)
		b.ReportAllocs()
		i := int64(0)
		for b.Loop() {
			i++
			k := cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", i)}}, i)
			if _, err := cache.Get(ctx, c, k, cache.Options{}, load); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cache.WaitBackground(c)
	})
	b.Run("redis-down-bypass", func(b *testing.B) {
		srv := testinfra.PrivateRedis(b)
		c, _ := newCache(b, testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "bd"}, nil)
		if err := srv.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cache.Get(ctx, c, key, cache.Options{}, load); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	c := cache.NewCodec(0)
	v := benchValue()
	data, _ := c.Marshal(v)
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = c.Marshal(v)
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out benchAgent
			_ = c.Unmarshal(data, &out)
		}
	})
}

func BenchmarkNewKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", int64(42))}}, int64(42))
	}
}
