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
	b.Run("local-hit-nomemo", func(b *testing.B) { hit(b, func(cfg *cache.Config) { cfg.DecodedEntries = -1 }) })
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

// BenchmarkInvalidationWindow measures, per op, one Invalidate in process A
// followed by reads in process B until B returns the new value: the
// reported window-ns is the time from Invalidate returning to B's first
// fresh read, stale-reads/op how many reads B served old data meanwhile.
func BenchmarkInvalidationWindow(b *testing.B) {
	for _, strict := range []bool{false, true} {
		name := "default"
		if strict {
			name = "strict"
		}
		b.Run(name, func(b *testing.B) {
			target := testinfra.Redis(b)
			a, _ := newCache(b, target, nil)
			r, _ := newCache(b, target, func(cfg *cache.Config) { cfg.Strict = strict })
			ctx := context.Background()
			var version int64
			load := func(context.Context) (int64, error) { return version, nil }
			key := cache.NewKey("GetItem", cache.Deps{Rows: []cache.RowRef{cache.Row("items", "id", 1)}}, 1)
			var window time.Duration
			var stale int
			for b.Loop() {
				b.StopTimer()
				for range 3 { // warm B's in-process tier with the current value
					_, _ = cache.Get(ctx, r, key, cache.Options{}, load)
					cache.WaitBackground(r)
				}
				b.StartTimer()
				version++
				if err := a.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", 1)}); err != nil {
					b.Fatal(err)
				}
				done := time.Now()
				for {
					v, err := cache.Get(ctx, r, key, cache.Options{}, load)
					if err != nil {
						b.Fatal(err)
					}
					if v == version {
						break
					}
					stale++
				}
				window += time.Since(done)
			}
			b.ReportMetric(float64(window.Nanoseconds())/float64(b.N), "window-ns")
			b.ReportMetric(float64(stale)/float64(b.N), "stale-reads/op")
		})
	}
}

// BenchmarkIntegrityCheck is the cost the MAC adds to a hit that is not
// answered from the decoded-value memo (compare BenchmarkCodec/decode).
func BenchmarkIntegrityCheck(b *testing.B) {
	const vk = "dl:q:{7659b10335de0cba:GetAgent:AAAAAAAAAAAAAAAAAAAAAA:1ab2c3.1ab2c4.3kd9f8s7d6f5}"
	data, err := cache.SealValue([]byte("bench secret"), vk, benchValue(), false)
	if err != nil {
		b.Fatal(err)
	}
	check := cache.ValueChecker([]byte("bench secret"))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := check(vk, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMsgpackCheck is the length check Codec.Unmarshal runs before
// decoding (compare BenchmarkCodec/unmarshal).
func BenchmarkMsgpackCheck(b *testing.B) {
	data, err := cache.NewCodec(-1).Marshal(benchValue())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := cache.CheckMsgpack(data[1:]); err != nil {
			b.Fatal(err)
		}
	}
}
