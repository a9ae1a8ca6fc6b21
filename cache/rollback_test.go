package cache_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
)

// snapshotRedis starts a private redis-server whose data directory survives
// Stop/Start: a restart loads the last snapshot (SAVE), like a crash of a
// server with RDB persistence.
func snapshotRedis(t *testing.T) *devserver.Redis {
	t.Helper()
	srv, err := devserver.StartRedis(t.Context(), devserver.RedisConfig{Args: []string{"--dir", t.TempDir(), "--dbfilename", "snap.rdb"}})
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return srv
}

// Defect 1: Redis restarting from an older snapshot brings back old version
// counters together with values cached under them. No process may serve a
// value older than a write whose invalidation was acknowledged before the
// crash.
func TestRedisRollbackNeverServesOlderValue(t *testing.T) {
	for name, mod := range map[string]func(*cache.Config){
		"default":            nil,
		"strict":             func(cfg *cache.Config) { cfg.Strict = true },
		"no in-process tier": func(cfg *cache.Config) { cfg.DisableClientCache = true },
	} {
		t.Run(name, func(t *testing.T) { testRollback(t, mod) })
	}
}

func testRollback(t *testing.T, mod func(*cache.Config)) {
	ctx := context.Background()
	srv := snapshotRedis(t)
	target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "rb"}
	var row atomic.Value // the database
	row.Store("v1")
	var loads atomic.Int64
	load := counted(&loads, func(context.Context) (item, error) { return item{ID: 1, Name: row.Load().(string)}, nil })
	writer, _ := newCache(t, target, mod)
	reader, _ := newCache(t, target, mod)
	raw := rawClient(t, target)

	get := func(c *cache.Cache) string {
		v, err := cache.Get(ctx, c, itemKey(1), cache.Options{TTL: time.Hour}, load)
		if err != nil {
			t.Fatal(err)
		}
		cache.WaitBackground(c)
		return v.Name
	}
	if v := get(reader); v != "v1" {
		t.Fatalf("first read %q", v)
	}
	if err := raw.Do(ctx, raw.B().Save().Build()).Error(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	// After the snapshot: a write, acknowledged.
	row.Store("v2")
	if err := writer.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", int64(1))}); err != nil {
		t.Fatalf("invalidate: %v", err)
	}
	if v := get(reader); v != "v2" {
		t.Fatalf("read after write %q", v)
	}
	rowKey := target.Prefix + ":v:{items}:r:id:" + cache.Row("items", "id", int64(1)).ID
	after := string(rawGet(t, raw, rowKey))

	// Crash: the restarted server holds the snapshot's state.
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	raw2 := rawClient(t, target)
	if back := string(rawGet(t, raw2, rowKey)); back == after {
		t.Fatalf("precondition: the row version did not go back (%s)", back)
	}
	fresh, _ := newCache(t, target, mod)
	deadline := time.Now().Add(time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		for i, c := range []*cache.Cache{writer, reader, fresh} {
			if v := get(c); v != "v2" {
				t.Fatalf("cache %d, read %d after the restart: %q, older than the acknowledged write", i, n, v)
			}
		}
	}
}

// FLUSHALL and evicted version counters lose state without a restart; old
// values must stay unreachable.
func TestLostCountersNeverServeOlderValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, target testinfra.RedisTarget)
	}{
		{"flushall", func(t *testing.T, target testinfra.RedisTarget) {
			raw := rawClient(t, target)
			if err := raw.Do(context.Background(), raw.B().Flushall().Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}},
		{"counters evicted", func(t *testing.T, target testinfra.RedisTarget) {
			raw := rawClient(t, target)
			keys, err := raw.Do(context.Background(), raw.B().Keys().Pattern(target.Prefix+":v:*").Build()).AsStrSlice()
			if err != nil || len(keys) == 0 {
				t.Fatalf("version keys %v: %v", keys, err)
			}
			for _, k := range keys {
				if err := raw.Do(context.Background(), raw.B().Del().Key(k).Build()).Error(); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := testinfra.PrivateRedis(t)
			target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "lc"}
			var row atomic.Value
			row.Store("v1")
			load := func(context.Context) (item, error) { return item{ID: 1, Name: row.Load().(string)}, nil }
			c, _ := newCache(t, target, nil)
			other, _ := newCache(t, target, nil)
			get := func(c *cache.Cache) string {
				v, err := cache.Get(ctx, c, itemKey(1), cache.Options{TTL: time.Hour}, load)
				if err != nil {
					t.Fatal(err)
				}
				cache.WaitBackground(c)
				return v.Name
			}
			get(c)
			get(other)
			row.Store("v2")
			if err := c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", int64(1))}); err != nil {
				t.Fatal(err)
			}
			get(other)
			tc.lose(t, target)
			for range 20 {
				for i, cc := range []*cache.Cache{c, other} {
					if v := get(cc); v != "v2" {
						t.Fatalf("cache %d: %q after losing state", i, v)
					}
				}
			}
		})
	}
}

// A failover to a replica that had not received the last writes: its
// counters are behind, like a restored snapshot, on another server.
func TestFailoverToLaggingReplicaNeverServesOlderValue(t *testing.T) {
	ctx := context.Background()
	primary := testinfra.PrivateRedis(t)
	replica := testinfra.PrivateRedis(t)
	proxy := newCutProxy(t, primary.Addr())
	target := testinfra.RedisTarget{Addr: proxy.addr(), Prefix: "fo"}
	var row atomic.Value
	row.Store("v1")
	load := func(context.Context) (item, error) { return item{ID: 1, Name: row.Load().(string)}, nil }
	writer, _ := newCache(t, target, nil)
	reader, _ := newCache(t, target, nil)
	get := func(c *cache.Cache) string {
		v, err := cache.Get(ctx, c, itemKey(1), cache.Options{TTL: time.Hour}, load)
		if err != nil {
			t.Fatal(err)
		}
		cache.WaitBackground(c)
		return v.Name
	}
	get(reader)

	prim := rawClient(t, testinfra.RedisTarget{Addr: primary.Addr()})
	if err := prim.Do(ctx, prim.B().ConfigSet().ParameterValue().ParameterValue("repl-diskless-sync-delay", "0").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	rep := rawClient(t, testinfra.RedisTarget{Addr: replica.Addr()})
	host, port, _ := net.SplitHostPort(primary.Addr())
	if err := rep.Do(ctx, rep.B().Replicaof().Host(host).Port(mustAtoi(t, port)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "replica in sync", func() bool {
		n, err := rep.Do(ctx, rep.B().Dbsize().Build()).AsInt64()
		info, _ := rep.Do(ctx, rep.B().Info().Section("replication").Build()).ToString()
		return err == nil && n > 0 && strings.Contains(info, "master_link_status:up")
	})
	// The replica stops receiving: what follows is lost on failover.
	if err := rep.Do(ctx, rep.B().Replicaof().No().One().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	row.Store("v2")
	if err := writer.Invalidate(ctx, nil, []cache.RowRef{cache.Row("items", "id", int64(1))}); err != nil {
		t.Fatal(err)
	}
	if v := get(reader); v != "v2" {
		t.Fatalf("read after write %q", v)
	}
	proxy.switchTo(replica.Addr())
	fresh, _ := newCache(t, target, nil)
	deadline := time.Now().Add(time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		for i, c := range []*cache.Cache{writer, reader, fresh} {
			if v := get(c); v != "v2" {
				t.Fatalf("cache %d, read %d after failover: %q, older than the acknowledged write", i, n, v)
			}
		}
	}
}

func mustAtoi(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
