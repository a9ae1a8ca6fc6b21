package repo_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
)

func newRuntime(t testing.TB, cfg resilience.Config) *repo.Runtime {
	t.Helper()
	pol, err := resilience.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := repo.New(repo.Config{Policies: pol})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestCheckRejectsUnknownPolicyProfile(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, resilience.Config{Profiles: map[string]resilience.Profile{"slow": {Timeout: 3 * time.Second}}})

	// Every generated method builds its executors.
	noErr(t, rt.Check(db.Methods()))
	noErr(t, newRuntime(t, resilience.Config{}).Check(db.Methods()))

	good := &repo.Method{Name: "Good", Source: "queries/x.sql:1", Policy: "slow"}
	bad := &repo.Method{Name: "Bad", Source: "queries/x.sql:9", Policy: "nope"}
	badWrite := &repo.Method{Name: "BadWrite", Source: "queries/x.sql:12", Policy: "nope", Write: true}
	noErr(t, rt.Check([]*repo.Method{good}))
	err := rt.Check([]*repo.Method{good, bad, badWrite})
	if err == nil {
		t.Fatal("Check accepted an unknown profile")
	}
	for _, want := range []string{`"nope"`, "Bad (queries/x.sql:9)", "BadWrite (queries/x.sql:12)", "slow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %q does not mention %s", err, want)
		}
	}

	// Calls with such a method fail without running the statement.
	ran := false
	_, err = repo.Read(ctx, rt, nil, bad, nil, func(context.Context) (int, error) { ran = true; return 1, nil })
	if err == nil || ran {
		t.Errorf("Read with an unknown profile: err %v, ran %v", err, ran)
	}
	_, err = repo.Write(ctx, rt, nil, badWrite, nil, func(context.Context) (int, error) { ran = true; return 1, nil }, nil)
	if err == nil || ran {
		t.Errorf("Write with an unknown profile: err %v, ran %v", err, ran)
	}
}

// Per-query overrides (-- @timeout, -- @retry attempts=N) reach the policies.
func TestMethodPolicyOverrides(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t, resilience.Config{BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	refused := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

	calls := 0
	m := &repo.Method{Name: "Retry2", Source: "q.sql:1", RetryAttempts: 2}
	_, err := repo.Read(ctx, rt, nil, m, nil, func(context.Context) (int, error) { calls++; return 0, refused })
	if !errors.Is(err, syscall.ECONNRESET) || calls != 2 {
		t.Errorf("@retry attempts=2: %d attempts, err %v", calls, err)
	}
	// A write that may have been sent is never retried.
	calls = 0
	w := &repo.Method{Name: "W", Source: "q.sql:2", Write: true, RetryAttempts: 5}
	_, err = repo.Write(ctx, rt, nil, w, nil, func(context.Context) (int, error) { calls++; return 0, refused }, nil)
	if err == nil || calls != 1 {
		t.Errorf("write after a reset connection: %d attempts, want 1 (err %v)", calls, err)
	}

	tm := &repo.Method{Name: "Timeout", Source: "q.sql:3", Timeout: 30 * time.Millisecond, RetryAttempts: 1}
	start := time.Now()
	_, err = repo.Read(ctx, rt, nil, tm, nil, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, resilience.ErrTimeout) {
		t.Errorf("@timeout 30ms: err %v after %v, want ErrTimeout", err, time.Since(start))
	}
}
