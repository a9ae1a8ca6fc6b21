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

type nested struct {
	Tags  []string
	Meta  map[string][]byte
	Price pgtype.Numeric
	Ptr   *int64
	Arr   [2][]byte
}

type withIface struct {
	V any
}

// Hits are served from decoded copies: mutating what one Get returned must
// never show up in the next Get, whatever the value holds.
func TestHitsReturnIndependentCopies(t *testing.T) {
	c, obs := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	n := int64(5)
	fresh := func() []nested {
		return []nested{{
			Tags:  []string{"a", "b"},
			Meta:  map[string][]byte{"k": []byte("v")},
			Price: pgtype.Numeric{Int: big.NewInt(1234), Exp: -2, Valid: true},
			Ptr:   &n,
			Arr:   [2][]byte{[]byte("x"), []byte("y")},
		}}
	}
	key := cache.NewKey("Nested", cache.Deps{Tables: []string{"n"}})
	load := func(context.Context) ([]nested, error) { return fresh(), nil }
	if _, err := cache.Get(ctx, c, key, cache.Options{}, load); err != nil {
		t.Fatal(err)
	}
	cache.WaitBackground(c)
	for round := range 4 {
		v, err := cache.Get(ctx, c, key, cache.Options{}, load)
		if err != nil {
			t.Fatal(err)
		}
		want := fresh()[0]
		got := v[0]
		if got.Tags[1] != "b" || string(got.Meta["k"]) != "v" || got.Price.Int.Int64() != 1234 || *got.Ptr != 5 ||
			string(got.Arr[1]) != "y" {
			t.Fatalf("round %d: a previous caller's mutation leaked: %+v (want %+v)", round, got, want)
		}
		// Mutate everything reachable.
		got.Tags[1] = "mutated"
		got.Meta["k"][0] = 'X'
		got.Meta["new"] = nil
		got.Price.Int.SetInt64(-1)
		*got.Ptr = 99
		got.Arr[1][0] = 'Z'
		v[0] = nested{}
	}
	if obs.Hits() < 4 {
		t.Fatalf("hits = %d", obs.Hits())
	}

	// Types that cannot be deep-copied are decoded on every hit: still independent.
	k2 := cache.NewKey("Iface", cache.Deps{Tables: []string{"n"}})
	l2 := func(context.Context) (withIface, error) { return withIface{V: []any{"a"}}, nil }
	_, _ = cache.Get(ctx, c, k2, cache.Options{}, l2)
	cache.WaitBackground(c)
	for range 2 {
		v, err := cache.Get(ctx, c, k2, cache.Options{}, l2)
		if err != nil {
			t.Fatal(err)
		}
		s := v.V.([]any)
		if s[0] != "a" {
			t.Fatalf("interface value leaked a mutation: %v", s)
		}
		s[0] = "mutated"
	}
}

// A value rewritten under the same key (stale-while-revalidate refresh) is
// never answered from the old decoding.
func TestDecodedValuesFollowRefresh(t *testing.T) {
	c, _ := newCache(t, testinfra.Redis(t), nil)
	ctx := context.Background()
	var version int64
	load := func(context.Context) (int64, error) { return version, nil }
	opts := cache.Options{TTL: 50 * time.Millisecond, SWR: time.Minute}
	key := cache.NewKey("Refresh", cache.Deps{})
	_, _ = cache.Get(ctx, c, key, opts, load)
	cache.WaitBackground(c)
	_, _ = cache.Get(ctx, c, key, opts, load) // decoded and kept
	version = 1
	time.Sleep(80 * time.Millisecond)
	_, _ = cache.Get(ctx, c, key, opts, load) // stale: refresh rewrites the key
	cache.WaitBackground(c)
	eventually(t, 2*time.Second, "refreshed value", func() bool {
		v, _ := cache.Get(ctx, c, key, opts, load)
		return v == 1
	})
}

func BenchmarkHitDecode(b *testing.B) {
	target := testinfra.Redis(b)
	ctx := context.Background()
	v := benchValue()
	load := func(context.Context) (benchAgent, error) { return v, nil }
	key := cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", int64(42))}}, int64(42))
	for _, entries := range []int{-1, 0} {
		name := "decoded-memo"
		if entries < 0 {
			name = "always-decode"
		}
		b.Run(name, func(b *testing.B) {
			c, _ := newCache(b, target, func(cfg *cache.Config) { cfg.DecodedEntries = entries })
			for range 3 {
				_, _ = cache.Get(ctx, c, key, cache.Options{}, load)
				cache.WaitBackground(c)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cache.Get(ctx, c, key, cache.Options{}, load); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
