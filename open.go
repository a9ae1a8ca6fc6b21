package datalayer

import (
	"context"

	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/migrations"
	"github.com/agentical/datalayer/stores"
)

// Layer is the Agentical data layer of one service: every store (pool,
// cache, policies, runtime, SurrealDB when configured, health) and the
// ready repository. Close it once, at shutdown.
type Layer struct {
	*stores.Stores
	// Repo is the Agentical repository: typed queries with cache-aside
	// reads, resilience policies and invalidation after writes.
	Repo *db.Repository
}

// Open builds the Agentical data layer from cfg (usually
// config.Load(os.Environ())): it waits for PostgreSQL (and briefly for
// Redis and SurrealDB), applies the embedded migrations when AUTO_MIGRATE
// is set, refuses a database ahead of them, checks every repository method
// and returns the repository. See stores.Open.
func Open(ctx context.Context, cfg config.Config) (*Layer, error) {
	return OpenWith(ctx, cfg, stores.Options{})
}

// OpenWith is Open with options (logger, timeouts, hooks). The schema
// version, methods and migrations are always the Agentical schema's.
func OpenWith(ctx context.Context, cfg config.Config, opts stores.Options) (*Layer, error) {
	opts.SchemaVersion = db.SchemaVersion
	opts.Methods = db.Methods()
	opts.Migrations = migrations.FS
	s, err := stores.Open(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	return &Layer{Stores: s, Repo: db.NewRepository(s.DB(), s.Runtime())}, nil
}
