package surreal

import (
	"context"
	"errors"
	"fmt"

	"github.com/surrealdb/surrealdb.go/pkg/models"

	"github.com/agentical/datalayer/cache"
)

// cacheTable names a SurrealDB table in the cache's dependency space,
// distinct from PostgreSQL tables and from other namespaces and databases.
func (s *Store) cacheTable(table string) string {
	return "surreal:" + s.cfg.Namespace + "/" + s.cfg.Database + "/" + table
}

func (s *Store) rowRef(id models.RecordID) cache.RowRef {
	return cache.Row(s.cacheTable(id.Table), "id", fmt.Sprint(id.ID))
}

// cachedSelect reads the record's CBOR through the cache.
func (s *Store) cachedSelect(ctx context.Context, id *models.RecordID) ([]byte, error) {
	key := cache.NewKey("surreal.select", cache.Deps{Rows: []cache.RowRef{s.rowRef(*id)}},
		s.cfg.Namespace, s.cfg.Database, id.Table, fmt.Sprint(id.ID))
	return cache.Get(ctx, s.cfg.Cache, key, s.cfg.CacheOptions, func(ctx context.Context) ([]byte, error) {
		raw, err := s.rpc(ctx, false, "select", id)
		if err != nil {
			return nil, err
		}
		if raw == nil {
			return nil, fmt.Errorf("surreal: select %s: %w", id, ErrNotFound)
		}
		return raw, nil
	})
}

// invalidateRows drops cached reads of the records. A pending invalidation
// (Redis unreachable; retried in the background by the cache) is not an
// error of the write.
func (s *Store) invalidateRows(ctx context.Context, rows []cache.RowRef) {
	if s.cfg.Cache == nil || len(rows) == 0 {
		return
	}
	if err := s.cfg.Cache.Invalidate(ctx, nil, rows); err != nil && s.cfg.Logger != nil {
		s.cfg.Logger.Warn("surreal: cache invalidation", "error", err)
	}
}

// Invalidate drops every cached read of the tables, for writes made through
// Query / QueryRaw (the store cannot tell which records those touched).
func (s *Store) Invalidate(ctx context.Context, tables ...string) error {
	if s.cfg.Cache == nil || len(tables) == 0 {
		return nil
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = s.cacheTable(t)
	}
	err := s.cfg.Cache.Invalidate(ctx, names, nil)
	if errors.Is(err, cache.ErrInvalidationPending) {
		return nil
	}
	return err
}

// wrote records that a write by id reached (or may have reached) the server.
func wrote(ctx context.Context, q Querier, id models.RecordID) {
	switch q := q.(type) {
	case *Store:
		if q.cfg.Cache != nil {
			q.invalidateRows(ctx, []cache.RowRef{q.rowRef(id)})
		}
	case *Tx:
		if q.s.cfg.Cache != nil {
			q.mu.Lock()
			q.rows = append(q.rows, q.s.rowRef(id))
			q.mu.Unlock()
		}
	}
}
