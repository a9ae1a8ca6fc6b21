package repo_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
)

// untilHit reads until a read is a cache hit; with local, a hit of the
// in-process tier (the state in which a cross-process invalidation has
// something to invalidate). Strict lookups read versions from Redis, so the
// observer reports their hits as remote even when the value is in-process.
func untilHit[T any](t testing.TB, e *env, local bool, fn func() (T, error)) {
	t.Helper()
	hits := func() int64 {
		if local {
			return e.Obs.LocalHits.Load()
		}
		return e.Obs.Hits()
	}
	waitFor(t, "a cache hit", 5*time.Second, func() bool {
		before := hits()
		if _, err := fn(); err != nil {
			t.Fatal(err)
		}
		if hits() > before {
			return true
		}
		time.Sleep(time.Millisecond) // let a background fill land
		return false
	})
}

// TestTwoRepositoriesSeeEachOthersWrites runs two repositories on one
// database, each with its own cache.Cache and rueidis client on the same
// Redis prefix (two processes, as far as the cache can tell). Each round one
// writes while the other holds the row in its in-process tier; the reader
// polls until it sees the write. The package documents a window of usually
// under 1 ms (up to ~12 ms under load) by default and none in Strict mode.
func TestTwoRepositoriesSeeEachOthersWrites(t *testing.T) {
	const (
		rounds = 20
		bound  = 500 * time.Millisecond
	)
	for _, strict := range []bool{false, true} {
		name := "default"
		if strict {
			name = "strict"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			mode := func(c *cache.Config) { c.Strict = strict }
			e1 := newEnv(t, envOptions{cache: mode})
			e2 := newEnv(t, envOptions{dsn: e1.DSN, redis: &e1.Redis, cache: mode})
			a := e1.agent(t, e1.user(t).ID)
			statuses := []db.AgentStatus{db.AgentStatusActive, db.AgentStatusPaused}
			var windows []time.Duration
			staleReads := 0
			for i := range rounds {
				writer, reader := e1, e2
				if i%2 == 1 {
					writer, reader = e2, e1
				}
				read := func() (db.Agent, error) { return reader.Repo.GetAgent(ctx, a.ID) }
				untilHit(t, reader, !strict, read)
				untilHit(t, writer, !strict, func() (db.Agent, error) { return writer.Repo.GetAgent(ctx, a.ID) })

				want := statuses[i%2]
				writer.setAgentStatus(t, a.ID, want)
				written := time.Now()
				for {
					started := time.Now()
					got := must[db.Agent](t)(read())
					if got.Status == want {
						// The window is how long reads that started after the
						// write returned could still get the old value.
						windows = append(windows, started.Sub(written))
						break
					}
					staleReads++
					if time.Since(written) > bound {
						t.Fatalf("round %d: reader still sees %s %v after the write", i, got.Status, bound)
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
			for _, e := range []*env{e1, e2} {
				if got := must[db.Agent](t)(e.Repo.GetAgent(ctx, a.ID)); got.Status != statuses[(rounds-1)%2] {
					t.Errorf("final read = %s, want the last write", got.Status)
				}
			}
			slices.Sort(windows)
			t.Logf("%s: %d rounds, %d stale reads; window (write returned → start of first fresh read) median %v, max %v",
				name, rounds, staleReads, windows[len(windows)/2], windows[len(windows)-1])
			if strict && staleReads != 0 {
				t.Errorf("strict mode served %d stale reads after the write returned, want 0", staleReads)
			}
		})
	}
}
