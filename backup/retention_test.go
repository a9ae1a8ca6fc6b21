package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentical/datalayer/backup"
)

func at(id string, t time.Time, kind backup.Kind, parent string) *backup.Manifest {
	return &backup.Manifest{ID: id, StartedAt: t, Kind: kind, Parent: parent}
}

func TestRetentionPlan(t *testing.T) {
	day := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	// Daily backups from 2026-09-01 to 2026-11-30, two on the last day.
	var all []*backup.Manifest
	for d := day(2026, 9, 1, 3); !d.After(day(2026, 11, 30, 3)); d = d.AddDate(0, 0, 1) {
		all = append(all, at(d.Format("0102"), d, backup.KindLogical, ""))
	}
	all = append(all, at("1130b", day(2026, 11, 30, 15), backup.KindLogical, ""))

	cases := []struct {
		name string
		r    backup.Retention
		want []string
	}{
		{"3 daily", backup.Retention{Daily: 3}, []string{"1128", "1129", "1130b"}},
		// ISO weeks: Mon 11-30 (W49), Sun 11-29 ends W48, Sun 11-22 ends W47.
		{"3 weekly", backup.Retention{Weekly: 3}, []string{"1122", "1129", "1130b"}},
		{"3 monthly", backup.Retention{Monthly: 3}, []string{"0930", "1031", "1130b"}},
		{"2 daily 2 weekly 2 monthly", backup.Retention{Daily: 2, Weekly: 2, Monthly: 2}, []string{"1031", "1129", "1130b"}},
		{"nothing configured keeps all", backup.Retention{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keep, drop := tc.r.Plan(all)
			if tc.want == nil {
				if len(keep) != len(all) || len(drop) != 0 {
					t.Fatalf("kept %d dropped %d, want all kept", len(keep), len(drop))
				}
				return
			}
			if !slices.Equal(keep, tc.want) {
				t.Fatalf("kept %v, want %v", keep, tc.want)
			}
			if len(keep)+len(drop) != len(all) {
				t.Fatalf("kept %d + dropped %d != %d", len(keep), len(drop), len(all))
			}
		})
	}
}

// A kept incremental keeps its whole parent chain, however old.
func TestRetentionKeepsParentsOfIncrementals(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2026, 11, n, 3, 0, 0, 0, time.UTC) }
	all := []*backup.Manifest{
		at("base1", d(1), backup.KindBase, ""),
		at("inc1", d(2), backup.KindIncremental, "base1"),
		at("logical", d(3), backup.KindLogical, ""),
		at("base2", d(4), backup.KindBase, ""),
		at("inc2", d(10), backup.KindIncremental, "inc1"),
	}
	keep, drop := backup.Retention{Daily: 1}.Plan(all)
	if !slices.Equal(keep, []string{"base1", "inc1", "inc2"}) || !slices.Equal(drop, []string{"logical", "base2"}) {
		t.Fatalf("keep %v drop %v", keep, drop)
	}
}

// Only the instance holding the advisory lock backs up, and not when a
// recent backup exists.
func TestScheduler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	seedUsers(t, e.dsn, 3)
	cfg := e.config()
	cfg.Interval = time.Hour
	cfg.KeepDaily = 1
	m := newManager(t, cfg)
	s, err := backup.NewScheduler(m, backup.SchedulerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.RunOnce(t.Context())
	if err != nil || !res.Ran || res.Manifest == nil || res.Pruned == nil {
		t.Fatalf("first round: %+v, %v", res, err)
	}
	if res, err = s.RunOnce(t.Context()); err != nil || res.Ran || res.Skipped != "recent" {
		t.Fatalf("second round: %+v, %v", res, err)
	}

	// Another instance holds the lock: this one skips even when due.
	eager, err := backup.NewScheduler(m, backup.SchedulerConfig{Interval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	other := connect(t, e.dsn)
	exec(t, other, "SELECT pg_advisory_lock($1)", backup.DefaultLockKey)
	if res, err = eager.RunOnce(t.Context()); err != nil || res.Ran || res.Skipped != "locked" {
		t.Fatalf("round while locked: %+v, %v", res, err)
	}
	exec(t, other, "SELECT pg_advisory_unlock($1)", backup.DefaultLockKey)
	if res, err = eager.RunOnce(t.Context()); err != nil || !res.Ran {
		t.Fatalf("round after unlock: %+v, %v", res, err)
	}
	// KeepDaily=1 pruned the first backup.
	all, err := m.List(t.Context())
	if err != nil || len(all) != 1 || all[0].ID != res.Manifest.ID {
		t.Fatalf("after rounds: %d backups, %v", len(all), err)
	}
	// The lock is released after a round.
	var free bool
	if err := other.QueryRow(t.Context(), "SELECT pg_try_advisory_lock($1)", backup.DefaultLockKey).Scan(&free); err != nil || !free {
		t.Fatalf("lock still held after the round: %v", err)
	}
}

// Prune deletes the artifacts of interrupted backups (no manifest) once
// they are old, and an unreadable manifest neither stops List nor Prune.
func TestPruneOrphansAndUnreadableManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	cfg := e.config()
	cfg.KeepDaily = 1
	m := newManager(t, cfg)
	man, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, file, content string, age time.Duration) string {
		dir := filepath.Join(e.storeDir, "backups", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, file)
		writeFile(t, p, content)
		old := time.Now().Add(-age)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orphan := mk("20260101T000000000Z-dead", "postgres.dump.zst", "partial", 48*time.Hour)
	running := mk("20261201T000000000Z-busy", "postgres.dump.zst", "in progress", time.Minute)
	bad := mk("20260102T000000000Z-bad0", "manifest.json", "{not json", 48*time.Hour)

	all, err := m.List(t.Context())
	if err != nil || len(all) != 1 || all[0].ID != man.ID {
		t.Fatalf("list with an unreadable manifest: %v, %v", all, err)
	}
	res, err := m.Prune(t.Context(), backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Orphans) != 1 || res.Orphans[0] != "20260101T000000000Z-dead" || len(res.Deleted) != 0 {
		t.Fatalf("prune: %+v", res)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("old orphan survived: %v", err)
	}
	for _, p := range []string{running, bad} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s deleted: %v", p, err)
		}
	}
}

// Run makes a backup on its first round and returns when ctx ends.
func TestSchedulerRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	m := newManager(t, e.config())
	s, err := backup.NewScheduler(m, backup.SchedulerConfig{Interval: time.Hour, CheckEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, err := m.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no scheduled backup after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // more rounds: all skipped as "recent"
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if all, _ := m.List(t.Context()); len(all) != 1 {
		t.Fatalf("%d backups after several rounds, want 1", len(all))
	}
}
