package backup

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// DefaultLockKey is the PostgreSQL advisory lock key schedulers take
// (the first 8 bytes of "dlbackup" as a big-endian integer).
const DefaultLockKey int64 = 0x646c6261636b7570

// SchedulerConfig configures a Scheduler. Zero fields take the defaults.
type SchedulerConfig struct {
	// Interval between backups; default the Manager's Config.Interval
	// (BACKUP_INTERVAL_HOURS).
	Interval time.Duration
	// CheckEvery is how often the scheduler wakes up to see whether a
	// backup is due; default Interval/4, at most 15 minutes.
	CheckEvery time.Duration
	// Kind of the scheduled backups; default KindLogical.
	Kind Kind
	// NoPrune skips Prune after each scheduled backup.
	NoPrune bool
	// LockURL is the PostgreSQL database whose advisory lock elects the one
	// instance that backs up; default the Manager's PostgresURL.
	LockURL string
	// LockKey is the advisory lock key; default DefaultLockKey.
	LockKey int64
	// Logger; default the Manager's.
	Logger *slog.Logger
}

// Scheduler makes backups every Interval in a running service. Many
// instances may run one: each round takes a PostgreSQL advisory lock
// (pg_try_advisory_lock) and only the holder backs up; it also skips the
// round when the store already holds a backup younger than Interval, so
// restarts and several instances do not multiply backups.
type Scheduler struct {
	m   *Manager
	cfg SchedulerConfig
}

// NewScheduler returns a Scheduler for m.
func NewScheduler(m *Manager, cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = m.cfg.Interval
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = min(cfg.Interval/4, 15*time.Minute)
	}
	if cfg.Kind == "" {
		cfg.Kind = KindLogical
	}
	if cfg.LockURL == "" {
		cfg.LockURL = m.cfg.PostgresURL
	}
	if cfg.LockURL == "" {
		return nil, fmt.Errorf("%w: the scheduler's advisory lock needs DATABASE_URL", ErrConfig)
	}
	if cfg.LockKey == 0 {
		cfg.LockKey = DefaultLockKey
	}
	if cfg.Logger == nil {
		cfg.Logger = m.cfg.Logger
	}
	return &Scheduler{m: m, cfg: cfg}, nil
}

// RoundResult says what one scheduling round did.
type RoundResult struct {
	// Ran is true when this instance made a backup.
	Ran bool `json:"ran"`
	// Skipped says why not: "locked" (another instance holds the lock) or
	// "recent" (a backup younger than Interval exists).
	Skipped  string       `json:"skipped,omitempty"`
	Manifest *Manifest    `json:"manifest,omitempty"`
	Pruned   *PruneResult `json:"pruned,omitempty"`
}

// RunOnce runs one round: take the lock, back up when due, prune.
func (s *Scheduler) RunOnce(ctx context.Context) (RoundResult, error) {
	conn, err := s.m.connect(ctx, s.cfg.LockURL)
	if err != nil {
		return RoundResult{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", s.cfg.LockKey).Scan(&got); err != nil {
		return RoundResult{}, fmt.Errorf("backup: scheduler lock: %w", err)
	}
	if !got {
		return RoundResult{Skipped: "locked"}, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", s.cfg.LockKey)
	all, err := s.m.List(ctx)
	if err != nil {
		return RoundResult{}, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == s.cfg.Kind && time.Since(all[i].StartedAt) < s.cfg.Interval {
			return RoundResult{Skipped: "recent"}, nil
		}
	}
	man, err := s.m.Create(ctx, CreateOptions{Kind: s.cfg.Kind})
	if err != nil {
		return RoundResult{}, err
	}
	res := RoundResult{Ran: true, Manifest: man}
	if !s.cfg.NoPrune {
		if res.Pruned, err = s.m.Prune(ctx, PruneOptions{}); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Run runs rounds every CheckEvery until ctx ends; round errors are
// logged, not returned. It returns ctx's error.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CheckEvery)
	defer t.Stop()
	for {
		res, err := s.RunOnce(ctx)
		switch {
		case err != nil:
			s.cfg.Logger.Error("scheduled backup failed", "err", err)
		case res.Ran:
			s.cfg.Logger.Info("scheduled backup", "id", res.Manifest.ID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
