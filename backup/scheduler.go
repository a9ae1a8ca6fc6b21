package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
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
	m     *Manager
	cfg   SchedulerConfig
	owned bool // the Manager was opened by OpenScheduler: Stop closes it

	mu      sync.Mutex
	status  SchedulerStatus
	cancel  context.CancelFunc // of a Run started by Start
	done    chan struct{}      // closed when that Run returned
	stopped bool
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
	s := &Scheduler{m: m, cfg: cfg}
	s.status.Kind, s.status.Interval = cfg.Kind, cfg.Interval
	return s, nil
}

// OpenScheduler opens cfg's store (New) and returns a Scheduler over it
// that owns the Manager: Stop closes it. It is what a service calls when
// cfg.SchedulerWanted() (BACKUP_ENABLED and AUTO_BACKUP_ENABLED); nothing
// runs until Start.
func OpenScheduler(ctx context.Context, cfg Config, sc SchedulerConfig) (*Scheduler, error) {
	m, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := NewScheduler(m, sc)
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
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
	// Recent is the backup younger than Interval that made the round skip
	// ("recent").
	Recent *Manifest `json:"recent,omitempty"`
}

// SchedulerStatus is what a Scheduler has done so far (Status), for
// readiness checks and debug endpoints. It holds no secret.
type SchedulerStatus struct {
	// Running is true between Start and Stop.
	Running  bool          `json:"running"`
	Kind     Kind          `json:"kind"`
	Interval time.Duration `json:"interval_ns"`
	// Rounds counts the rounds run; Made the backups this instance made;
	// Skipped the rounds skipped because another instance held the lock
	// ("locked") or a recent backup existed ("recent").
	Rounds  int            `json:"rounds"`
	Made    int            `json:"made"`
	Skipped map[string]int `json:"skipped"`
	// LastRoundAt is when the last round ended; LastSkipped why it did
	// not back up ("" when it did or failed).
	LastRoundAt time.Time `json:"last_round_at,omitzero"`
	LastSkipped string    `json:"last_skipped,omitempty"`
	// LastBackupID and LastBackupAt (its start) are the newest backup of
	// Kind this instance made or found in the store; LastBackupMine says
	// whether this instance made it.
	LastBackupID   string    `json:"last_backup_id,omitempty"`
	LastBackupAt   time.Time `json:"last_backup_at,omitzero"`
	LastBackupMine bool      `json:"last_backup_mine,omitempty"`
	// LastError is the error of the last round ("" once a round
	// succeeds again); Failures counts consecutive failed rounds.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures"`
}

// Status returns a copy of what the Scheduler has done so far.
func (s *Scheduler) Status() SchedulerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Skipped = make(map[string]int, len(s.status.Skipped))
	for k, v := range s.status.Skipped {
		st.Skipped[k] = v
	}
	return st
}

// Handler serves Status as JSON (for a debug endpoint such as
// /debug/backups).
func (s *Scheduler) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := json.MarshalIndent(s.Status(), "", "  ")
		if err != nil {
			http.Error(w, "backup: cannot encode the scheduler status", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(b, '\n'))
	})
}

// record notes a round's outcome in the status. A round cut short
// because ctx ended (shutdown) is not counted as a failure.
func (s *Scheduler) record(ctx context.Context, res RoundResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.status
	if err != nil && ctx.Err() != nil {
		return
	}
	st.Rounds++
	st.LastRoundAt = time.Now().UTC()
	st.LastSkipped = res.Skipped
	if res.Skipped != "" {
		if st.Skipped == nil {
			st.Skipped = map[string]int{}
		}
		st.Skipped[res.Skipped]++
	}
	seen := func(m *Manifest, mine bool) {
		if m != nil && m.ID != st.LastBackupID && !m.StartedAt.Before(st.LastBackupAt) {
			st.LastBackupID, st.LastBackupAt, st.LastBackupMine = m.ID, m.StartedAt, mine
		}
	}
	if res.Ran {
		st.Made++
		seen(res.Manifest, true)
	}
	seen(res.Recent, false)
	if err != nil {
		st.LastError, st.LastErrorAt = err.Error(), st.LastRoundAt
		st.Failures++
	} else {
		st.LastError, st.Failures = "", 0
	}
}

// RunOnce runs one round: take the lock, back up when due, prune. Its
// outcome is recorded in Status.
func (s *Scheduler) RunOnce(ctx context.Context) (RoundResult, error) {
	res, err := s.round(ctx)
	s.record(ctx, res, err)
	return res, err
}

func (s *Scheduler) round(ctx context.Context) (RoundResult, error) {
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
			return RoundResult{Skipped: "recent", Recent: all[i]}, nil
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
// logged (and kept in Status), not returned. It returns ctx's error.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CheckEvery)
	defer t.Stop()
	for {
		res, err := s.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			s.cfg.Logger.Info("scheduled backup interrupted", "err", err)
		case err != nil:
			s.cfg.Logger.Error("scheduled backup failed", "err", err)
		case res.Ran:
			s.cfg.Logger.Info("scheduled backup", "id", res.Manifest.ID)
		default:
			s.cfg.Logger.Debug("scheduled backup skipped", "reason", res.Skipped)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ErrSchedulerStarted: Start was called on a Scheduler that is running or
// was stopped.
var ErrSchedulerStarted = errors.New("backup: scheduler already started or stopped")

// Start runs Run in a new goroutine until Stop (or until ctx ends). A
// Scheduler starts once.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil || s.stopped {
		return ErrSchedulerStarted
	}
	rctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	s.status.Running = true
	go func() {
		defer close(s.done)
		_ = s.Run(rctx)
		s.mu.Lock()
		s.status.Running = false
		s.mu.Unlock()
	}()
	return nil
}

// Stop ends a Run started by Start and waits for it, at most until ctx
// ends: a backup in progress is cancelled (its partial artifacts are
// deleted and no manifest is written; the next round of any instance
// makes it). It then closes the Manager if OpenScheduler opened it. Call
// it before closing the stores. Stop is safe to call more than once, and
// without Start.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	var err error
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("backup: scheduler did not stop: %w", ctx.Err())
		}
	}
	if s.owned && err == nil {
		err = s.m.Close()
	}
	return err
}
