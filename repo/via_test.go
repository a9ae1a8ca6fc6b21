package repo_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
)

const time2s = 2 * time.Second

// GetAgentByName is a plain key lookup of the row GetAgent reads by id, so
// the generator serves it through GetAgent's cached row (repo.ReadVia).
func TestReadViaSharesTheRowByID(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user(t).ID
	a, b := e.agent(t, owner), e.agent(t, owner)
	byName := func(name string) func() (db.Agent, error) {
		return func() (db.Agent, error) {
			return e.Repo.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: owner, Name: name})
		}
	}
	getA := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }

	// A row loaded by id is known by name too: no query.
	warm(t, e, "GetAgent", getA)
	if got := must[db.Agent](t)(noQuery(t, e, "GetAgentByName", byName(a.Name))); got.ID != a.ID {
		t.Fatalf("by name = %s, want %s", got.ID, a.ID)
	}
	// A write by id drops the one entry both read.
	e.setAgentStatus(t, a.ID, db.AgentStatusActive)
	if got := must[db.Agent](t)(byName(a.Name)()); got.Status != db.AgentStatusActive {
		t.Fatalf("by name after the update = %s, want active", got.Status)
	}
	waitFor(t, "GetAgent cached again", time2s, func() bool {
		before := e.Tracer.count("GetAgent")
		_, _ = getA()
		return e.Tracer.count("GetAgent") == before
	})
	must[db.Agent](t)(noQuery(t, e, "GetAgentByName", byName(a.Name)))

	// Statistics count those reads under GetAgentByName.
	i := slices.IndexFunc(e.RT.Stats(), func(s repo.MethodStats) bool { return s.Name == "GetAgentByName" })
	if i < 0 || e.RT.Stats()[i].Calls < 2 || e.RT.Stats()[i].Hits < 1 {
		t.Fatalf("GetAgentByName stats: %+v", e.RT.Stats())
	}

	// The row moves to another name (a write the generator cannot see,
	// invalidated by hand), and b takes a's old name: the old name must now
	// find b, the new one a, although the index still points at a.
	oldName := a.Name
	if _, err := e.Pool.Exec(ctx, "UPDATE agents SET name = name || '-renamed' WHERE id = $1", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(ctx, "UPDATE agents SET name = $2 WHERE id = $1", b.ID, oldName); err != nil {
		t.Fatal(err)
	}
	noErr(t, e.RT.InvalidateTables(ctx, "agents"))
	if got := must[db.Agent](t)(byName(oldName)()); got.ID != b.ID {
		t.Fatalf("by the old name after the swap = %s, want b %s", got.ID, b.ID)
	}
	if got := must[db.Agent](t)(byName(oldName + "-renamed")()); got.ID != a.ID {
		t.Fatalf("by the new name = %s, want a %s", got.ID, a.ID)
	}
	// Deleted: not found, though the index knew the name.
	n, err := e.Repo.DeleteAgent(ctx, b.ID)
	affected(t, "DeleteAgent", n, err, 1)
	if _, err := byName(oldName)(); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("by name after the delete: %v, want not found", err)
	}
	// Inside a transaction it is a plain query.
	noErr(t, e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
		got, err := r.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: owner, Name: oldName + "-renamed"})
		if err == nil && got.ID != a.ID {
			t.Errorf("in tx: %s", got.ID)
		}
		return err
	}))
}
