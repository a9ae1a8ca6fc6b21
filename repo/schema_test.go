package repo_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentical/datalayer/repo"
)

// TestSchemaVersionSeparatesEntries: the same query and arguments under
// another schema version never share a cache entry, so a value cached
// before a migration is not decoded into the new types.
func TestSchemaVersionSeparatesEntries(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	old := &repo.Method{Name: "GetThing", Schema: "v1", Cache: &repo.CacheSpec{TTL: time.Minute}, Deps: []repo.Dep{{Table: "things"}}}
	cur := &repo.Method{Name: "GetThing", Schema: "v2", Cache: &repo.CacheSpec{TTL: time.Minute}, Deps: []repo.Dep{{Table: "things"}}}
	loads := 0
	load := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { loads++; return v, nil }
	}
	if v, err := repo.Read(ctx, e.RT, nil, old, []any{1}, load("old-shape")); err != nil || v != "old-shape" {
		t.Fatalf("v1 read = %q, %v", v, err)
	}
	e.waitFills(t, 1)
	if v, err := repo.Read(ctx, e.RT, nil, old, []any{1}, load("unexpected")); err != nil || v != "old-shape" {
		t.Fatalf("v1 second read = %q, %v; want a hit", v, err)
	}
	if v, err := repo.Read(ctx, e.RT, nil, cur, []any{1}, load("new-shape")); err != nil || v != "new-shape" {
		t.Fatalf("v2 read = %q, %v; the v1 entry leaked across schema versions", v, err)
	}
	if loads != 2 {
		t.Fatalf("loads = %d, want 2", loads)
	}
}
