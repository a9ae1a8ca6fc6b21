package bookstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/codegen/testdata/bookstore/bookstore"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
)

// This package is sqlc output for an unrelated schema plus the repository
// datalayer-gen wrote for it: proof that the generator is not tied to the
// Agentical schema. These tests run it against real PostgreSQL and Redis.

func TestMain(m *testing.M) { testinfra.Main(m) }

type fixture struct {
	repo   *bookstore.Repository
	tracer *postgres.Tracer
	pool   *pgxpool.Pool
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	dsn := testinfra.Postgres(t, testinfra.WithSchemaDir("../schema"))
	tracer := postgres.NewTracer(postgres.TracerConfig{})
	pool, err := postgres.NewPool(ctx, postgres.Config{URL: dsn, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := testinfra.Redis(t)
	c, err := cache.New(ctx, cache.Config{
		Addrs: []string{r.Addr}, Username: r.Username, Password: r.Password, DB: r.DB,
		Prefix: strings.TrimSuffix(r.Prefix, ":"), SchemaVersion: bookstore.SchemaVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rt, err := repo.New(repo.Config{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Check(bookstore.Methods()); err != nil {
		t.Fatal(err)
	}
	return fixture{repo: bookstore.NewRepository(pool, rt), tracer: tracer, pool: pool}
}

// dbCalls counts how often the database ran query name.
func (f fixture) dbCalls(name string) int64 {
	s, _ := f.tracer.Query(name)
	return s.Count
}

func price(t *testing.T, s string) pgtype.Numeric {
	t.Helper()
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCachedReadAndKeyedInvalidation(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	a, err := f.repo.CreateAuthor(ctx, bookstore.CreateAuthorParams{Name: "Ursula", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.repo.CreateAuthor(ctx, bookstore.CreateAuthorParams{Name: "Italo", Country: "IT"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for _, id := range []int64{a.ID, b.ID} {
			if _, err := f.repo.GetAuthor(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := f.dbCalls("GetAuthor"); n != 2 {
		t.Fatalf("GetAuthor ran %d times in the database, want 2 (one miss per author)", n)
	}

	if n, err := f.repo.RenameAuthor(ctx, bookstore.RenameAuthorParams{ID: a.ID, Name: "Ursula K."}); err != nil || n != 1 {
		t.Fatalf("RenameAuthor = %d, %v", n, err)
	}
	got, err := f.repo.GetAuthor(ctx, a.ID)
	if err != nil || got.Name != "Ursula K." {
		t.Fatalf("after rename GetAuthor = %+v, %v; want the new name", got, err)
	}
	if _, err := f.repo.GetAuthor(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	// Only the renamed author's entry was invalidated.
	if n := f.dbCalls("GetAuthor"); n != 3 {
		t.Fatalf("GetAuthor ran %d times, want 3: a keyed write must not invalidate other rows", n)
	}
}

func TestNegativeCachingAndInsert(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	// Identity keys are guessable: the next id is 1 in a fresh database.
	for range 2 {
		if _, err := f.repo.GetAuthor(ctx, 1); !errors.Is(err, postgres.ErrNotFound) || !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("GetAuthor(1) before insert: %v, want not found", err)
		}
	}
	if n := f.dbCalls("GetAuthor"); n != 1 {
		t.Fatalf("not-found ran %d times, want 1 (negative caching)", n)
	}
	a, err := f.repo.CreateAuthor(ctx, bookstore.CreateAuthorParams{Name: "First"})
	if err != nil || a.ID != 1 {
		t.Fatalf("CreateAuthor = %+v, %v", a, err)
	}
	got, err := f.repo.GetAuthor(ctx, 1)
	if err != nil || got.Name != "First" {
		t.Fatalf("after insert GetAuthor(1) = %+v, %v; a cached not-found survived the insert", got, err)
	}
}

func TestCascadeInvalidation(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	a, err := f.repo.CreateAuthor(ctx, bookstore.CreateAuthorParams{Name: "Borges"})
	if err != nil {
		t.Fatal(err)
	}
	for _, isbn := range []string{"978-1", "978-2"} {
		if _, err := f.repo.AddBook(ctx, bookstore.AddBookParams{Isbn: isbn, AuthorID: a.ID, Title: "T" + isbn, Price: price(t, "9.50")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.repo.AddReview(ctx, bookstore.AddReviewParams{Isbn: "978-1", Stars: 5}); err != nil {
		t.Fatal(err)
	}
	books, err := f.repo.BooksByAuthor(ctx, a.ID)
	if err != nil || len(books) != 2 {
		t.Fatalf("BooksByAuthor = %d books, %v", len(books), err)
	}
	avg, err := f.repo.AverageStars(ctx, "978-1")
	if err != nil || avg.Reviews != 1 {
		t.Fatalf("AverageStars = %+v, %v", avg, err)
	}
	// Deleting the author cascades to books and reviews in the database;
	// the cached reads of those tables must follow.
	if err := f.repo.DeleteAuthor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	books, err = f.repo.BooksByAuthor(ctx, a.ID)
	if err != nil || len(books) != 0 {
		t.Fatalf("after cascade BooksByAuthor = %d books, %v; want 0", len(books), err)
	}
	avg, err = f.repo.AverageStars(ctx, "978-1")
	if err != nil || avg.Reviews != 0 {
		t.Fatalf("after cascade AverageStars = %+v, %v; want 0 reviews", avg, err)
	}
	if _, err := f.repo.GetBook(ctx, "978-2"); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("after cascade GetBook = %v, want not found", err)
	}
}

func TestWriteInvalidatesAggregate(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	a, err := f.repo.CreateAuthor(ctx, bookstore.CreateAuthorParams{Name: "Le Guin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.AddBook(ctx, bookstore.AddBookParams{Isbn: "1", AuthorID: a.ID, Title: "Dispossessed", Price: price(t, "12.00")}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []int16{4, 5} {
		if _, err := f.repo.AddReview(ctx, bookstore.AddReviewParams{Isbn: "1", Stars: s}); err != nil {
			t.Fatal(err)
		}
	}
	top, err := f.repo.TopRated(ctx, bookstore.TopRatedParams{MinReviews: 2, PageSize: 10})
	if err != nil || len(top) != 1 || top[0].AvgStars != 4.5 {
		t.Fatalf("TopRated = %+v, %v", top, err)
	}
	if _, err := f.repo.AddReview(ctx, bookstore.AddReviewParams{Isbn: "1", Stars: 3}); err != nil {
		t.Fatal(err)
	}
	top, err = f.repo.TopRated(ctx, bookstore.TopRatedParams{MinReviews: 2, PageSize: 10})
	if err != nil || len(top) != 1 || top[0].AvgStars != 4 {
		t.Fatalf("after a new review TopRated = %+v, %v; want avg 4", top, err)
	}
	if n, err := f.repo.SetPrice(ctx, bookstore.SetPriceParams{Isbn: "1", Price: price(t, "15.00")}); err != nil || n != 1 {
		t.Fatalf("SetPrice = %d, %v", n, err)
	}
	b, err := f.repo.GetBook(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Price.Float64Value(); v.Float64 != 15 {
		t.Fatalf("GetBook price = %v, want 15", v.Float64)
	}
}

func TestTransactionAppliesAfterCommit(t *testing.T) {
	ctx := context.Background()
	f := setup(t)
	a, err := f.repo.CreateAuthor(ctx, bookstore.CreateAuthorParams{Name: "Calvino"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.GetAuthor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	err = f.repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *bookstore.Repository) error {
		if _, err := r.RenameAuthor(ctx, bookstore.RenameAuthorParams{ID: a.ID, Name: "rolled back"}); err != nil {
			return err
		}
		got, err := r.GetAuthor(ctx, a.ID) // sees its own write, bypassing the cache
		if err != nil || got.Name != "rolled back" {
			t.Errorf("inside tx GetAuthor = %+v, %v", got, err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v", err)
	}
	got, err := f.repo.GetAuthor(ctx, a.ID)
	if err != nil || got.Name != "Calvino" {
		t.Fatalf("after rollback GetAuthor = %+v, %v", got, err)
	}
	err = f.repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *bookstore.Repository) error {
		_, err := r.RenameAuthor(ctx, bookstore.RenameAuthorParams{ID: a.ID, Name: "Italo Calvino"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = f.repo.GetAuthor(ctx, a.ID)
	if err != nil || got.Name != "Italo Calvino" {
		t.Fatalf("after commit GetAuthor = %+v, %v", got, err)
	}
}
