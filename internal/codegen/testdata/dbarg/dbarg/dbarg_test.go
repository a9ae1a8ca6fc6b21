package dbarg_test

import (
	"context"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/testdata/dbarg/dbarg"
	"github.com/agentical/datalayer/internal/codegen/testdata/examples/smoke"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestDBArgumentRepository: with emit_methods_with_db_argument the
// repository's methods take no connection (sqlc's take one after ctx), and
// queries named Any and Max (sqlc declares constants any and max) work:
// write, read twice (the second a hit), write, read the new value; a batch
// and a copyfrom invalidate too, also inside a transaction.
func TestDBArgumentRepository(t *testing.T) {
	ctx := context.Background()
	env := smoke.Setup(t, "../schema", dbarg.SchemaVersion, dbarg.Methods())
	r := dbarg.NewRepository(env.Pool, env.Runtime)

	it, err := r.AddItem(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	env.ReadTwice(t, "Any", func() error {
		got, err := r.Any(ctx, it.ID)
		if err == nil && got != it {
			t.Fatalf("Any = %+v, want %+v", got, it)
		}
		return err
	})
	env.ReadTwice(t, "Max", func() error {
		l, err := r.Max(ctx)
		if err == nil && len(l) != 1 {
			t.Fatalf("Max = %+v", l)
		}
		return err
	})
	if n, err := r.Retitle(ctx, dbarg.RetitleParams{ID: it.ID, Title: "second"}); err != nil || n != 1 {
		t.Fatalf("Retitle = %d, %v", n, err)
	}
	if got, err := r.Any(ctx, it.ID); err != nil || got.Title != "second" {
		t.Fatalf("Any after Retitle = %+v, %v", got, err)
	}

	var batchErr error
	r.RetitleMany(ctx, []dbarg.RetitleManyParams{{ID: it.ID, Title: "third"}}).Exec(func(_ int, err error) {
		if err != nil {
			batchErr = err
		}
	})
	if batchErr != nil {
		t.Fatal(batchErr)
	}
	if got, err := r.Any(ctx, it.ID); err != nil || got.Title != "third" {
		t.Fatalf("Any after the batch = %+v, %v", got, err)
	}

	err = r.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, tx *dbarg.Repository) error {
		_, err := tx.LoadItems(ctx, []string{"a", "b"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := r.Max(ctx); err != nil || len(l) != 3 {
		t.Fatalf("Max after LoadItems in a transaction = %+v, %v; want 3 items", l, err)
	}
}
