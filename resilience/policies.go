package resilience

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/failsafe-go/failsafe-go/timeout"
)

// Kind selects the retry rules of an Executor.
type Kind uint8

const (
	// Read is a read-only statement: retried on infrastructure failures,
	// timeouts and conflicts.
	Read Kind = iota
	// Write is a single autocommit statement that changes data: retried only
	// when nothing was sent (pgconn.SafeToRetry, a failed connect) or the
	// server rolled it back (40001, 40P01). Never after a timeout.
	Write
	// Tx is a whole transaction function (BEGIN ... COMMIT): same rules as
	// Write; a conflict anywhere inside reruns the whole function.
	Tx
	// TxStatement is a statement inside an open transaction: timeout and
	// breaker only, never retried (the enclosing Tx retries).
	TxStatement
)

func (k Kind) String() string {
	switch k {
	case Read:
		return "read"
	case Write:
		return "write"
	case Tx:
		return "tx"
	case TxStatement:
		return "tx-statement"
	}
	return "unknown"
}

// State is the circuit breaker state.
type State uint8

const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return "unknown"
}

func fromCB(s circuitbreaker.State) State {
	switch s {
	case circuitbreaker.OpenState:
		return Open
	case circuitbreaker.HalfOpenState:
		return HalfOpen
	}
	return Closed
}

// StateChange describes one breaker transition.
type StateChange struct {
	From, To State
	// Failures is the number of failures that opened the breaker, where the
	// breaker counts them itself (the cache's Redis breaker); 0 for the
	// PostgreSQL breaker, whose failsafe-go counters cannot be read safely
	// from its state-change listener (a data race under load).
	Failures uint
}

var (
	// ErrOpen is matched (errors.Is) by the error a call gets while the
	// breaker is open: the database is considered down and the call was not
	// attempted. It also matches failsafe-go's circuitbreaker.ErrOpen.
	ErrOpen = errors.New("resilience: circuit breaker open")
	// ErrTimeout is matched by the error of an attempt that exceeded its
	// policy timeout. It also matches context.DeadlineExceeded and
	// failsafe-go's timeout.ErrExceeded.
	ErrTimeout = errors.New("resilience: timeout exceeded")
)

// OpenError is the concrete error for a call rejected by an open breaker.
type OpenError struct {
	// Remaining is how long the breaker stays open.
	Remaining time.Duration
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("resilience: circuit breaker open (retry in %v)", e.Remaining.Round(time.Millisecond))
}

func (e *OpenError) Is(target error) bool {
	return target == ErrOpen || target == circuitbreaker.ErrOpen
}

type timeoutError struct{ limit time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("resilience: timeout exceeded (%v)", e.limit)
}

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == timeout.ErrExceeded || target == context.DeadlineExceeded
}

// Policies owns the circuit breaker of one database (or other dependency)
// and builds Executors that share it. Safe for concurrent use.
type Policies struct {
	cfg     Config
	base    Profile
	breaker circuitbreaker.CircuitBreaker[any]
	// opens counts the breaker's openings since it last closed; the next
	// open delay is minDelay << opens, capped at maxDelay.
	opens              atomic.Int32
	minDelay, maxDelay time.Duration
}

// New validates cfg and builds the shared circuit breaker.
func New(cfg Config) (*Policies, error) {
	p := &Policies{cfg: cfg, base: cfg.base()}
	if err := p.base.validate("default"); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cfg.Profiles))
	for name := range cfg.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			return nil, errors.New("resilience: profile with empty name")
		}
		if err := cfg.Profiles[name].merge(p.base).validate(name); err != nil {
			return nil, err
		}
	}
	threshold := cfg.BreakerThreshold
	if threshold == 0 {
		threshold = DefaultBreakerThreshold
	}
	window := cfg.BreakerWindow
	if window == 0 {
		window = threshold
	}
	if window < threshold {
		return nil, fmt.Errorf("resilience: BreakerWindow %d < BreakerThreshold %d", window, threshold)
	}
	delay := cfg.BreakerDelay
	if delay <= 0 {
		delay = DefaultBreakerDelay
	}
	p.maxDelay, p.minDelay = delay, cfg.BreakerMinDelay
	switch {
	case p.minDelay == 0:
		p.minDelay = min(DefaultBreakerMinDelay, delay)
	case p.minDelay < 0 || p.minDelay > delay:
		p.minDelay = delay
	}
	successes := cfg.BreakerSuccesses
	if successes == 0 {
		successes = DefaultBreakerSuccesses
	}
	p.breaker = circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return IsInfrastructure(err) }).
		WithFailureThresholdRatio(threshold, window).
		WithSuccessThreshold(successes).
		WithDelay(p.minDelay).
		WithDelayFunc(func(failsafe.ExecutionAttempt[any]) time.Duration { return p.openDelay() }).
		OnStateChanged(p.stateChanged).
		Build()
	return p, nil
}

// openDelay is the delay of the breaker's next opening: BreakerMinDelay
// grown by half for every opening since the breaker last closed, capped at
// BreakerDelay.
func (p *Policies) openDelay() time.Duration {
	// Growth 1.5 rather than 2: a trial lands at most about half the outage
	// after the server is back, while a long outage is still probed only a
	// few times a minute.
	d := p.minDelay
	for n := p.opens.Load(); n > 0 && d < p.maxDelay; n-- {
		d += d / 2
	}
	return min(d, p.maxDelay)
}

