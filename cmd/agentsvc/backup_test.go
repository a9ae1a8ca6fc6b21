package main_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/internal/testinfra"
)

// schedStatus is the part of /debug/backups the test reads.
type schedStatus struct {
	Running      bool           `json:"running"`
	Interval     time.Duration  `json:"interval_ns"`
	Rounds       int            `json:"rounds"`
	Made         int            `json:"made"`
	Skipped      map[string]int `json:"skipped"`
	LastBackupID string         `json:"last_backup_id"`
	LastError    string         `json:"last_error"`
	Failures     int            `json:"failures"`
}

// testScheduledBackups: two instances with AUTO_BACKUP_ENABLED against one
// database and one file:// store. While another session holds the
// scheduler's advisory lock neither backs up (both report "locked"); once
// it is released they make one backup per interval between them, never
// two. The backups list and verify by restore, /readyz and /debug/backups
// show the scheduler, and SIGTERM stops it before the data layer closes.
func testScheduledBackups(t *testing.T, bin string) {
	const interval = 3600 * time.Millisecond // BACKUP_INTERVAL_HOURS=0.001
	dsn := emptyDatabase(t)
	redis := testinfra.PrivateRedis(t)
	storeDir := t.TempDir()
	storeURL := "file://" + storeDir

	ctx := t.Context()
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.WithoutCancel(ctx))
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", backup.DefaultLockKey); err != nil {
		t.Fatal(err)
	}

	env := []string{"DATABASE_URL=" + dsn, "REDIS_URL=" + redis.URL(), "AUTO_MIGRATE=true", "DB_POOL_SIZE=3",
		"BACKUP_ENABLED=true", "AUTO_BACKUP_ENABLED=true", "BACKUP_INTERVAL_HOURS=0.001", "BACKUP_URL=" + storeURL}
	waitA, waitB := launch(t, bin, env...), launch(t, bin, env...)
	svcs := []*service{waitA(), waitB()}

	status := func(s *service) schedStatus {
		t.Helper()
		var st schedStatus
		s.must(t, 200, "GET", "/debug/backups", nil).json(t, &st)
		return st
	}
	m, err := backup.New(ctx, backup.Config{URL: storeURL, PostgresURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	list := func() []*backup.Manifest {
		t.Helper()
		all, err := m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return all
	}

	// Locked out: both instances run rounds and skip them.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		a, b := status(svcs[0]), status(svcs[1])
		if a.Skipped["locked"] > 0 && b.Skipped["locked"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances did not report a locked round: %+v, %+v", a, b)
		}
	}
	if all := list(); len(all) != 0 {
		t.Fatalf("%d backups made while the advisory lock was held elsewhere", len(all))
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", backup.DefaultLockKey); err != nil {
		t.Fatal(err)
	}

	// Released: wait for three backups (about two intervals).
	const want = 3
	for deadline := time.Now().Add(4*interval + 10*time.Second); len(list()) < want; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d scheduled backups after %s, want %d", len(list()), 4*interval+10*time.Second, want)
		}
	}
	// An instance writes the manifest before its status counts it: read the
	// statuses first, then the store, until the statuses have caught up.
	var sa, sb schedStatus
	var made int
	for deadline := time.Now().Add(2 * interval); ; time.Sleep(100 * time.Millisecond) {
		sa, sb = status(svcs[0]), status(svcs[1])
		made = len(list())
		if sa.Made+sb.Made >= want || time.Now().After(deadline) {
			break
		}
	}
	for i, st := range []schedStatus{sa, sb} {
		if !st.Running || st.Interval != interval || st.Failures != 0 || st.LastError != "" || st.Rounds < 3 || st.LastBackupID == "" {
			t.Errorf("instance %d status: %+v", i, st)
		}
		if st.Rounds != st.Made+st.Skipped["locked"]+st.Skipped["recent"] {
			t.Errorf("instance %d: rounds do not add up: %+v", i, st)
		}
	}
	if sa.Made+sb.Made > made || sa.Made+sb.Made < want {
		t.Errorf("instances report %d + %d backups made; the store holds %d", sa.Made, sb.Made, made)
	}
	t.Logf("instance A: %d rounds, %d made, skipped %v; instance B: %d rounds, %d made, skipped %v",
		sa.Rounds, sa.Made, sa.Skipped, sb.Rounds, sb.Made, sb.Skipped)
	var ready struct {
		Stores map[string]struct {
			State string `json:"state"`
		} `json:"stores"`
	}
	svcs[0].must(t, 200, "GET", "/readyz", nil).json(t, &ready)
	if ready.Stores["backup"].State != "up" {
		t.Errorf("readiness backup entry: %+v", ready.Stores)
	}

	for _, s := range svcs {
		s.stop(t)
		logs := s.logs.String()
		stopped, closed := strings.Index(logs, "agentsvc: backup scheduler stopped"), strings.Index(logs, "agentsvc: data layer closed")
		if stopped < 0 || closed < 0 || stopped > closed {
			t.Errorf("shutdown order: scheduler stopped at %d, data layer closed at %d (want stopped first)", stopped, closed)
		}
	}

	// One backup per interval: consecutive backups start at least one
	// interval apart (never two in one interval) and less than two apart
	// (none skipped).
	all := list()
	if len(all) < want {
		t.Fatalf("%d backups after shutdown", len(all))
	}
	var gaps []string
	for i, man := range all {
		if i > 0 {
			gaps = append(gaps, man.StartedAt.Sub(all[i-1].StartedAt).Round(time.Millisecond).String())
		}
	}
	t.Logf("%d backups, started apart by %v (interval %s)", len(all), gaps, interval)
	for i, man := range all {
		if man.Kind != backup.KindLogical || len(man.Artifacts) == 0 {
			t.Errorf("backup %s: kind %q, %d artifacts", man.ID, man.Kind, len(man.Artifacts))
		}
		if i == 0 {
			continue
		}
		gap := man.StartedAt.Sub(all[i-1].StartedAt)
		if gap < interval || gap >= 2*interval {
			t.Errorf("backups %s and %s start %s apart, want [%s, %s)", all[i-1].ID, man.ID, gap, interval, 2*interval)
		}
	}
	rep, err := m.Verify(ctx, all[len(all)-1].ID, backup.VerifyOptions{Restore: true})
	if err != nil || !rep.OK || !rep.Restored || len(rep.Tables) == 0 {
		b, _ := json.Marshal(rep)
		t.Fatalf("verify %s: %v\n%s", all[len(all)-1].ID, err, b)
	}
}
