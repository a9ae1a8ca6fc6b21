package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// State is a store's (or the service's) condition.
type State string

const (
	// Up: the store answered and nothing is wrong.
	Up State = "up"
	// Degraded: the store answered but something needs attention, or a
	// store the service can run without is down.
	Degraded State = "degraded"
	// Down: the store did not answer within the timeout.
	Down State = "down"
)

func (s State) rank() int { return slices.Index([]State{Up, Degraded, Down}, s) }

// Defaults for zero Config fields.
const (
	DefaultTimeout  = 2 * time.Second
	DefaultCacheFor = time.Second
)

// Status is the result of one store's check.
type Status struct {
	State State `json:"state"`
	// Latency is how long the check took, in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Error is why the store is down, or the last error seen.
	Error string `json:"error,omitempty"`
	// Notes say why the store is degraded.
	Notes []string `json:"notes,omitempty"`
	// Breaker is the state of the store's circuit breaker (closed,
	// half-open, open).
	Breaker string `json:"breaker,omitempty"`
	// Pool holds connection pool statistics (postgres).
	Pool *PoolStats `json:"pool,omitempty"`
	// PendingInvalidations counts cache invalidations waiting for Redis
	// (redis).
	PendingInvalidations *int `json:"pending_invalidations,omitempty"`
	// Migrations compares the database's migration version with the code's
	// (postgres).
	Migrations *Migrations `json:"migrations,omitempty"`
}

// PoolStats are a PostgreSQL pool's counters.
type PoolStats struct {
	MaxConns          int32   `json:"max_conns"`
	TotalConns        int32   `json:"total_conns"`
	AcquiredConns     int32   `json:"acquired_conns"`
	IdleConns         int32   `json:"idle_conns"`
	ConstructingConns int32   `json:"constructing_conns"`
	AcquireCount      int64   `json:"acquire_count"`
	EmptyAcquireCount int64   `json:"empty_acquire_count"`
	AcquireWaitMS     float64 `json:"acquire_wait_ms_total"`
}

// Migrations compares the applied migration version with the code's.
type Migrations struct {
	// Applied is the last version applied to the database ("" for none).
	Applied string `json:"applied"`
	// Code is the last version the code embeds.
	Code string `json:"code"`
	// Pending counts files not applied yet (the database is behind).
	Pending int `json:"pending"`
	// Unknown counts applied versions the code has no file for (the
	// database is ahead of the code).
	Unknown int `json:"unknown"`
	// Failed counts files whose last attempt failed or drifted.
	Failed int `json:"failed"`
}

// Check probes one store.
type Check struct {
	// Name is the store's key in the report ("postgres", "redis",
	// "surrealdb").
	Name string
	// Critical: when this store is down the service is not ready (503).
	// A non-critical store that is down makes the service degraded.
	Critical bool
	// Probe checks the store. It must respect ctx; a probe that overruns
	// the timeout is reported down anyway.
	Probe func(ctx context.Context) Status
}

// Config configures a Checker.
type Config struct {
	// Checks are the stores to check, reported in this order.
	Checks []Check
	// Timeout bounds every check (default 2s).
	Timeout time.Duration
	// CacheFor is how long a report is reused before the stores are checked
	// again (default 1s; negative: never reused).
	CacheFor time.Duration
}

// Report is the readiness answer.
type Report struct {
	// Ready is false when a critical store is down (HTTP 503).
	Ready bool `json:"ready"`
	// State is the worst store state, a non-critical down counting as
	// degraded.
	State     State             `json:"state"`
	CheckedAt time.Time         `json:"checked_at"`
	Stores    map[string]Status `json:"stores"`
}

// Checker runs the checks, reusing results for Config.CacheFor. Safe for
// concurrent use; concurrent callers share one run.
type Checker struct {
	cfg     Config
	started time.Time

	mu      sync.Mutex
	last    *Report
	lastAt  time.Time
	running chan struct{}
}

// New returns a Checker; nothing is checked until the first probe.
func New(cfg Config) *Checker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheFor == 0 {
		cfg.CacheFor = DefaultCacheFor
	}
	return &Checker{cfg: cfg, started: time.Now()}
}

// Check returns the current report: the last one if it is younger than
// CacheFor, else a fresh one (shared with concurrent callers). When ctx
// ends first, a report saying so is returned (Ready false).
func (c *Checker) Check(ctx context.Context) Report {
	c.mu.Lock()
	if c.last != nil && time.Since(c.lastAt) < c.cfg.CacheFor {
		r := *c.last
		c.mu.Unlock()
		return r
	}
	if c.running == nil {
		done := make(chan struct{})
		c.running = done
		go func() {
			r := c.run()
			c.mu.Lock()
			c.last, c.lastAt, c.running = &r, time.Now(), nil
			c.mu.Unlock()
			close(done)
		}()
	}
	done := c.running
	c.mu.Unlock()
	select {
	case <-done:
		c.mu.Lock()
		r := *c.last
		c.mu.Unlock()
		return r
	case <-ctx.Done():
		return Report{State: Down, CheckedAt: time.Now(), Stores: map[string]Status{}}
	}
}

// run checks every store concurrently, each bounded by the timeout. It
// does not use any caller's context: the result is shared.
func (c *Checker) run() Report {
	statuses := make([]Status, len(c.cfg.Checks))
	var wg sync.WaitGroup
	for i, ch := range c.cfg.Checks {
		wg.Go(func() { statuses[i] = c.probe(ch) })
	}
	wg.Wait()
	r := Report{Ready: true, State: Up, CheckedAt: time.Now().UTC(), Stores: make(map[string]Status, len(statuses))}
	for i, ch := range c.cfg.Checks {
		s := statuses[i]
		r.Stores[ch.Name] = s
		eff := s.State
		if eff == Down && !ch.Critical {
			eff = Degraded
		}
		if eff == Down {
			r.Ready = false
		}
		if eff.rank() > r.State.rank() {
			r.State = eff
		}
	}
	return r
}

func (c *Checker) probe(ch Check) Status {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	res := make(chan Status, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				res <- Status{State: Down, Error: fmt.Sprintf("check panicked: %v", p)}
			}
		}()
		res <- ch.Probe(ctx)
	}()
	var s Status
	select {
	case s = <-res:
	case <-ctx.Done():
		s = Status{State: Down, Error: fmt.Sprintf("no answer within %s", c.cfg.Timeout)}
	}
	if s.State == "" {
		s.State = Up
	}
	s.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	return s
}

// Live answers liveness probes: 200 while the process can serve HTTP. It
// never touches a store, so a database outage does not get the process
// restarted.
func (c *Checker) Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"status":   "alive",
			"uptime_s": int64(time.Since(c.started).Seconds()),
		})
	})
}

// Ready answers readiness probes with the Report as JSON: 200 when ready
// (state up or degraded), 503 when a critical store is down.
func (c *Checker) Ready() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := c.Check(r.Context())
		code := http.StatusOK
		if !rep.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rep)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"health: cannot encode report"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
