package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/resilience"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// notSent mimics pgconn's errors that implement SafeToRetry (the interface is
// what pgconn.SafeToRetry looks for).
type notSent struct{}

func (notSent) Error() string     { return "conn busy before send" }
func (notSent) SafeToRetry() bool { return true }

func pgErr(code string) error {
	return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "x"})
}

func dialErr() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want resilience.Class
	}{
		{nil, resilience.ClassNone},
		{pgx.ErrNoRows, resilience.ClassNone},
		{fmt.Errorf("wrap: %w", pgx.ErrNoRows), resilience.ClassNone},
		{pgErr("23505"), resilience.ClassPermanent},
		{pgErr("23503"), resilience.ClassPermanent},
		{pgErr("42P01"), resilience.ClassPermanent},
		{pgErr("40001"), resilience.ClassConflict},
		{pgErr("40P01"), resilience.ClassConflict},
		{pgErr("08006"), resilience.ClassInfrastructure},
		{pgErr("53300"), resilience.ClassInfrastructure},
		{pgErr("57P01"), resilience.ClassInfrastructure},
		{pgErr("58030"), resilience.ClassInfrastructure},
		{dialErr(), resilience.ClassInfrastructure},
		{context.Canceled, resilience.ClassCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), resilience.ClassCanceled},
		{resilience.ErrTimeout, resilience.ClassInfrastructure},
		{errors.New("something else"), resilience.ClassPermanent},
	}
	for _, c := range cases {
		if got := resilience.Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func newPolicies(t testing.TB, cfg resilience.Config) *resilience.Policies {
	t.Helper()
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
		cfg.BackoffMax = 2 * time.Millisecond
	}
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = 1000 // keep the breaker out of retry-count tests
	}
	p, err := resilience.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRetryCounts(t *testing.T) {
	p := newPolicies(t, resilience.Config{RetryAttempts: 3})
	cases := []struct {
		kind resilience.Kind
		err  error
		want int
	}{
		{resilience.Read, pgErr("08006"), 3},
		{resilience.Read, pgErr("53300"), 3},
		{resilience.Read, pgErr("40001"), 3},
		{resilience.Read, dialErr(), 3},
		{resilience.Read, notSent{}, 3},
		{resilience.Read, pgErr("23505"), 1},
		{resilience.Read, pgx.ErrNoRows, 1},
		{resilience.Read, context.Canceled, 1},
		{resilience.Write, pgErr("08006"), 1}, // sent: may have run
		{resilience.Write, pgErr("57P01"), 1},
		{resilience.Write, pgErr("40001"), 3},
		{resilience.Write, pgErr("40P01"), 3},
		{resilience.Write, fmt.Errorf("w: %w", notSent{}), 3},
		{resilience.Write, &pgconn.ConnectError{}, 3},
		{resilience.Write, pgErr("23505"), 1},
		{resilience.Tx, pgErr("40001"), 3},
		{resilience.Tx, pgErr("23505"), 1},
		{resilience.TxStatement, pgErr("40001"), 1},
		{resilience.TxStatement, notSent{}, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v", c.kind, c.err), func(t *testing.T) {
			e, err := p.Executor(c.kind, "", resilience.Profile{})
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			_, err = resilience.Get(context.Background(), e, func(context.Context) (int, error) {
				calls++
				return 0, c.err
			})
			if calls != c.want {
				t.Errorf("%d calls, want %d", calls, c.want)
			}
			if !errors.Is(err, c.err) && c.err != nil {
				t.Errorf("error %v does not match %v", err, c.err)
			}
		})
	}
}

func TestUniqueViolationKeepsPgError(t *testing.T) {
	p := newPolicies(t, resilience.Config{})
	e := p.MustExecutor(resilience.Write, "", resilience.Profile{RetryAttempts: 5})
	calls := 0
	err := resilience.Run(context.Background(), e, func(context.Context) error {
		calls++
		return pgErr("23505")
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Fatalf("err = %v, want *pgconn.PgError 23505", err)
	}
	if calls != 1 {
		t.Fatalf("unique violation attempted %d times", calls)
	}
}

func TestRecoversAfterTransientFailure(t *testing.T) {
	p := newPolicies(t, resilience.Config{RetryAttempts: 4})
	e := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	calls := 0
	v, err := resilience.Get(context.Background(), e, func(context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "", pgErr("57P03")
		}
		return "ok", nil
	})
	if err != nil || v != "ok" || calls != 3 {
		t.Fatalf("v=%q err=%v calls=%d", v, err, calls)
	}
}