func (p *Policies) stateChanged(e circuitbreaker.StateChangedEvent) {
	switch e.NewState {
	case circuitbreaker.OpenState:
		p.opens.Add(1)
	case circuitbreaker.ClosedState:
		p.opens.Store(0)
	}
	ch := StateChange{From: fromCB(e.OldState), To: fromCB(e.NewState)}
	if l := p.cfg.Logger; l != nil {
		level := slogInfo
		if ch.To == Open {
			level = slogWarn
		}
		l.Log(context.Background(), level, "resilience: circuit breaker "+ch.To.String(),
			"from", ch.From.String())
	}
	if f := p.cfg.OnStateChange; f != nil {
		f(ch)
	}
}

// State returns the breaker's current state. An open breaker whose delay has
// elapsed reports HalfOpen: the next call is a trial (failsafe-go moves the
// state lazily, on that call, which is when OnStateChange fires).
func (p *Policies) State() State {
	s := fromCB(p.breaker.State())
	if s == Open && p.breaker.RemainingDelay() <= 0 {
		return HalfOpen
	}
	return s
}

// Profiles returns the names of the configured profiles, sorted.
func (p *Policies) Profiles() []string {
	names := make([]string, 0, len(p.cfg.Profiles))
	for name := range p.cfg.Profiles {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Executor builds the policy chain for one operation: breaker (outside,
// shared, counting only infrastructure failures) → retry (per kind) →
// timeout (per attempt). profile names an entry of Config.Profiles ("" for
// none); override's non-zero fields win over the profile and Config (this is
// where `-- @timeout` and `-- @retry attempts=N` land). Build Executors once
// (e.g. in a repository constructor) and reuse them.
func (p *Policies) Executor(kind Kind, profile string, override Profile) (*Executor, error) {
	base := p.base
	if profile != "" {
		prof, ok := p.cfg.Profiles[profile]
		if !ok {
			return nil, fmt.Errorf("resilience: unknown profile %q (configured: %v)", profile, p.Profiles())
		}
		base = prof.merge(base)
	}
	eff := override.merge(base)
	if err := eff.validate(profile); err != nil {
		return nil, err
	}
	policies := []failsafe.Policy[any]{p.breaker}
	attempts := eff.RetryAttempts
	if kind == TxStatement {
		attempts = 1
	}
	if attempts > 1 {
		rb := retrypolicy.NewBuilder[any]().
			HandleIf(func(_ any, err error) bool { return Retryable(kind, err) }).
			WithMaxAttempts(attempts).
			ReturnLastFailure()
		if eff.BackoffBase > 0 {
			maxDelay := eff.BackoffMax
			if maxDelay < eff.BackoffBase {
				maxDelay = eff.BackoffBase
			}
			rb = rb.WithBackoff(eff.BackoffBase, maxDelay)
		} else {
			rb = rb.WithDelay(0)
		}
		if eff.Jitter > 0 {
			rb = rb.WithJitterFactor(eff.Jitter)
		}
		if f := p.cfg.OnRetry; f != nil {
			rb = rb.OnRetry(func(e failsafe.ExecutionEvent[any]) {
				f(e.Context(), kind, e.Attempts(), e.LastError())
			})
		}
		policies = append(policies, rb.Build())
	}
	if eff.Timeout > 0 {
		policies = append(policies, timeout.New[any](eff.Timeout))
	}
	return &Executor{kind: kind, profile: eff, exec: failsafe.With(policies...), p: p}, nil
}

// MustExecutor is Executor that panics on error, for package-level wiring
// where the profile name is a constant checked by the generator.
func (p *Policies) MustExecutor(kind Kind, profile string, override Profile) *Executor {
	e, err := p.Executor(kind, profile, override)
	if err != nil {
		panic(err)
	}
	return e
}

// Executor runs functions under one policy chain. Safe for concurrent use.
type Executor struct {
	kind    Kind
	profile Profile
	exec    failsafe.Executor[any]
	p       *Policies
}

// Kind returns the executor's kind.
func (e *Executor) Kind() Kind { return e.kind }

// Effective returns the merged settings (Config, profile, override).
func (e *Executor) Effective() Profile { return e.profile }

// Get runs fn under e's policies. fn must use the ctx it is given: it carries
// the per-attempt timeout. Errors from fn come back unchanged (errors.As
// still finds *pgconn.PgError); a rejected call returns an error matching
// ErrOpen, a timed-out attempt one matching ErrTimeout.
func Get[T any](ctx context.Context, e *Executor, fn func(ctx context.Context) (T, error)) (T, error) {
	res, err := e.exec.WithContext(ctx).GetWithExecution(func(exec failsafe.Execution[any]) (any, error) {
		v, err := fn(exec.Context())
		return v, err
	})
	if err != nil {
		var zero T
		return zero, e.translate(ctx, err)
	}
	v, _ := res.(T)
	return v, nil
}

// Run is Get for functions without a result.
func Run(ctx context.Context, e *Executor, fn func(ctx context.Context) error) error {
	err := e.exec.WithContext(ctx).RunWithExecution(func(exec failsafe.Execution[any]) error {
		return fn(exec.Context())
	})
	if err != nil {
		return e.translate(ctx, err)
	}
	return nil
}

func (e *Executor) translate(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, circuitbreaker.ErrOpen):
		return &OpenError{Remaining: e.p.breaker.RemainingDelay()}
	case errors.Is(err, timeout.ErrExceeded) && ctx.Err() == nil:
		return &timeoutError{limit: e.profile.Timeout}
	}
	return err
}
