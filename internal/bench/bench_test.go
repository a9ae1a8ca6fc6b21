package bench_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// BenchmarkDataLayer runs every variant side by side on one seeded database:
//
//	GetAgent/*           (a) primary-key read
//	CountTasksByOwner/*  (b) join + aggregate (CountTasksByStatusPerAgent)
//	Mixed/*              32 goroutines, 90% zipf reads, 10% writes
//
// Variants: raw (plain sqlc), repo-miss (generated repository, value absent
// from Redis), redis-hit (client-side tier off), local-hit (rueidis
// client-side tier), goredis-redis-hit and goredis-local-hit (the peer
// go-redis/cache, Redis only and with its TinyLFU tier). For GetAgent two
// more break the miss down (CountTasksByOwner has the first too): repo-nocache (the repository without a cache:
// policies and statistics around the sqlc call) and repo-miss-nolease (a
// miss without the cross-process lease, a non-default setting).
func BenchmarkDataLayer(b *testing.B) {
	f := newFixture(b)

	agentID := f.agents[len(f.agents)/2]
	getAgentKey := "bench:GetAgent:" + agentID.String()
	loadAgent := func(ctx context.Context) (db.Agent, error) { return f.raw.GetAgent(ctx, agentID) }
	b.Run("GetAgent", func(b *testing.B) {
		want := mustLoad(b, loadAgent)
		check := func(b *testing.B, got db.Agent) {
			b.Helper()
			if got.ID != want.ID || got.Version != want.Version || got.Name != want.Name {
				b.Fatalf("got agent %v v%d %q, want %v v%d %q", got.ID, got.Version, got.Name, want.ID, want.Version, want.Name)
			}
		}
		b.Run("raw", func(b *testing.B) {
			benchLoop(b, check, loadAgent)
		})
		b.Run("repo-nocache", func(b *testing.B) { // policies and statistics only
			r := f.newRepo(b, nil)
			benchLoop(b, check, func(ctx context.Context) (db.Agent, error) { return r.GetAgent(ctx, agentID) })
		})
		b.Run("redis-rtt", func(b *testing.B) { // one Redis round trip (GET of an absent key), for the miss budget
			c, _ := f.newCache(b, "rtt", false)
			rc := c.Client()
			key := f.redis.Prefix + "bench:absent"
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := rc.Do(ctx, rc.B().Get().Key(key).Build()).Error(); err != nil && !rueidis.IsRedisNil(err) {
					b.Fatal(err)
				}
			}
		})
		b.Run("repo-miss", func(b *testing.B) {
			c, obs := f.newCache(b, "miss-agent", true)
			r := f.newRepo(b, c)
			benchMisses(b, f, c, obs, r)
		})
		b.Run("repo-miss-nolease", func(b *testing.B) { // not the default: LeaseWait < 0
			c, obs := f.newCacheWith(b, "miss-agent-nolease", func(cfg *cache.Config) { cfg.LeaseWait = -1 })
			r := f.newRepo(b, c)
			benchMisses(b, f, c, obs, r)
		})
		b.Run("redis-hit", func(b *testing.B) {
			c, obs := f.newCache(b, "redis-agent", false)
			r := f.newRepo(b, c)
			benchHits(b, obs, false, check, func(ctx context.Context) (db.Agent, error) { return r.GetAgent(ctx, agentID) })
		})
		b.Run("local-hit", func(b *testing.B) {
			c, obs := f.newCache(b, "local-agent", true)
			r := f.newRepo(b, c)
			benchHits(b, obs, true, check, func(ctx context.Context) (db.Agent, error) { return r.GetAgent(ctx, agentID) })
		})
		b.Run("goredis-redis-hit", func(b *testing.B) {
			gc := f.newGoRedisCache(b, 0, 0)
			benchGoRedis(b, gc, false, check, func(ctx context.Context) (db.Agent, error) {
				return goRedisGet(ctx, gc, f.redis.Prefix+getAgentKey, 5*time.Minute, loadAgent)
			})
		})
		b.Run("goredis-local-hit", func(b *testing.B) {
			gc := f.newGoRedisCache(b, 10000, time.Minute)
			benchGoRedis(b, gc, true, check, func(ctx context.Context) (db.Agent, error) {
				return goRedisGet(ctx, gc, f.redis.Prefix+getAgentKey+":tlfu", 5*time.Minute, loadAgent)
			})
		})
	})

	countKey := "bench:CountTasks:" + f.owner.String()
	loadCounts := func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
		return f.raw.CountTasksByStatusPerAgent(ctx, f.owner)
	}
	b.Run("CountTasksByOwner", func(b *testing.B) {
		want := mustLoad(b, loadCounts)
		if sum := totalTasks(want); sum != agentsPerOwner*tasksPerAgent {
			b.Fatalf("owner has %d tasks, want %d", sum, agentsPerOwner*tasksPerAgent)
		}
		check := func(b *testing.B, got []db.CountTasksByStatusPerAgentRow) {
			b.Helper()
			if len(got) != len(want) || totalTasks(got) != totalTasks(want) || got[0] != want[0] {
				b.Fatalf("got %d rows / %d tasks, want %d rows / %d tasks", len(got), totalTasks(got), len(want), totalTasks(want))
			}
		}
		b.ReportMetric(float64(len(want)), "rows")
		b.Run("raw", func(b *testing.B) {
			benchLoop(b, check, loadCounts)
		})
		b.Run("repo-nocache", func(b *testing.B) { // policies and statistics only
			r := f.newRepo(b, nil)
			benchLoop(b, check, func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
				return r.CountTasksByStatusPerAgent(ctx, f.owner)
			})
		})
		b.Run("repo-miss", func(b *testing.B) {
			c, obs := f.newCache(b, "miss-count", true)
			r := f.newRepo(b, c)
			benchLoopWithMisses(b, c, obs, check, func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
				return r.CountTasksByStatusPerAgent(ctx, f.owner)
			})
		})
		b.Run("redis-hit", func(b *testing.B) {
			c, obs := f.newCache(b, "redis-count", false)
			r := f.newRepo(b, c)
			benchHits(b, obs, false, check, func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
				return r.CountTasksByStatusPerAgent(ctx, f.owner)
			})
		})
		b.Run("local-hit", func(b *testing.B) {
			c, obs := f.newCache(b, "local-count", true)
			r := f.newRepo(b, c)
			benchHits(b, obs, true, check, func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
				return r.CountTasksByStatusPerAgent(ctx, f.owner)
			})
		})
		b.Run("goredis-redis-hit", func(b *testing.B) {
			gc := f.newGoRedisCache(b, 0, 0)
			benchGoRedis(b, gc, false, check, func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
				return goRedisGet(ctx, gc, f.redis.Prefix+countKey, 30*time.Second, loadCounts)
			})
		})
		b.Run("goredis-local-hit", func(b *testing.B) {
			gc := f.newGoRedisCache(b, 10000, time.Minute)
			benchGoRedis(b, gc, true, check, func(ctx context.Context) ([]db.CountTasksByStatusPerAgentRow, error) {
				return goRedisGet(ctx, gc, f.redis.Prefix+countKey+":tlfu", 30*time.Second, loadCounts)
			})
		})
	})

	// (c) a 1000-row list read (ListAgentsByStatus): what a hit costs when
	// the value is large.
	listArg := db.ListAgentsByStatusParams{Status: db.AgentStatusActive, Limit: 1000}
	listKey := "bench:ListAgents1000"
	loadList := func(ctx context.Context) ([]db.Agent, error) { return f.raw.ListAgentsByStatus(ctx, listArg) }
	b.Run("ListAgents1000", func(b *testing.B) {
		want := mustLoad(b, loadList)
		if len(want) != 1000 {
			b.Fatalf("list has %d rows, want 1000", len(want))
		}
		check := func(b *testing.B, got []db.Agent) {
			b.Helper()
			if len(got) != len(want) || got[0].ID != want[0].ID || got[999].ID != want[999].ID {
				b.Fatalf("got %d rows, want %d", len(got), len(want))
			}
		}
		b.Run("raw", func(b *testing.B) {
			benchLoop(b, check, loadList)
		})
		b.Run("local-hit", func(b *testing.B) {
			c, obs := f.newCache(b, "local-list", true)
			r := f.newRepo(b, c)
			benchHits(b, obs, true, check, func(ctx context.Context) ([]db.Agent, error) { return r.ListAgentsByStatus(ctx, listArg) })
		})
		b.Run("goredis-local-hit", func(b *testing.B) {
			gc := f.newGoRedisCache(b, 10000, time.Minute)
			benchGoRedis(b, gc, true, check, func(ctx context.Context) ([]db.Agent, error) {
				return goRedisGet(ctx, gc, f.redis.Prefix+listKey+":tlfu", 30*time.Second, loadList)
			})
		})
	})

	// Reads are zipf-distributed; writes either follow the same zipf
	// distribution (hot rows are also written most: the hard case for a
	// cache) or are spread uniformly over all agents.
	for _, wd := range []struct {
		name    string
		uniform bool
	}{{"zipf-writes", false}, {"uniform-writes", true}} {
		b.Run("Mixed/"+wd.name, func(b *testing.B) {
			b.Run("raw", func(b *testing.B) {
				benchMixed(b, f, mixedTarget{instances: []agentOps{rawOps{f.raw}}}, wd.uniform)
			})
			b.Run("repo", func(b *testing.B) {
				c, obs := f.newCache(b, "mixed-"+wd.name, true)
				benchMixed(b, f, mixedTarget{instances: []agentOps{f.newRepo(b, c)}, observers: []*cache.Counters{obs}}, wd.uniform)
			})
			// Two repositories with their own caches and Redis clients
			// (two "processes"); goroutines alternate between them, so a
			// read on one follows writes completed on the other. Without
			// Strict the client-side tier is invalidated by a push, a
			// documented window: stale reads are reported, not failed.
			for _, strict := range []bool{false, true} {
				name := "repo-2instances"
				if strict {
					name += "-strict"
				}
				b.Run(name, func(b *testing.B) {
					var m mixedTarget
					for range 2 { // one Redis keyspace, two clients
						c, obs := f.newCacheWith(b, "mixed2-"+wd.name+"-"+name, func(cfg *cache.Config) { cfg.Strict = strict })
						m.instances = append(m.instances, f.newRepo(b, c))
						m.observers = append(m.observers, obs)
					}
					m.tolerateStale = !strict
					benchMixed(b, f, m, wd.uniform)
				})
			}
		})
	}
}