func TestTimeouts(t *testing.T) {
	p := newPolicies(t, resilience.Config{Timeout: 20 * time.Millisecond, RetryAttempts: 2})
	block := func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	for _, c := range []struct {
		kind resilience.Kind
		want int32
	}{{resilience.Read, 2}, {resilience.Write, 1}} {
		e := p.MustExecutor(c.kind, "", resilience.Profile{})
		var calls atomic.Int32
		start := time.Now()
		_, err := resilience.Get(context.Background(), e, func(ctx context.Context) (int, error) {
			calls.Add(1)
			return block(ctx)
		})
		if !errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v: err = %v, want ErrTimeout", c.kind, err)
		}
		if calls.Load() != c.want {
			t.Errorf("%v: %d attempts after timeouts, want %d", c.kind, calls.Load(), c.want)
		}
		if time.Since(start) < time.Duration(c.want)*20*time.Millisecond {
			t.Errorf("%v: returned before the timeout elapsed", c.kind)
		}
	}
	// The caller's own deadline is not the policy's: not a timeout, not retried.
	e := p.MustExecutor(resilience.Read, "", resilience.Profile{Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	var calls atomic.Int32
	_, err := resilience.Get(ctx, e, func(ctx context.Context) (int, error) { calls.Add(1); return block(ctx) })
	if errors.Is(err, resilience.ErrTimeout) || calls.Load() != 1 {
		t.Fatalf("caller deadline: err=%v calls=%d", err, calls.Load())
	}
}

func TestProfilesAndOverrides(t *testing.T) {
	p := newPolicies(t, resilience.Config{
		Timeout:  time.Second,
		Profiles: map[string]resilience.Profile{"slow": {Timeout: 30 * time.Second, RetryAttempts: 5}},
	})
	e := p.MustExecutor(resilience.Read, "slow", resilience.Profile{})
	if got := e.Effective(); got.Timeout != 30*time.Second || got.RetryAttempts != 5 {
		t.Fatalf("profile not applied: %+v", got)
	}
	e = p.MustExecutor(resilience.Read, "slow", resilience.Profile{Timeout: 2 * time.Second})
	if got := e.Effective(); got.Timeout != 2*time.Second || got.RetryAttempts != 5 {
		t.Fatalf("override not applied: %+v", got)
	}
	if _, err := p.Executor(resilience.Read, "nope", resilience.Profile{}); err == nil {
		t.Fatal("unknown profile accepted")
	}
	if _, err := resilience.New(resilience.Config{BackoffBase: time.Second, BackoffMax: time.Millisecond}); err == nil {
		t.Fatal("BackoffMax < BackoffBase accepted")
	}
}

func TestBreakerCountsOnlyInfrastructure(t *testing.T) {
	var mu sync.Mutex
	var changes []resilience.StateChange
	p := newPolicies(t, resilience.Config{
		RetryAttempts:    3,
		BreakerThreshold: 3,
		BreakerDelay:     50 * time.Millisecond,
		OnStateChange: func(c resilience.StateChange) {
			mu.Lock()
			changes = append(changes, c)
			mu.Unlock()
		},
	})
	read := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	write := p.MustExecutor(resilience.Write, "", resilience.Profile{})
	ctx := context.Background()

	// Application errors and not-found never open it.
	for range 20 {
		_ = resilience.Run(ctx, write, func(context.Context) error { return pgErr("23505") })
		_, _ = resilience.Get(ctx, read, func(context.Context) (int, error) { return 0, pgx.ErrNoRows })
	}
	if s := p.State(); s != resilience.Closed {
		t.Fatalf("state after app errors = %v", s)
	}

	// One retried call (3 attempts) is ONE breaker failure: the breaker is outside the retry.
	var calls int
	_ = resilience.Run(ctx, read, func(context.Context) error { calls++; return pgErr("08006") })
	if calls != 3 || p.State() != resilience.Closed {
		t.Fatalf("after one retried call: calls=%d state=%v", calls, p.State())
	}
	_ = resilience.Run(ctx, read, func(context.Context) error { return pgErr("08006") })
	_ = resilience.Run(ctx, read, func(context.Context) error { return dialErr() })
	if s := p.State(); s != resilience.Open {
		t.Fatalf("state after 3 infra failures = %v", s)
	}

	// Open: fails fast without calling fn.
	calls = 0
	err := resilience.Run(ctx, write, func(context.Context) error { calls++; return nil })
	if !errors.Is(err, resilience.ErrOpen) || !errors.Is(err, circuitbreaker.ErrOpen) || calls != 0 {
		t.Fatalf("open breaker: err=%v calls=%d", err, calls)
	}
	var oe *resilience.OpenError
	if !errors.As(err, &oe) || oe.Remaining <= 0 {
		t.Fatalf("want *OpenError with remaining delay, got %#v", err)
	}

	// After the delay it lets a trial through (half-open); a failed trial reopens.
	time.Sleep(60 * time.Millisecond)
	if s := p.State(); s != resilience.HalfOpen {
		t.Fatalf("state after delay = %v", s)
	}
	_ = resilience.Run(ctx, write, func(context.Context) error { return pgErr("57P01") })
	if s := p.State(); s != resilience.Open {
		t.Fatalf("state after failed trial = %v", s)
	}
	time.Sleep(60 * time.Millisecond)
	if err := resilience.Run(ctx, read, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if s := p.State(); s != resilience.Closed {
		t.Fatalf("state after successful trial = %v", s)
	}

	mu.Lock()
	defer mu.Unlock()
	want := []resilience.State{resilience.Open, resilience.HalfOpen, resilience.Open, resilience.HalfOpen, resilience.Closed}
	if len(changes) != len(want) {
		t.Fatalf("transitions %+v, want targets %v", changes, want)
	}
	for i, c := range changes {
		if c.To != want[i] {
			t.Fatalf("transition %d: %v -> %v, want -> %v", i, c.From, c.To, want[i])
		}
	}
}

func TestBreakerRatio(t *testing.T) {
	p := newPolicies(t, resilience.Config{RetryAttempts: 1, BreakerThreshold: 3, BreakerWindow: 6, BreakerDelay: time.Minute})
	e := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	ctx := context.Background()
	seq := []error{nil, pgErr("08006"), nil, pgErr("08006"), nil}
	for _, err := range seq {
		_ = resilience.Run(ctx, e, func(context.Context) error { return err })
	}
	if p.State() != resilience.Closed {
		t.Fatalf("2 of 5 failures opened the breaker")
	}
	_ = resilience.Run(ctx, e, func(context.Context) error { return pgErr("08006") })
	if p.State() != resilience.Open {
		t.Fatalf("3 of 6 failures did not open the breaker: %v", p.State())
	}
}

func BenchmarkExecutor(b *testing.B) {
	p := newPolicies(b, resilience.Config{})
	e := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = resilience.Get(ctx, e, func(context.Context) (int, error) { return 1, nil })
	}
}

func BenchmarkExecutorParts(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		prof resilience.Profile
	}{
		{"breaker+retry+timeout", resilience.Profile{}},
		{"breaker+retry", resilience.Profile{Timeout: -1}},
		{"breaker", resilience.Profile{Timeout: -1, RetryAttempts: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newPolicies(b, resilience.Config{}).MustExecutor(resilience.Read, "", c.prof)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = resilience.Get(ctx, e, func(context.Context) (int, error) { return 1, nil })
			}
		})
	}
}

