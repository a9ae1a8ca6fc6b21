package backup

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Retention is a keep-N-daily/M-weekly/K-monthly policy.
type Retention struct {
	Daily, Weekly, Monthly int
}

// Plan returns the ids of backups to keep and to delete under r. Each
// backup (of any kind) is a candidate for the newest-of-its-day, -ISO-week
// and -month slots; the newest backup is always kept, and every kept
// incremental keeps its whole parent chain. With all counts zero every
// backup is kept.
func (r Retention) Plan(backups []*Manifest) (keep, drop []string) {
	byID := map[string]*Manifest{}
	for _, b := range backups {
		byID[b.ID] = b
	}
	kept := map[string]bool{}
	if r.Daily == 0 && r.Weekly == 0 && r.Monthly == 0 {
		for _, b := range backups {
			kept[b.ID] = true
		}
	} else {
		slot := func(n int, key func(time.Time) string) {
			seen := map[string]bool{}
			for i := len(backups) - 1; i >= 0 && len(seen) < n; i-- {
				k := key(backups[i].StartedAt.UTC())
				if !seen[k] {
					seen[k] = true
					kept[backups[i].ID] = true
				}
			}
		}
		slot(r.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
		slot(r.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) })
		slot(r.Monthly, func(t time.Time) string { return t.Format("2006-01") })
		if len(backups) > 0 {
			kept[backups[len(backups)-1].ID] = true
		}
	}
	// Parents of kept incrementals stay, transitively.
	for _, b := range backups {
		for p := b; kept[b.ID] && p != nil && p.Parent != ""; p = byID[p.Parent] {
			kept[p.Parent] = true
		}
	}
	for _, b := range backups {
		if kept[b.ID] {
			keep = append(keep, b.ID)
		} else {
			drop = append(drop, b.ID)
		}
	}
	return keep, drop
}

// PruneOptions adjusts Prune.
type PruneOptions struct {
	// DryRun reports what would be deleted without deleting.
	DryRun bool
}

// PruneResult says what Prune deleted (or would delete).
type PruneResult struct {
	Kept       []string `json:"kept"`
	Deleted    []string `json:"deleted"`
	WALDeleted int      `json:"wal_deleted"`
	// Orphans are backups without a manifest (interrupted) older than
	// OrphanAge whose artifacts were deleted.
	Orphans []string `json:"orphans,omitempty"`
	DryRun  bool     `json:"dry_run"`
}

// Prune deletes the backups the configured retention does not keep, then
// the archived WAL older than the oldest kept base backup (no WAL is
// deleted while no base backup is kept). A backup's manifest is deleted
// first, so an interrupted prune never leaves a listed backup with missing
// artifacts.
func (m *Manager) Prune(ctx context.Context, opts PruneOptions) (*PruneResult, error) {
	all, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	r := Retention{Daily: m.cfg.KeepDaily, Weekly: m.cfg.KeepWeekly, Monthly: m.cfg.KeepMonthly}
	keep, drop := r.Plan(all)
	res := &PruneResult{Kept: keep, Deleted: drop, DryRun: opts.DryRun}
	keepSet := map[string]bool{}
	for _, id := range keep {
		keepSet[id] = true
	}
	oldestBase := ""
	for _, b := range all {
		if keepSet[b.ID] && b.Kind == KindBase && b.Postgres != nil && (oldestBase == "" || b.Postgres.StartSegment < oldestBase) {
			oldestBase = b.Postgres.StartSegment
		}
	}
	if !opts.DryRun {
		for _, id := range drop {
			if err := m.deleteBackup(ctx, id); err != nil {
				return res, err
			}
		}
	}
	if err := m.pruneOrphans(ctx, res, opts.DryRun); err != nil {
		return res, err
	}
	if oldestBase != "" {
		names, err := m.archivedWAL(ctx)
		if err != nil {
			return res, err
		}
		for _, n := range names {
			if strings.HasSuffix(n, ".history") || n[:min(24, len(n))] >= oldestBase {
				continue
			}
			res.WALDeleted++
			if opts.DryRun {
				continue
			}
			a, err := m.walRecord(ctx, n)
			if err != nil {
				return res, err
			}
			if err := m.bucket.Delete(ctx, walRecordKey(n)); err != nil {
				return res, fmt.Errorf("backup: delete WAL %s: %w", n, err)
			}
			if err := m.bucket.Delete(ctx, a.Key); err != nil {
				return res, fmt.Errorf("backup: delete WAL %s: %w", n, err)
			}
		}
	}
	m.cfg.Logger.Info("backups pruned", "kept", len(keep), "deleted", len(drop), "wal_deleted", res.WALDeleted, "dry_run", opts.DryRun)
	return res, nil
}

// deleteBackup deletes the manifest, then the artifacts under the
// backup's prefix (WAL artifacts referenced by incrementals are left to
// the WAL pruning).
func (m *Manager) deleteBackup(ctx context.Context, id string) error {
	if err := m.bucket.Delete(ctx, manifestKey(id)); err != nil {
		return fmt.Errorf("backup: delete %s: %w", id, err)
	}
	objs, err := m.listKeys(ctx, backupsPrefix+id+"/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := m.bucket.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("backup: delete %s: %w", o.Key, err)
		}
	}
	return nil
}

// OrphanAge is how old the artifacts of a backup without a manifest (one
// that was interrupted) must be before Prune deletes them: older than any
// backup still running.
const OrphanAge = 24 * time.Hour

func (m *Manager) pruneOrphans(ctx context.Context, res *PruneResult, dryRun bool) error {
	objs, err := m.listKeys(ctx, backupsPrefix)
	if err != nil {
		return err
	}
	type group struct {
		keys     []string
		manifest bool
		newest   time.Time
	}
	groups := map[string]*group{}
	var ids []string
	for _, o := range objs {
		id, file, ok := strings.Cut(strings.TrimPrefix(o.Key, backupsPrefix), "/")
		if !ok {
			continue
		}
		g := groups[id]
		if g == nil {
			g = &group{}
			groups[id] = g
			ids = append(ids, id)
		}
		g.keys = append(g.keys, o.Key)
		g.manifest = g.manifest || file == manifestName
		if o.ModTime.After(g.newest) {
			g.newest = o.ModTime
		}
	}
	for _, id := range ids {
		g := groups[id]
		if g.manifest || time.Since(g.newest) < OrphanAge {
			continue
		}
		res.Orphans = append(res.Orphans, id)
		if dryRun {
			continue
		}
		for _, k := range g.keys {
			if err := m.bucket.Delete(ctx, k); err != nil {
				return fmt.Errorf("backup: delete orphan %s: %w", k, err)
			}
		}
	}
	return nil
}
