package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentical/datalayer/backup"
)

// A started Scheduler makes a backup, records it in Status (and its
// Handler), and Stop ends it; a second scheduler on the same store sees
// that backup as recent; a failed round shows in Status.
func TestSchedulerStartStopStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	s, err := backup.OpenScheduler(t.Context(), e.config(), backup.SchedulerConfig{Interval: time.Hour, CheckEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, backup.ErrSchedulerStarted) {
		t.Fatalf("second Start: %v", err)
	}
	var st backup.SchedulerStatus
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st = s.Status(); st.Made == 1 && st.Skipped["recent"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after 30 s: %+v", st)
		}
	}
	if !st.Running || st.LastBackupID == "" || !st.LastBackupMine || st.Failures != 0 || st.Interval != time.Hour || st.Kind != backup.KindLogical {
		t.Fatalf("status: %+v", st)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/backups", nil))
	var got backup.SchedulerStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.LastBackupID != st.LastBackupID || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("handler: %v %s", err, rec.Body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if s.Status().Running {
		t.Fatal("running after Stop")
	}
	if err := s.Start(t.Context()); !errors.Is(err, backup.ErrSchedulerStarted) {
		t.Fatalf("Start after Stop: %v", err)
	}

	// Another instance finds the backup recent and reports it as not its own.
	m := newManager(t, e.config())
	other, err := backup.NewScheduler(m, backup.SchedulerConfig{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Stop may cancel a round in the middle of a query, which closes its
	// connection; PostgreSQL releases that session's advisory lock when the
	// backend exits, a moment later. Until then a round reports "locked".
	var res backup.RoundResult
	locked := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err = other.RunOnce(t.Context())
		if err != nil || res.Skipped != "locked" || time.Now().After(deadline) {
			break
		}
		locked++
	}
	if err != nil || res.Skipped != "recent" || res.Recent == nil || res.Recent.ID != st.LastBackupID {
		t.Fatalf("other round: %+v, %v", res, err)
	}
	if ost := other.Status(); ost.LastBackupID != st.LastBackupID || ost.LastBackupMine || ost.Made != 0 || ost.Rounds != 1+locked {
		t.Fatalf("other status: %+v", ost)
	}

	// A failing round (the lock database is gone) is counted and kept.
	bad, err := backup.NewScheduler(m, backup.SchedulerConfig{Interval: time.Nanosecond, LockURL: "postgres://127.0.0.1:1/none?connect_timeout=2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.RunOnce(t.Context()); err == nil {
		t.Fatal("round against a closed port succeeded")
	}
	if bst := bad.Status(); bst.Failures != 1 || bst.LastError == "" || bst.LastErrorAt.IsZero() || bst.Rounds != 1 {
		t.Fatalf("status after a failed round: %+v", bst)
	}
}
