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
