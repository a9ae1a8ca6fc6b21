package cache_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
)

type tagged struct {
	ID   int64
	Name string
	Tags []string
}

func copyTagged(v tagged) tagged { v.Tags = slices.Clone(v.Tags); return v }

func taggedKey(id int64) cache.Key {
	return cache.NewKey("GetTagged", cache.Deps{Rows: []cache.RowRef{cache.Row("items", "id", id)}}, id)
}

// typedGet is what generated code does: the typed tier first, GetTyped on
// a miss. hit reports a typed-tier hit.
func typedGet(t *testing.T, c *cache.Cache, tt *cache.Typed[tagged], id int64, load func(context.Context) (tagged, error)) (v tagged, hit bool) {
	t.Helper()
	akey := cache.AppendArgs(nil, id)
	if v, negative, ok := tt.Get(akey, cache.Clock()); ok {
		if negative {
			t.Fatal("unexpected negative hit")
		}
		return v, true
	}
	v, err := cache.GetTyped(context.Background(), c, tt, akey, taggedKey(id), cache.Options{TTL: time.Minute}, load)
	if err != nil {
		t.Fatal(err)
	}
	return v, false
}

func TestTypedTierHitsAreCopies(t *testing.T) {
	for _, name := range []string{"generated copy", "reflection copy"} {
		t.Run(name, func(t *testing.T) {
			c, obs := newCache(t, testinfra.Redis(t), nil)
			fn := copyTagged
			if name == "reflection copy" {
				fn = nil
			}
			tt := cache.NewTyped(c, "GetTagged", fn)
			if tt == nil {
				t.Fatal("no typed tier")
			}
			var loads atomic.Int64
			load := counted(&loads, func(context.Context) (tagged, error) {
				return tagged{ID: 1, Name: "one", Tags: []string{"a", "b"}}, nil
			})
			v, hit := typedGet(t, c, tt, 1, load)
			if hit || v.Name != "one" {
				t.Fatalf("first read: %+v hit=%v", v, hit)
			}
			v.Tags[0] = "changed by the loader's caller"
			cache.WaitBackground(c)
			eventually(t, 5*time.Second, "a typed hit", func() bool {
				_, hit := typedGet(t, c, tt, 1, load)
				return hit
			})
			for range 3 {
				v, hit = typedGet(t, c, tt, 1, load)
				if !hit || v.Tags[0] != "a" || v.Name != "one" {
					t.Fatalf("typed hit: %+v hit=%v", v, hit)
				}
				v.Tags[0] = "changed by a caller"
			}
			if loads.Load() != 1 {
				t.Fatalf("%d loads, want 1", loads.Load())
			}
			if obs.LocalHits.Load() < 3 {
				t.Fatalf("typed hits not reported: local hits %d", obs.LocalHits.Load())
			}
		})
	}
}

// A typed entry is never served once its versions moved: at once after an
// Invalidate in this process, and once the invalidation push arrived for
// one in another process (the documented cross-process window).
func TestTypedTierFollowsInvalidation(t *testing.T) {
	target := testinfra.Redis(t)
	c, _ := newCache(t, target, nil)
	other, _ := newCache(t, target, nil)
	tt := cache.NewTyped(c, "GetTagged", copyTagged)
	var name atomic.Value
	name.Store("v1")
	load := func(context.Context) (tagged, error) { return tagged{ID: 1, Name: name.Load().(string)}, nil }
	warm := func(want string) {
		t.Helper()
		eventually(t, 5*time.Second, "a typed hit of "+want, func() bool {
			v, hit := typedGet(t, c, tt, 1, load)
			cache.WaitBackground(c)
			return hit && v.Name == want
		})
	}
	warm("v1")

	name.Store("v2")
	release := cache.HoldVersionPushes(c) // only the local bump tells
	if err := c.Invalidate(context.Background(), nil, []cache.RowRef{cache.Row("items", "id", 1)}); err != nil {
		t.Fatal(err)
	}
	if v, hit := typedGet(t, c, tt, 1, load); hit || v.Name != "v2" {
		t.Fatalf("read after this process' invalidate: %+v hit=%v", v, hit)
	}
	cache.WaitBackground(c)
	release()
	warm("v2")

	name.Store("v3")
	if err := other.Invalidate(context.Background(), nil, []cache.RowRef{cache.Row("items", "id", 1)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the push to end typed hits", func() bool {
		_, _, ok := tt.Get(cache.AppendArgs(nil, int64(1)), cache.Clock())
		return !ok
	})
	if v, _ := typedGet(t, c, tt, 1, load); v.Name != "v3" {
		t.Fatalf("read after the other process' invalidate: %+v", v)
	}
}

