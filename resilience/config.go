package resilience

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Defaults used for zero Config and Profile fields.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultRetryAttempts    = 3
	DefaultBackoffBase      = 20 * time.Millisecond
	DefaultBackoffMax       = 1 * time.Second
	DefaultJitter           = 0.25
	DefaultBreakerThreshold = 5
	DefaultBreakerDelay     = 10 * time.Second
	DefaultBreakerMinDelay  = 100 * time.Millisecond
	DefaultBreakerSuccesses = 1
)

// Config holds the policies applied to every database call of one pool. The
// zero value is valid: every zero field takes the Default* constant.
type Config struct {
	// Timeout bounds each attempt (default 5s; negative disables). A read
	// that times out is retried; a write that times out is not, since it may
	// already have run.
	Timeout time.Duration
	// RetryAttempts is the total number of attempts including the first
	// (default 3; 1 or negative disables retries).
	RetryAttempts int
	// BackoffBase and BackoffMax bound the exponential delay between attempts
	// (defaults 20ms and 1s).
	BackoffBase, BackoffMax time.Duration
	// Jitter is the fraction of each delay that is randomized (default 0.25;
	// negative disables).
	Jitter float64

	// BreakerThreshold is how many infrastructure failures open the breaker
	// (default 5).
	BreakerThreshold uint
	// BreakerWindow makes the threshold a ratio: the breaker opens when
	// BreakerThreshold of the last BreakerWindow executions failed. Zero means
	// BreakerThreshold consecutive failures.
	BreakerWindow uint
	// BreakerDelay is the longest the breaker stays open before it lets a
	// trial call through (half-open); default 10s.
	BreakerDelay time.Duration
	// BreakerMinDelay is how long the breaker stays open the first time:
	// each failed trial grows the delay by half, up to BreakerDelay, and closing
	// starts over. A short outage (a database restart) thus costs about its
	// own length, not a full BreakerDelay, while a long one is probed
	// rarely. Default 100ms (capped at BreakerDelay); negative keeps every
	// open at BreakerDelay.
	BreakerMinDelay time.Duration
	// BreakerSuccesses is how many successful trial calls close a half-open
	// breaker (default 1); one failed trial reopens it.
	BreakerSuccesses uint

	// Profiles are named overrides, selected per query (`-- @policy NAME`).
	Profiles map[string]Profile

	// OnStateChange, if set, is called on every breaker transition. It runs
	// synchronously on the calling goroutine: keep it short.
	OnStateChange func(StateChange)
	// OnRetry, if set, is called before each retry of a statement with the
	// context of the call, the executor's kind, the number of attempts made so
	// far and the last attempt's error. It runs synchronously: keep it short.
	OnRetry func(ctx context.Context, kind Kind, attempt int, err error)
	// Logger, if set, receives breaker transitions at Warn/Info.
	Logger *slog.Logger
}

// Profile overrides the per-call part of Config. Zero fields inherit.
type Profile struct {
	Timeout                 time.Duration
	RetryAttempts           int
	BackoffBase, BackoffMax time.Duration
	Jitter                  float64
}

// merge returns p with its zero fields filled from base.
func (p Profile) merge(base Profile) Profile {
	if p.Timeout == 0 {
		p.Timeout = base.Timeout
	}
	if p.RetryAttempts == 0 {
		p.RetryAttempts = base.RetryAttempts
	}
	if p.BackoffBase == 0 {
		p.BackoffBase = base.BackoffBase
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = base.BackoffMax
	}
	if p.Jitter == 0 {
		p.Jitter = base.Jitter
	}
	return p
}

func (c Config) base() Profile {
	return Profile{
		Timeout: c.Timeout, RetryAttempts: c.RetryAttempts,
		BackoffBase: c.BackoffBase, BackoffMax: c.BackoffMax, Jitter: c.Jitter,
	}.merge(Profile{
		Timeout: DefaultTimeout, RetryAttempts: DefaultRetryAttempts,
		BackoffBase: DefaultBackoffBase, BackoffMax: DefaultBackoffMax, Jitter: DefaultJitter,
	})
}

func (p Profile) validate(name string) error {
	if p.BackoffBase > 0 && p.BackoffMax > 0 && p.BackoffMax < p.BackoffBase {
		return fmt.Errorf("resilience: profile %q: BackoffMax %v < BackoffBase %v", name, p.BackoffMax, p.BackoffBase)
	}
	if p.Jitter > 1 {
		return fmt.Errorf("resilience: profile %q: Jitter %v > 1", name, p.Jitter)
	}
	return nil
}
