package booktest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agentical/datalayer/internal/codegen/testdata/examples/booktest/booktest"
	"github.com/agentical/datalayer/internal/codegen/testdata/examples/smoke"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestSmoke: sqlc's booktest example through its generated repository on
// real PostgreSQL and Redis: write, read twice (the second a hit), write,
// read the new value, for a keyed read, a read by other columns and a join.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	env := smoke.Setup(t, "../schema", booktest.SchemaVersion, booktest.Methods())
	r := booktest.NewRepository(env.Pool, env.Runtime)

	a, err := r.CreateAuthor(ctx, "Unknown Master")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.CreateBook(ctx, booktest.CreateBookParams{
		AuthorID: a.AuthorID, Isbn: "1", BookType: booktest.BookTypeFICTION, Title: "my book title", Year: 2016,
		Available: pgtype.Timestamptz{Time: time.Now().UTC().Truncate(time.Microsecond), Valid: true}, Tags: []string{"cool", "unique"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env.ReadTwice(t, "GetBook", func() error {
		got, err := r.GetBook(ctx, b.BookID)
		if err == nil && got.Title != "my book title" {
			t.Fatalf("GetBook = %+v", got)
		}
		return err
	})
	env.ReadTwice(t, "BooksByTitleYear", func() error {
		l, err := r.BooksByTitleYear(ctx, booktest.BooksByTitleYearParams{Title: "my book title", Year: 2016})
		if err == nil && len(l) != 1 {
			t.Fatalf("BooksByTitleYear = %+v", l)
		}
		return err
	})
	env.ReadTwice(t, "BooksByTags", func() error {
		l, err := r.BooksByTags(ctx, []string{"cool"})
		if err == nil && (len(l) != 1 || l[0].Name.String != "Unknown Master") {
			t.Fatalf("BooksByTags = %+v", l)
		}
		return err
	})

	if err := r.UpdateBook(ctx, booktest.UpdateBookParams{BookID: b.BookID, Title: "changed title", Tags: []string{"cool", "changed"}}); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetBook(ctx, b.BookID)
	if err != nil || got.Title != "changed title" || !slices.Equal(got.Tags, []string{"cool", "changed"}) {
		t.Fatalf("GetBook after UpdateBook = %+v, %v", got, err)
	}
	if l, err := r.BooksByTitleYear(ctx, booktest.BooksByTitleYearParams{Title: "my book title", Year: 2016}); err != nil || len(l) != 0 {
		t.Fatalf("BooksByTitleYear of the old title after UpdateBook = %+v, %v", l, err)
	}
	if l, err := r.BooksByTags(ctx, []string{"changed"}); err != nil || len(l) != 1 {
		t.Fatalf("BooksByTags after UpdateBook = %+v, %v", l, err)
	}
	if hello, err := r.SayHello(ctx, "world"); err != nil || hello.String != "hello world" {
		t.Fatalf("SayHello = %+v, %v", hello, err)
	}
}
