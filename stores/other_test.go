package stores_test

import (
	"testing"

	"github.com/agentical/datalayer/internal/codegen/testdata/bookstore/bookstore"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/stores"
)

// Open serves another sqlc project's generated repository (the bookstore
// test project, which does not import package db) the same way.
func TestOpenServesAnotherSchema(t *testing.T) {
	dsn := testinfra.Postgres(t, testinfra.WithSchemaDir("../internal/codegen/testdata/bookstore/schema"))
	r := testinfra.Redis(t)
	s := open(t, loadConfig(t, env(t, dsn, r)), prefixed(r, stores.Options{
		Logger: discard(), SchemaVersion: bookstore.SchemaVersion, Methods: bookstore.Methods(),
	}))
	books := bookstore.NewRepository(s.DB(), s.Runtime())
	a, err := books.CreateAuthor(t.Context(), bookstore.CreateAuthorParams{Name: "Le Guin", Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := books.GetAuthor(t.Context(), a.ID); err != nil || got.Name != "Le Guin" {
			t.Fatalf("GetAuthor = %+v, %v", got, err)
		}
	}
	var hits int64
	for _, st := range s.Runtime().Stats() {
		if st.Name == "GetAuthor" {
			hits = st.Hits
		}
	}
	if hits == 0 {
		t.Error("GetAuthor was never served from the cache")
	}
	if rep := s.Health().Check(t.Context()); !rep.Ready {
		t.Errorf("readiness = %+v", rep)
	}
}
