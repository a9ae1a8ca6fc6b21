package repo_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentical/datalayer/db"
)

// Hits from the typed in-process tier (generated copy functions in
// db/repo_copy.gen.go) hand every caller its own value: changing one
// result's bytes or list never shows in the next.
func TestTypedTierHitsAreIndependentCopies(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.agent(t, e.user(t).ID)
	want := string(a.Config)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	must[db.Agent](t)(oneQuery(t, e, "GetAgent", get))
	e.waitFills(t, 1)
	local := e.Obs.LocalHits.Load()
	deadline := time.Now().Add(5 * time.Second)
	for e.Obs.LocalHits.Load() < local+2 && time.Now().Before(deadline) {
		got := must[db.Agent](t)(noQuery(t, e, "GetAgent", get))
		if string(got.Config) != want {
			t.Fatalf("hit returned config %q, want %q", got.Config, want)
		}
		for i := range got.Config {
			got.Config[i] = 'x' // the caller owns what it got
		}
	}
	if e.Obs.LocalHits.Load() < local+2 {
		t.Fatal("no in-process hits")
	}
	got := must[db.Agent](t)(noQuery(t, e, "GetAgent", get))
	if string(got.Config) != want {
		t.Fatalf("after callers changed their copies: config %q, want %q", got.Config, want)
	}
}

// A list hit copies every row's bytes into one buffer (generated
// copySliceAgent): rows must still be independent of each other and of
// the next hit, also when a caller appends to one.
func TestTypedTierListRowsAreIndependent(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user(t).ID
	e.agent(t, owner)
	e.agent(t, owner)
	arg := db.ListAgentsByStatusParams{Status: db.AgentStatusDraft, Limit: 10}
	list := func() ([]db.Agent, error) { return e.Repo.ListAgentsByStatus(ctx, arg) }
	fills := e.fills()
	must[[]db.Agent](t)(list())
	e.waitFills(t, fills+1)
	local := e.Obs.LocalHits.Load()
	deadline := time.Now().Add(5 * time.Second)
	for e.Obs.LocalHits.Load() < local+2 && time.Now().Before(deadline) {
		got := must[[]db.Agent](t)(list())
		if len(got) != 2 || string(got[0].Config) != `{"model": "m1"}` || string(got[1].Config) != `{"model": "m1"}` {
			t.Fatalf("hit: %d rows, configs %q %q", len(got), got[0].Config, got[1].Config)
		}
		got[0].Config = append(got[0].Config, "tail"...) // must not run into row 1
		got[1].Config[0] = 'x'
		if string(got[1].Config) != `x"model": "m1"}` || string(got[0].Config) != `{"model": "m1"}tail` {
			t.Fatalf("rows share bytes: %q %q", got[0].Config, got[1].Config)
		}
	}
	if e.Obs.LocalHits.Load() < local+2 {
		t.Fatal("no in-process hits")
	}
	got := must[[]db.Agent](t)(list())
	if string(got[0].Config) != `{"model": "m1"}` || string(got[1].Config) != `{"model": "m1"}` {
		t.Fatalf("after callers changed their copies: %q %q", got[0].Config, got[1].Config)
	}
}

// TestTypedHitAllocations: a generated PK read answered by the typed tier
// allocates only the caller's copy of the row (its jsonb config): the
// fast path (repo.Hit) boxes no argument and builds no closure. Budget,
// not timing: allocations are deterministic.
func TestTypedHitAllocations(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.agent(t, e.user(t).ID)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	warm(t, e, "GetAgent", get)
	hits := e.Obs.Hits()
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := get(); err != nil {
			t.Fatal(err)
		}
	})
	if e.Obs.Hits()-hits < 200 {
		t.Fatalf("only %d of 201 reads were hits", e.Obs.Hits()-hits)
	}
	if allocs > 1 {
		t.Errorf("typed hit allocates %.1f times per read, want at most 1 (the row's copy)", allocs)
	}
}
