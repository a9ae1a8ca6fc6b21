package cache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
)

// Linked reads: people are read by their unique email and written by id,
// as the generated repositories do with Deps.Link.

type person struct {
	ID    int64
	Email string
	Name  string
}

const emailToken = "people|key:email" // bumped by writes by id

func byEmailKey(email string) cache.Key {
	return cache.NewKey("PersonByEmail", cache.Deps{
		Rows: []cache.RowRef{cache.Row("people", "email", email)},
		Link: &cache.Link{Table: "people", Absent: []string{emailToken}, Rows: func(v any) []cache.RowRef {
			return []cache.RowRef{cache.Row("people", "id", v.(person).ID)}
		}},
	}, email)
}

func peopleDB(t *testing.T) *pgxpool.Pool {
	pool := itemsDB(t)
	exec(t, pool, "CREATE TABLE people (id bigint PRIMARY KEY, email text UNIQUE NOT NULL, name text NOT NULL)")
	exec(t, pool, "INSERT INTO people VALUES (1, 'a@x', 'A'), (2, 'b@x', 'B')")
	return pool
}

// personLoader loads by email and counts its calls.
func personLoader(pool *pgxpool.Pool, calls *atomic.Int64, email string) func(context.Context) (person, error) {
	return func(ctx context.Context) (person, error) {
		calls.Add(1)
		var p person
		err := pool.QueryRow(ctx, "SELECT id, email, name FROM people WHERE email = $1", email).Scan(&p.ID, &p.Email, &p.Name)
		return p, err
	}
}

// writeByID updates a person by id and invalidates as a write by primary
// key does: its row, and the token of reads by the other key.
func writeByID(t *testing.T, c *cache.Cache, pool *pgxpool.Pool, id int64, set string, args ...any) {
	t.Helper()
	exec(t, pool, "UPDATE people SET "+set+" WHERE id = $1", append([]any{id}, args...)...)
	if err := c.Invalidate(context.Background(), []string{emailToken}, []cache.RowRef{cache.Row("people", "id", id)}); err != nil {
		t.Fatal(err)
	}
}

var notFound = cache.Options{Negative: time.Minute}

func TestLinkedReadKeepsHitsOfOtherRows(t *testing.T) {
	pool := peopleDB(t)
	target := testinfra.Redis(t)
	reader, _ := newCache(t, target, func(c *cache.Config) { c.IsNotFound = func(err error) bool { return errors.Is(err, pgx.ErrNoRows) } })
	writer, _ := newCache(t, target, nil)
	ctx := context.Background()
	var calls atomic.Int64
	get := func(email string) (person, error) {
		return cache.Get(ctx, reader, byEmailKey(email), notFound, personLoader(pool, &calls, email))
	}
	mustGet := func(email, wantName string, wantLoads int64) {
		t.Helper()
		before := calls.Load()
		p, err := get(email)
		if err != nil || p.Name != wantName {
			t.Fatalf("get %s: %+v %v, want name %q", email, p, err, wantName)
		}
		if got := calls.Load() - before; got != wantLoads {
			t.Fatalf("get %s: %d loads, want %d", email, got, wantLoads)
		}
		cache.WaitBackground(reader)
	}
	mustGet("a@x", "A", 1)
	mustGet("a@x", "A", 0)
	name := "A"

	for _, w := range []struct {
		name string
		c    *cache.Cache
	}{{"same process", reader}, {"other process", writer}} {
		t.Run(w.name, func(t *testing.T) {
			// A write by id to another row leaves the entry alone.
			writeByID(t, w.c, pool, 2, "name = $2", "B2")
			time.Sleep(20 * time.Millisecond) // let any push arrive
			mustGet("a@x", name, 0)
			// A write by id to the row itself invalidates it.
			writeByID(t, w.c, pool, 1, "name = $2", "A-"+w.name)
			// Until the push reaches the reader, its fill may be refused;
			// then it caches the new row.
			eventually(t, 2*time.Second, "the new name, cached", func() bool {
				p, err := get("a@x")
				cache.WaitBackground(reader)
				before := calls.Load()
				q, err2 := get("a@x")
				return err == nil && err2 == nil && p.Name == "A-"+w.name && q.Name == p.Name && calls.Load() == before
			})
			name = "A-" + w.name
		})
	}

	// A cached not-found goes when a write by id moves a row to that key.
	if _, err := get("c@x"); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("c@x: %v", err)
	}
	cache.WaitBackground(reader)
	before := calls.Load()
	if _, err := get("c@x"); !errors.Is(err, pgx.ErrNoRows) || calls.Load() != before {
		t.Fatalf("c@x not a cached not-found: %v, %d loads", err, calls.Load()-before)
	}
	writeByID(t, reader, pool, 2, "email = $2", "c@x")
	mustGet("c@x", "B2", 1)
	// and the old key of the moved row no longer finds it.
	if _, err := get("b@x"); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("b@x after the move: %v", err)
	}
}

// TestLinkedStaleFillNeverServed forces a write by id between a linked
// read's load and its fill's checks, and between the checks and the SET.
func TestLinkedStaleFillNeverServed(t *testing.T) {
	for _, hook := range []string{"before check", "after check"} {
		t.Run(hook, func(t *testing.T) {
			pool := peopleDB(t)
			target := testinfra.Redis(t)
			reader, robs := newCache(t, target, nil)
			writer, _ := newCache(t, target, nil)
			ctx := context.Background()
			var calls atomic.Int64
			release := make(chan struct{})
			park := func(string) { <-release }
			if hook == "before check" {
				cache.SetBeforeFill(reader, park)
			} else {
				cache.SetAfterFillCheck(reader, park)
			}
			p, err := cache.Get(ctx, reader, byEmailKey("a@x"), cache.Options{}, personLoader(pool, &calls, "a@x"))
			if err != nil || p.Name != "A" {
				t.Fatalf("first read: %+v %v", p, err)
			}
			// The fill is parked with the old row; the row changes by id.
			writeByID(t, writer, pool, 1, "name = $2", "new")
			cache.SetBeforeFill(reader, nil)
			cache.SetAfterFillCheck(reader, nil)
			close(release)
			cache.WaitBackground(reader)
			if hook == "before check" && robs.FillsSkipped.Load() != 1 {
				t.Fatalf("fill not skipped (%d skipped, %d fills)", robs.FillsSkipped.Load(), robs.Fills.Load())
			}
			// Whatever landed, no later read serves the old row, in either
			// process, once the writer's push reached the reader.
			time.Sleep(20 * time.Millisecond)
			for _, c := range []*cache.Cache{writer, reader, reader} {
				p, err := cache.Get(ctx, c, byEmailKey("a@x"), cache.Options{}, personLoader(pool, &calls, "a@x"))
				if err != nil || p.Name != "new" {
					t.Fatalf("after the write: %+v %v", p, err)
				}
				cache.WaitBackground(c)
			}
		})
	}
}
