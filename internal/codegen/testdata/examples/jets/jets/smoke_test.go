package jets_test

import (
	"context"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/testdata/examples/jets/jets"
	"github.com/agentical/datalayer/internal/codegen/testdata/examples/smoke"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestSmoke: sqlc's jets example has no insert query, so the first write is
// plain SQL before anything is cached; then read twice (the second a hit),
// write through the repository, read the new value.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	env := smoke.Setup(t, "../schema", jets.SchemaVersion, jets.Methods())
	r := jets.NewRepository(env.Pool, env.Runtime)

	if _, err := env.Pool.Exec(ctx, `INSERT INTO pilots (id, name) VALUES (1, 'Maverick'), (2, 'Goose')`); err != nil {
		t.Fatal(err)
	}
	env.ReadTwice(t, "CountPilots", func() error {
		n, err := r.CountPilots(ctx)
		if err == nil && n != 2 {
			t.Fatalf("CountPilots = %d, want 2", n)
		}
		return err
	})
	env.ReadTwice(t, "ListPilots", func() error {
		l, err := r.ListPilots(ctx)
		if err == nil && len(l) != 2 {
			t.Fatalf("ListPilots = %+v", l)
		}
		return err
	})
	if err := r.DeletePilot(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if n, err := r.CountPilots(ctx); err != nil || n != 1 {
		t.Fatalf("CountPilots after DeletePilot = %d, %v; want 1", n, err)
	}
	if l, err := r.ListPilots(ctx); err != nil || len(l) != 1 || l[0].Name != "Maverick" {
		t.Fatalf("ListPilots after DeletePilot = %+v, %v", l, err)
	}
}