// Regression (issue 11, item 5): the breaker's first opening is short and
// each failed trial grows it by half, so a brief outage is probed early.
func TestBreakerDelayGrowsFromMin(t *testing.T) {
	p := newPolicies(t, resilience.Config{RetryAttempts: 1, BreakerThreshold: 1, BreakerMinDelay: 30 * time.Millisecond, BreakerDelay: 100 * time.Millisecond})
	e := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	down := errors.New("down")
	fail := func(context.Context) error { return &net.OpError{Op: "dial", Err: down} }
	ctx := context.Background()
	var remaining []time.Duration
	for range 4 {
		_ = resilience.Run(ctx, e, fail) // opens (or reopens from half-open)
		var oe *resilience.OpenError
		if err := resilience.Run(ctx, e, fail); !errors.As(err, &oe) {
			t.Fatalf("want open breaker, got %v", err)
		}
		remaining = append(remaining, oe.Remaining)
		for p.State() == resilience.Open {
			time.Sleep(5 * time.Millisecond)
		}
	}
	want := []time.Duration{30000, 45000, 67500, 100000} // µs
	for i, r := range remaining {
		w := want[i] * time.Microsecond
		if r > w || r < w-20*time.Millisecond {
			t.Errorf("opening %d: remaining %v, want about %v (all: %v)", i+1, r, w, remaining)
		}
	}
	if err := resilience.Run(ctx, e, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	_ = resilience.Run(ctx, e, fail)
	var oe *resilience.OpenError
	if err := resilience.Run(ctx, e, fail); !errors.As(err, &oe) || oe.Remaining > 30*time.Millisecond {
		t.Errorf("after closing, the delay must start over at the minimum: %v", err)
	}
}
