package datalayer_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer"
	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/health"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/stores"
)

// emptyDatabase creates an empty database, dropped at cleanup.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	admin := testinfra.PostgresServer(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("datalayer_open_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// The README's path: config.Load -> datalayer.Open (AUTO_MIGRATE on an
// empty database) -> repository -> readiness up -> Close.
func TestOpenAgentical(t *testing.T) {
	dsn := emptyDatabase(t)
	r := testinfra.Redis(t)
	cfg, err := config.Load([]string{"DATABASE_URL=" + dsn, "REDIS_URL=" + r.URL(), "AUTO_MIGRATE=true"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	dl, err := datalayer.OpenWith(ctx, cfg, stores.Options{
		Logger: slog.New(slog.DiscardHandler),
		Cache:  func(c *cache.Config) { c.Prefix = strings.TrimSuffix(r.Prefix, ":") },
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := dl.Repo.CreateUser(ctx, db.CreateUserParams{Email: "open@example.com", DisplayName: "Open", Role: db.UserRoleMember})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := dl.Repo.GetUser(ctx, u.ID); err != nil || got.Email != u.Email {
			t.Fatalf("GetUser = %+v, %v", got, err)
		}
	}
	rep := dl.Health().Check(ctx)
	if !rep.Ready || rep.State != health.Up {
		t.Errorf("readiness after Open = %+v; want ready and up", rep)
	}
	if m := rep.Stores["postgres"].Migrations; m == nil || m.Applied != m.Code || m.Code == "" {
		t.Errorf("migrations in readiness = %+v; want applied == code", m)
	}
	var hits int64
	for _, s := range dl.Runtime().Stats() {
		if s.Name == "GetUser" {
			hits = s.Hits
		}
	}
	if hits == 0 {
		t.Error("the second GetUser was not a cache hit")
	}
	if err := dl.Close(ctx); err != nil {
		t.Errorf("Close = %v", err)
	}
}