// Forced interleavings of a fill with a write: the write's Invalidate
// returns (1) between the load and the fill's version check, (2) between
// that check and the SET. Neither may leave the loaded (old) value
// servable from the typed tier after Invalidate returned (in this process;
// after the push, in another).
func TestTypedTierStaleFillNeverServed(t *testing.T) {
	target := testinfra.Redis(t)
	for _, hook := range []string{"before check", "after check"} {
		for _, same := range []bool{true, false} {
			name := hook + "/other process"
			if same {
				name = hook + "/same process"
			}
			t.Run(name, func(t *testing.T) {
				reader, _ := newCache(t, target, nil)
				writer := reader
				if !same {
					writer, _ = newCache(t, target, nil)
				}
				tt := cache.NewTyped(reader, "GetTagged", copyTagged)
				id := int64(100)
				if same {
					id++
				}
				if hook == "after check" {
					id += 10
				}
				// Start from a clean version for this row in the reader.
				if err := reader.Invalidate(context.Background(), nil, []cache.RowRef{cache.Row("items", "id", id)}); err != nil {
					t.Fatal(err)
				}
				var rowName atomic.Value
				rowName.Store("old")
				load := func(context.Context) (tagged, error) { return tagged{ID: id, Name: rowName.Load().(string)}, nil }
				write := func(string) {
					rowName.Store("new")
					if err := writer.Invalidate(context.Background(), nil, []cache.RowRef{cache.Row("items", "id", id)}); err != nil {
						t.Error(err)
					}
				}
				// Let the reader's version memo learn the row's versions (a
				// read of another query with the same dependencies), so the
				// typed tier can answer from it.
				time.Sleep(20 * time.Millisecond) // the clean-up push
				warmKey := cache.NewKey("WarmTagged", cache.Deps{Rows: []cache.RowRef{cache.Row("items", "id", id)}}, id)
				for range 2 {
					if _, err := cache.Get(context.Background(), reader, warmKey, cache.Options{}, load); err != nil {
						t.Fatal(err)
					}
				}
				cache.WaitBackground(reader)
				if hook == "before check" {
					cache.SetBeforeFill(reader, write)
					defer cache.SetBeforeFill(reader, nil)
				} else {
					cache.SetAfterFillCheck(reader, write)
					defer cache.SetAfterFillCheck(reader, nil)
				}
				// The write's push reaches the reader's version memo only
				// after the checks below: within a process, its own bump
				// must suffice.
				release := cache.HoldVersionPushes(reader)
				if v, _ := typedGet(t, reader, tt, id, load); v.Name != "old" {
					t.Fatalf("first read: %+v", v)
				}
				cache.WaitBackground(reader) // the write ran inside the fill
				cache.SetBeforeFill(reader, nil)
				cache.SetAfterFillCheck(reader, nil)
				akey := cache.AppendArgs(nil, id)
				if same {
					if v, _, ok := tt.Get(akey, cache.Clock()); ok {
						t.Fatalf("typed hit after this process' invalidate returned: %+v", v)
					}
					if v, _ := typedGet(t, reader, tt, id, load); v.Name != "new" {
						t.Fatalf("read after this process' invalidate returned: %+v", v)
					}
					release()
				} else {
					release()
					eventually(t, 5*time.Second, "the push to end typed hits", func() bool {
						v, _, ok := tt.Get(akey, cache.Clock())
						return !ok || v.Name == "new"
					})
				}
				for range 3 {
					if v, _ := typedGet(t, reader, tt, id, load); v.Name != "new" {
						t.Fatalf("read after the write: %+v", v)
					}
					cache.WaitBackground(reader)
				}
			})
		}
	}
}

// The typed tiers of a Cache share one budget of DecodedEntries entries.
func TestTypedTierBudget(t *testing.T) {
	c, _ := newCache(t, testinfra.Redis(t), func(cfg *cache.Config) { cfg.DecodedEntries = 2 })
	a := cache.NewTyped(c, "GetTagged", copyTagged)
	b := cache.NewTyped(c, "GetTaggedToo", copyTagged)
	load := func(context.Context) (tagged, error) { return tagged{ID: 1, Name: "x"}, nil }
	for id := int64(1); id <= 3; id++ {
		for _, tt := range []*cache.Typed[tagged]{a, b} {
			for range 2 { // fill, then a verified hit enters the tier
				typedGet(t, c, tt, id, load)
				cache.WaitBackground(c)
			}
		}
	}
	kept := 0
	for id := int64(1); id <= 3; id++ {
		for _, tt := range []*cache.Typed[tagged]{a, b} {
			if _, _, ok := tt.Get(cache.AppendArgs(nil, id), cache.Clock()); ok {
				kept++
			}
		}
	}
	if kept == 0 || kept > 2 {
		t.Fatalf("%d typed entries kept, want 1..2 (budget 2)", kept)
	}
}
