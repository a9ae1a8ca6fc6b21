package surreal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
)

func TestCachedReadInvalidatedByWrite(t *testing.T) {
	rt := testinfra.Redis(t)
	ctx := context.Background()
	c, err := cache.New(ctx, cache.Config{Addrs: []string{rt.Addr}, Username: rt.Username, Password: rt.Password, DB: rt.DB, Prefix: rt.Prefix[:len(rt.Prefix)-1]})
	if err != nil {
		t.Fatalf("cache: %v", err)
	}
	defer c.Close()

	tg := surrealpeer.ForTest(t)
	cfg := configFor(tg)
	cfg.Cache = c
	cfg.CacheOptions = cache.Options{TTL: time.Minute}
	s, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	exec(t, s, "DEFINE TABLE person SCHEMALESS")
	id := surreal.Record("person", "cached")
	if _, err := surreal.Create[person](ctx, s, id, person{Name: "v1", Age: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := surreal.Select[person](ctx, s, id); err != nil || got.Name != "v1" {
		t.Fatalf("first read: %+v, %v", got, err)
	}
	// A write the store cannot attribute to a record (raw query) leaves the
	// cached value in place: proof that the next read is served by the cache.
	exec(t, s, "UPDATE person:cached SET name = 'behind-the-back'")
	if got, err := surreal.Select[person](ctx, s, id); err != nil || got.Name != "v1" {
		t.Fatalf("cached read: %+v, %v (want the cached v1)", got, err)
	}
	// A write by id through the store invalidates it.
	if _, err := surreal.Merge[person](ctx, s, id, map[string]any{"name": "v2"}); err != nil {
		t.Fatal(err)
	}
	if got, err := surreal.Select[person](ctx, s, id); err != nil || got.Name != "v2" {
		t.Fatalf("read after merge: %+v, %v (want v2)", got, err)
	}
	// Table invalidation for raw writes.
	exec(t, s, "UPDATE person:cached SET name = 'v3'")
	if err := s.Invalidate(ctx, "person"); err != nil {
		t.Fatal(err)
	}
	if got, err := surreal.Select[person](ctx, s, id); err != nil || got.Name != "v3" {
		t.Fatalf("read after table invalidation: %+v, %v (want v3)", got, err)
	}
	// Writes in a committed transaction invalidate on commit.
	err = s.InTx(ctx, func(ctx context.Context, tx *surreal.Tx) error {
		_, err := surreal.Update[person](ctx, tx, id, person{Name: "v4", Age: 4})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := surreal.Select[person](ctx, s, id); err != nil || got.Name != "v4" || got.Age != 4 {
		t.Fatalf("read after tx: %+v, %v (want v4)", got, err)
	}
	// Delete invalidates; a missing record is still ErrNotFound.
	if _, err := surreal.Delete[person](ctx, s, id); err != nil {
		t.Fatal(err)
	}
	if _, err := surreal.Select[person](ctx, s, id); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("read after delete: err = %v, want ErrNotFound", err)
	}
}
