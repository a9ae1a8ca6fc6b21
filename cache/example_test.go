package cache_test

import (
	"context"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/resilience"
)

type Agent struct {
	ID   int64
	Name string
}

// queries stands in for sqlc's *Queries in this example.
type queries interface {
	GetAgent(ctx context.Context, id int64) (Agent, error)
	ListAgents(ctx context.Context) ([]Agent, error)
	RenameAgent(ctx context.Context, id int64, name string) error
}

// repository shows the shape of a generated wrapper: cache-aside outside,
// resilience policies inside the loader, invalidation after the write.
type repository struct {
	q                            queries
	c                            *cache.Cache
	getAgent, listAgents, rename *resilience.Executor
}

func newRepository(q queries, c *cache.Cache, p *resilience.Policies) (*repository, error) {
	r := &repository{q: q, c: c}
	var err error
	if r.getAgent, err = p.Executor(resilience.Read, "", resilience.Profile{Timeout: 2 * time.Second}); err != nil {
		return nil, err
	}
	if r.listAgents, err = p.Executor(resilience.Read, "", resilience.Profile{}); err != nil {
		return nil, err
	}
	if r.rename, err = p.Executor(resilience.Write, "", resilience.Profile{}); err != nil {
		return nil, err
	}
	return r, nil
}

// -- name: GetAgent :one
// -- @cache ttl=5m swr=1m negative=30s
func (r *repository) GetAgent(ctx context.Context, id int64) (Agent, error) {
	key := cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", id)}}, id)
	return cache.Get(ctx, r.c, key, cache.Options{TTL: 5 * time.Minute, SWR: time.Minute, Negative: 30 * time.Second},
		func(ctx context.Context) (Agent, error) {
			return resilience.Get(ctx, r.getAgent, func(ctx context.Context) (Agent, error) { return r.q.GetAgent(ctx, id) })
		})
}

// -- name: ListAgents :many
// -- @cache ttl=1m
func (r *repository) ListAgents(ctx context.Context) ([]Agent, error) {
	key := cache.NewKey("ListAgents", cache.Deps{Tables: []string{"agents"}})
	return cache.Get(ctx, r.c, key, cache.Options{TTL: time.Minute},
		func(ctx context.Context) ([]Agent, error) {
			return resilience.Get(ctx, r.listAgents, r.q.ListAgents)
		})
}

// -- name: RenameAgent :exec  (UPDATE agents SET name = $2 WHERE id = $1)
func (r *repository) RenameAgent(ctx context.Context, id int64, name string) error {
	err := resilience.Run(ctx, r.rename, func(ctx context.Context) error { return r.q.RenameAgent(ctx, id, name) })
	if err != nil {
		return err
	}
	// After commit. A failure here is already queued, retried and reported
	// through the Observer; the write succeeded, so it is not returned.
	_ = r.c.Invalidate(ctx, nil, []cache.RowRef{cache.Row("agents", "id", id)})
	return nil
}

// Example_generatedRepository shows how generated code composes the cache
// and the resilience policies (see the repository type above).
func Example_generatedRepository() {
	ctx := context.Background()
	c, err := cache.New(ctx, cache.Config{Addrs: []string{"127.0.0.1:6379"}, Prefix: "app", SchemaVersion: "20261125"})
	if err != nil {
		return
	}
	defer c.Close()
	p, err := resilience.New(resilience.Config{})
	if err != nil {
		return
	}
	var q queries // *db.Queries in real code
	repo, err := newRepository(q, c, p)
	if err != nil {
		return
	}
	_ = repo
}
