package authors_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentical/datalayer/internal/codegen/testdata/examples/authors/authors"
	"github.com/agentical/datalayer/internal/codegen/testdata/examples/smoke"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestSmoke: sqlc's authors example through its generated repository on
// real PostgreSQL and Redis: write, read twice (the second a hit), write,
// read the new value.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	env := smoke.Setup(t, "../schema", authors.SchemaVersion, authors.Methods())
	r := authors.NewRepository(env.Pool, env.Runtime)

	a, err := r.CreateAuthor(ctx, authors.CreateAuthorParams{Name: "Brian Kernighan", Bio: pgtype.Text{String: "Co-author of The C Programming Language", Valid: true}})
	if err != nil {
		t.Fatal(err)
	}
	env.ReadTwice(t, "GetAuthor", func() error {
		got, err := r.GetAuthor(ctx, a.ID)
		if err == nil && got != a {
			t.Fatalf("GetAuthor = %+v, want %+v", got, a)
		}
		return err
	})
	env.ReadTwice(t, "ListAuthors", func() error {
		l, err := r.ListAuthors(ctx)
		if err == nil && len(l) != 1 {
			t.Fatalf("ListAuthors = %+v", l)
		}
		return err
	})

	b, err := r.CreateAuthor(ctx, authors.CreateAuthorParams{Name: "Alan Donovan"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := r.ListAuthors(ctx)
	if err != nil || len(l) != 2 || l[0] != b || l[1] != a {
		t.Fatalf("ListAuthors after an insert = %+v, %v; want both authors by name", l, err)
	}
	if err := r.DeleteAuthor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetAuthor(ctx, a.ID); err == nil {
		t.Fatal("GetAuthor after DeleteAuthor served the deleted author")
	}
	if l, err := r.ListAuthors(ctx); err != nil || len(l) != 1 || l[0] != b {
		t.Fatalf("ListAuthors after a delete = %+v, %v", l, err)
	}
}
