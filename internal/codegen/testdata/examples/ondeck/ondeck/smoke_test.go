package ondeck_test

import (
	"context"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/testdata/examples/ondeck/ondeck"
	"github.com/agentical/datalayer/internal/codegen/testdata/examples/smoke"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// Its schema is a migration directory that renames a table; the repository
// satisfies sqlc's Querier (emit_interface).
var _ ondeck.Querier = (*ondeck.Repository)(nil)

// TestSmoke: sqlc's ondeck example (switched to pgx/v5) through its
// generated repository on real PostgreSQL and Redis: write, read twice (the
// second a hit), write, read the new value.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	env := smoke.Setup(t, "../schema", ondeck.SchemaVersion, ondeck.Methods())
	r := ondeck.NewRepository(env.Pool, env.Runtime)

	city, err := r.CreateCity(ctx, ondeck.CreateCityParams{Slug: "san-francisco", Name: "San Francisco"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.CreateVenue(ctx, ondeck.CreateVenueParams{
		Slug: "the-fillmore", Name: "The Fillmore", City: city.Slug, SpotifyPlaylist: "spotify:uri", Status: ondeck.StatusOpen,
		Tags: []string{"rock", "punk"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env.ReadTwice(t, "GetCity", func() error {
		got, err := r.GetCity(ctx, city.Slug)
		if err == nil && got != city {
			t.Fatalf("GetCity = %+v", got)
		}
		return err
	})
	env.ReadTwice(t, "GetVenue", func() error {
		v, err := r.GetVenue(ctx, ondeck.GetVenueParams{Slug: "the-fillmore", City: city.Slug})
		if err == nil && (v.ID != id || v.Name != "The Fillmore") {
			t.Fatalf("GetVenue = %+v", v)
		}
		return err
	})
	env.ReadTwice(t, "VenueCountByCity", func() error {
		l, err := r.VenueCountByCity(ctx)
		if err == nil && (len(l) != 1 || l[0].Count != 1) {
			t.Fatalf("VenueCountByCity = %+v", l)
		}
		return err
	})

	if err := r.UpdateCityName(ctx, ondeck.UpdateCityNameParams{Slug: city.Slug, Name: "SF"}); err != nil {
		t.Fatal(err)
	}
	if got, err := r.GetCity(ctx, city.Slug); err != nil || got.Name != "SF" {
		t.Fatalf("GetCity after UpdateCityName = %+v, %v", got, err)
	}
	if l, err := r.ListCities(ctx); err != nil || len(l) != 1 || l[0].Name != "SF" {
		t.Fatalf("ListCities after UpdateCityName = %+v, %v", l, err)
	}
	if got, err := r.UpdateVenueName(ctx, ondeck.UpdateVenueNameParams{Slug: "the-fillmore", Name: "Fillmore"}); err != nil || got != id {
		t.Fatalf("UpdateVenueName = %d, %v", got, err)
	}
	if v, err := r.GetVenue(ctx, ondeck.GetVenueParams{Slug: "the-fillmore", City: city.Slug}); err != nil || v.Name != "Fillmore" {
		t.Fatalf("GetVenue after UpdateVenueName = %+v, %v", v, err)
	}
	if err := r.DeleteVenue(ctx, "the-fillmore"); err != nil {
		t.Fatal(err)
	}
	if l, err := r.VenueCountByCity(ctx); err != nil || len(l) != 0 {
		t.Fatalf("VenueCountByCity after DeleteVenue = %+v, %v", l, err)
	}
}