func mustLoad[T any](b *testing.B, load func(context.Context) (T, error)) T {
	b.Helper()
	v, err := load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func totalTasks(rows []db.CountTasksByStatusPerAgentRow) int64 {
	var n int64
	for _, r := range rows {
		n += r.TaskCount
	}
	return n
}

// benchLoop times call; the result is checked once before and once after
// the loop, not inside it.
func benchLoop[T any](b *testing.B, check func(*testing.B, T), call func(context.Context) (T, error)) {
	ctx := context.Background()
	check(b, mustLoad(b, call)) // warms the cache variants
	b.ReportAllocs()
	var last T
	var err error
	for b.Loop() {
		if last, err = call(ctx); err != nil {
			b.Fatal(err)
		}
	}
	check(b, last)
}

// benchHits is benchLoop for the repository's hit paths. It waits for the
// warm-up fill to land, then reports how many calls were hits of the
// expected tier and fails if any was not.
func benchHits[T any](b *testing.B, obs *cache.Counters, local bool, check func(*testing.B, T), call func(context.Context) (T, error)) {
	ctx := context.Background()
	// Warm up until a call is a hit of the tier under test: the fill runs
	// in the background, and the client-side tier fills on the first Redis
	// hit.
	tierHits := func() int64 {
		if local {
			return obs.LocalHits.Load()
		}
		return obs.RemoteHits.Load()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := tierHits()
		check(b, mustLoad(b, call))
		if tierHits() > n {
			break
		}
		if time.Now().After(deadline) {
			c := snapshot(obs)
			b.Fatalf("no %s hit after 10s of warm-up: local %d, remote %d, misses %d, bypasses %d, fills %d, fill errors %d, skipped %d, errors %d",
				tierName(local), c.local, c.remote, c.misses, c.bypass, obs.Fills.Load(), obs.FillErrors.Load(), obs.FillsSkipped.Load(), obs.Errors.Load())
		}
		time.Sleep(time.Millisecond)
	}
	before := *snapshot(obs)
	b.ReportAllocs()
	var last T
	var err error
	n := 0
	for b.Loop() {
		if last, err = call(ctx); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check(b, last)
	after := snapshot(obs)
	hits := after.remote - before.remote
	if local {
		hits = after.local - before.local
	}
	b.ReportMetric(100*float64(hits)/float64(n), "tier-hit-%")
	if hits != int64(n) {
		b.Errorf("%d of %d calls were %s hits (local %d, remote %d, misses %d)", hits, n,
			tierName(local),
			after.local-before.local, after.remote-before.remote, after.misses-before.misses)
	}
}

// benchMisses times GetAgent calls that find no value in Redis: each call
// asks for another agent, and after every pass over the ids the agents
// table's version is bumped (timer stopped), which makes every key new. The
// ids are read beforehand so their row version keys exist and are known to
// the process: the misses measured are those of absent values, not of a
// never-seen row.
func benchMisses(b *testing.B, f *fixture, c *cache.Cache, obs *cache.Counters, r *db.Repository) {
	ctx := context.Background()
	ids := f.agents[:2000]
	// Twice: the first read creates each row's version key, whose push
	// keeps it out of the version memo; the second memoizes it, as in a
	// warm process.
	for range 2 {
		for _, id := range ids {
			if _, err := r.GetAgent(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond) // fills and pushes land
	}
	bump := func() {
		if err := c.Invalidate(ctx, []string{"agents"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	bump()
	before := *snapshot(obs)
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		if i == len(ids) {
			b.StopTimer()
			bump()
			i = 0
			b.StartTimer()
		}
		a, err := r.GetAgent(ctx, ids[i])
		if err != nil {
			b.Fatal(err)
		}
		if a.ID != ids[i] {
			b.Fatalf("GetAgent(%v) returned %v", ids[i], a.ID)
		}
		i++
		n++
	}
	reportMisses(b, before, snapshot(obs), n)
}

// benchLoopWithMisses times a single-key read that misses every time: the
// tables it depends on are bumped before each call (timer stopped).
func benchLoopWithMisses[T any](b *testing.B, c *cache.Cache, obs *cache.Counters, check func(*testing.B, T), call func(context.Context) (T, error)) {
	ctx := context.Background()
	check(b, mustLoad(b, call))
	before := *snapshot(obs)
	b.ReportAllocs()
	var last T
	var err error
	n := 0
	for b.Loop() {
		b.StopTimer()
		if err := c.Invalidate(ctx, []string{"tasks"}, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if last, err = call(ctx); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check(b, last)
	reportMisses(b, before, snapshot(obs), n)
}

func reportMisses(b *testing.B, before counts, after *counts, n int) {
	b.Helper()
	misses := after.misses - before.misses
	b.ReportMetric(100*float64(misses)/float64(n), "miss-%")
	if misses != int64(n) {
		b.Errorf("%d of %d calls missed (hits: local %d, remote %d; bypasses %d)", misses, n,
			after.local-before.local, after.remote-before.remote, after.bypass-before.bypass)
	}
}

// benchGoRedis is benchLoop for the peer. go-redis/cache counts only Redis
// hits and misses (StatsEnabled), so a local-tier run must leave both
// unchanged and a Redis run must count one hit per call.
func benchGoRedis[T any](b *testing.B, gc *gocache.Cache, local bool, check func(*testing.B, T), call func(context.Context) (T, error)) {
	ctx := context.Background()
	for range 2 { // load and Set, then (local) a Redis hit that fills TinyLFU
		check(b, mustLoad(b, call))
	}
	before := *gc.Stats()
	b.ReportAllocs()
	var last T
	var err error
	n := 0
	for b.Loop() {
		if last, err = call(ctx); err != nil {
			b.Fatal(err)
		}
		n++
	}
	check(b, last)
	after := gc.Stats()
	redisHits, redisMisses := after.Hits-before.Hits, after.Misses-before.Misses
	want := uint64(n)
	if local {
		want = 0
	}
	if redisHits != want || redisMisses != 0 {
		b.Errorf("go-redis/cache: %d Redis hits and %d misses in %d calls, want %d and 0", redisHits, redisMisses, n, want)
	}
}

type counts struct{ local, remote, misses, bypass int64 }

func snapshot(o *cache.Counters) *counts {
	return &counts{o.LocalHits.Load(), o.RemoteHits.Load(), o.Misses.Load(), o.Bypasses.Load()}
}

func tierName(local bool) string {
	if local {
		return "local"
	}
	return "remote"
}

// agentOps is what the mixed workload calls: the generated repository or
// plain sqlc.
type agentOps interface {
	GetAgent(ctx context.Context, id uuid.UUID) (db.Agent, error)
	UpdateAgentStatus(ctx context.Context, arg db.UpdateAgentStatusParams) (int64, error)
}

type rawOps struct{ q *db.Queries }

func (r rawOps) GetAgent(ctx context.Context, id uuid.UUID) (db.Agent, error) {
	return r.q.GetAgent(ctx, id)
}

func (r rawOps) UpdateAgentStatus(ctx context.Context, arg db.UpdateAgentStatusParams) (int64, error) {
	return r.q.UpdateAgentStatus(ctx, arg)
}

const (
	mixedGoroutines = 32
	mixedWritePct   = 10
	zipfS           = 1.1
)

// mixedTarget is what the mixed workload runs against: goroutine i uses
// instances[i%len(instances)]. observers are the instances' cache counters
// (none for raw sqlc).
type mixedTarget struct {
	instances     []agentOps
	observers     []*cache.Counters
	tolerateStale bool // report stale reads without failing
}

// loads returns how many GetAgent calls of the repositories ran the query
// (the runtime counts a miss only when its loader ran; callers that shared
// another caller's load or waited for a lease are not counted).
func (m mixedTarget) loads() int64 {
	var n int64
	for _, ops := range m.instances {
		if r, ok := ops.(*db.Repository); ok {
			for _, s := range r.Runtime().Stats() {
				if s.Name == "GetAgent" {
					n += s.Misses
				}
			}
		}
	}
	return n
}

func (m mixedTarget) counts() counts {
	var c counts
	for _, o := range m.observers {
		s := snapshot(o)
		c.local += s.local
		c.remote += s.remote
		c.misses += s.misses
		c.bypass += s.bypass
	}
	return c
}

// benchMixed runs the mixed workload: mixedGoroutines goroutines, 90%
// GetAgent of a zipf-chosen agent and 10% UpdateAgentStatus (guarded by the
// version last seen committed) of a zipf-chosen or, with uniformWrites, a
// uniformly chosen agent. ns/op is wall time per operation across all
// goroutines; ops/s is the throughput. Stale reads are counted by a
// versionBook and fail the benchmark unless m.tolerateStale.
func benchMixed(b *testing.B, f *fixture, m mixedTarget, uniformWrites bool) {
	ctx := context.Background()
	book := newVersionBook(len(f.agents))
	if err := book.load(ctx, f); err != nil {
		b.Fatal(err)
	}
	if len(m.observers) > 0 {
		for _, ops := range m.instances {
			warm(b, ops, f.agents)
		}
	}
	before, loadsBefore := m.counts(), m.loads()
	var seeds, reads, writes, conflicts atomic.Int64
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((mixedGoroutines + procs - 1) / procs)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		seed := seeds.Add(1)
		ops := m.instances[int(seed)%len(m.instances)]
		w := newWorkload(seed, len(f.agents))
		var nr, nw, nc int64
		for pb.Next() {
			k := w.agent()
			write := w.write()
			if write && uniformWrites {
				k = w.uniform()
			}
			id := f.agents[k]
			if write {
				cur := book.latest(k)
				status := db.AgentStatusActive
				if cur%2 == 1 {
					status = db.AgentStatusPaused
				}
				n, err := ops.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{ID: id, Status: status, Version: cur})
				if err != nil {
					b.Error(err)
					return
				}
				if n == 1 {
					book.committed(k, cur)
				} else {
					nc++ // another goroutine committed cur first
				}
				nw++
				continue
			}
			floor := book.latest(k)
			a, err := ops.GetAgent(ctx, id)
			if err != nil {
				b.Error(err)
				return
			}
			book.read(k, floor, a.Version)
			nr++
		}
		reads.Add(nr)
		writes.Add(nw)
		conflicts.Add(nc)
	})
	b.StopTimer()
	total := reads.Load() + writes.Load()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(book.stale.Load()), "stale-reads")
	b.ReportMetric(float64(conflicts.Load()), "conflicts")
	if len(m.observers) > 0 {
		after := m.counts()
		hits := after.local + after.remote - before.local - before.remote
		misses := after.misses + after.bypass - before.misses - before.bypass
		if hits+misses > 0 {
			b.ReportMetric(100*float64(hits)/float64(hits+misses), "hit-%")
		}
		if r := reads.Load(); r > 0 {
			b.ReportMetric(100*float64(m.loads()-loadsBefore)/float64(r), "db-read-%")
		}
	}
	if s := book.stale.Load(); s > 0 {
		if m.tolerateStale {
			b.Logf("%d stale reads across instances (first: %s)", s, book.firstStale())
		} else {
			b.Errorf("%d stale reads (first: %s)", s, book.firstStale())
		}
	}
}

// warm reads every agent once through ops, in parallel, so the mixed
// workload measures a warm cache rather than its first fill.
func warm(b *testing.B, ops agentOps, ids []uuid.UUID) {
	b.Helper()
	ctx := context.Background()
	errs := make(chan error, mixedGoroutines)
	var next atomic.Int64
	for range mixedGoroutines {
		go func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ids)) {
					errs <- nil
					return
				}
				if _, err := ops.GetAgent(ctx, ids[i]); err != nil {
					errs <- fmt.Errorf("warm GetAgent(%v): %w", ids[i], err)
					return
				}
			}
		}()
	}
	for range mixedGoroutines {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}
