package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/reqctx"
	"github.com/agentical/datalayer/resilience"
)

// DBTX is what generated queries run on: a pool, a connection or a
// transaction. It is a superset of every sqlc DBTX interface.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// DB is a DBTX that can start transactions, such as *pgxpool.Pool.
type DB interface {
	DBTX
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Config configures a Runtime.
type Config struct {
	// Cache serves cached reads and takes invalidations. Nil: no caching,
	// every read goes to the database (policies still apply).
	Cache *cache.Cache
	// Policies builds the per-method executors. Nil: resilience.New with a
	// zero Config (the documented defaults).
	Policies *resilience.Policies
	// NotFound reports whether a load error means "no row", which may be
	// cached negatively. Default: errors.Is(err, pgx.ErrNoRows).
	NotFound func(error) bool
	// Observer, if set, is told about every method call when it returns
	// (telemetry: per-method latency histograms, error counts).
	Observer MethodObserver
}

// MethodObserver receives one event per repository method call, on the
// caller's goroutine after the call returned: keep it cheap.
type MethodObserver interface {
	MethodDone(ctx context.Context, e MethodEvent)
}

// MethodEvent describes one finished method call.
type MethodEvent struct {
	Method   *Method
	Duration time.Duration
	// Err is the call's error; not-found results are reported as NotFound
	// with a nil Err.
	Err       error
	NotFound  bool
	InTx      bool
	CacheHit  bool // served from the cache
	CacheMiss bool // loaded from the database through the cache
}

// Runtime holds what every generated method of one database shares: the
// cache, the policy executors and the statistics. Safe for concurrent use.
type Runtime struct {
	cache    *cache.Cache
	policies *resilience.Policies
	notFound func(error) bool
	observer MethodObserver
	stats    statsTable

	mu    sync.RWMutex
	execs map[execKey]*resilience.Executor
	plans sync.Map // *Method -> *readPlan
	// vias holds the entity-cache index of each Via-served method (via.go).
	vias sync.Map // *Method -> *viaIndex
}

type execKey struct {
	m    *Method
	kind resilience.Kind
}

// New builds a Runtime.
func New(cfg Config) (*Runtime, error) {
	if cfg.Policies == nil {
		p, err := resilience.New(resilience.Config{})
		if err != nil {
			return nil, err
		}
		cfg.Policies = p
	}
	if cfg.NotFound == nil {
		cfg.NotFound = func(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
	}
	return &Runtime{cache: cfg.Cache, policies: cfg.Policies, notFound: cfg.NotFound, observer: cfg.Observer, execs: map[execKey]*resilience.Executor{}}, nil
}

// Policies returns the runtime's policies (for breaker state).
func (rt *Runtime) Policies() *resilience.Policies { return rt.policies }

// Cache returns the runtime's cache, or nil.
func (rt *Runtime) Cache() *cache.Cache { return rt.cache }

// Stats returns per-method statistics, sorted by name.
func (rt *Runtime) Stats() []MethodStats { return rt.stats.snapshot() }

// Check builds the executors of every method, so that an unknown policy
// profile fails at startup rather than on first use.
func (rt *Runtime) Check(methods []*Method) error {
	var errs []error
	for _, m := range methods {
		kinds := []resilience.Kind{resilience.Read, resilience.TxStatement}
		if m.Write {
			kinds[0] = resilience.Write
		}
		for _, k := range kinds {
			if _, err := rt.executor(m, k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (rt *Runtime) executor(m *Method, kind resilience.Kind) (*resilience.Executor, error) {
	k := execKey{m, kind}
	rt.mu.RLock()
	e := rt.execs[k]
	rt.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	e, err := rt.policies.Executor(kind, m.Policy, resilience.Profile{Timeout: m.Timeout, RetryAttempts: m.RetryAttempts})
	if err != nil {
		return nil, fmt.Errorf("repo: %s (%s): %w", m.Name, m.Source, err)
	}
	rt.mu.Lock()
	if prev := rt.execs[k]; prev != nil {
		e = prev
	} else {
		rt.execs[k] = e
	}
	rt.mu.Unlock()
	return e, nil
}

// Read runs a read-only method: inside a transaction straight through (no
// cache, no retry), otherwise through the cache when the method is cached,
// with the read policies around the database call.
func Read[T any](ctx context.Context, rt *Runtime, tx *Tx, m *Method, args []any, load func(ctx context.Context) (T, error)) (v T, err error) {
	return read(ctx, rt, tx, m, m, args, load)
}

// read is Read with statistics and events reported for sm (a Via-served
// method reading through m) instead of m.
func read[T any](ctx context.Context, rt *Runtime, tx *Tx, m, sm *Method, args []any, load func(ctx context.Context) (T, error)) (v T, err error) {
	start := cache.Clock() // durations and monotonic deadlines only
	st := rt.stats.get(m)
	sst := st
	if sm != m {
		sst = rt.stats.get(sm)
	}
	var ev MethodEvent
	defer func() { rt.done(ctx, sst, sm, tx, start, err, &ev) }()

	cached := tx == nil && m.Cache != nil && rt.cache != nil
	var tier *cache.Typed[T]
	var akey []byte
	if cached {
		// The typed in-process tier: no key hashing, no policies, no
		// decode; the value was verified under the versions that are still
		// current (see cache.Typed).
		tier = typedTier[T](rt, st, m)
		var kb [128]byte
		akey = cache.AppendArgs(kb[:0], args...)
		if hv, negative, ok := tier.Get(akey, start); ok {
			sst.hits.Add(1)
			reqctx.From(ctx).AddCacheHit()
			ev.CacheHit = true
			if negative {
				return v, tier.NotFound()
			}
			return hv, nil
		}
	}
	kind := resilience.Read
	if tx != nil {
		kind = resilience.TxStatement
	}
	e, err := rt.executor(m, kind)
	if err != nil {
		return v, err
	}
	guarded := func(ctx context.Context) (T, error) { return resilience.Get(ctx, e, load) }
	if !cached {
		return guarded(ctx)
	}
	return cachedRead(ctx, rt, sst, m, args, guarded, &ev, tier, akey)
}

// typedTier returns the typed in-process tier of m on rt's cache (nil when
// the cache cannot keep one). It lives next to m's statistics, which Read
// looks up anyway.
func typedTier[T any](rt *Runtime, st *methodStats, m *Method) *cache.Typed[T] {
	if b := st.tier.Load(); b != nil {
		tt, _ := b.v.(*cache.Typed[T])
		return tt
	}
	cp, _ := m.Copy.(func(T) T)
	b := &tierBox{v: cache.NewTyped(rt.cache, m.Name, cp)}
	if !st.tier.CompareAndSwap(nil, b) {
		b = st.tier.Load()
	}
	tt, _ := b.v.(*cache.Typed[T])
	return tt
}

// tierBox holds a *cache.Typed[T] of a method's result type.
type tierBox struct{ v any }

func (rt *Runtime) done(ctx context.Context, st *methodStats, m *Method, tx *Tx, start time.Time, err error, ev *MethodEvent) {
	rt.doneIn(ctx, st, m, tx, time.Since(start), err, ev)
}

// doneIn is done for a call that took d.
func (rt *Runtime) doneIn(ctx context.Context, st *methodStats, m *Method, tx *Tx, d time.Duration, err error, ev *MethodEvent) {
	real := realError(rt, err)
	st.observe(d, real)
	if rt.observer == nil {
		return
	}
	ev.Method, ev.Duration, ev.Err, ev.InTx = m, d, real, tx != nil
	ev.NotFound = err != nil && real == nil
	rt.observer.MethodDone(ctx, *ev)
}

// Write runs a method that can change rows under the write policies, then
// invalidates what it changed: at once outside a transaction, after commit
// inside one. A write that failed in a way that leaves its outcome unknown
// (a timeout or a broken connection after the statement was sent) is
// invalidated too, now and again later (cache.InvalidateUncertain: it may
// become visible after the first invalidation); one the server rejected is
// not.
//
// A write that went through after the cache was closed returns an error
// matching cache.ErrClosed, never nil: its invalidation could not run, so
// other processes may keep serving the old rows until their TTL. (Close
// the database side first, as stores.Close does, so nothing is written.)
//
// returned, when not nil, gives the values of the method's returned keys
// (Effect.Returned) from its result.
func Write[T any](ctx context.Context, rt *Runtime, tx *Tx, m *Method, args []any, fn func(ctx context.Context) (T, error), returned func(T) []any) (v T, err error) {
	start := time.Now()
	st := rt.stats.get(m)
	defer func() { rt.done(ctx, st, m, tx, start, err, &MethodEvent{}) }()

	kind := resilience.Write
	if tx != nil {
		kind = resilience.TxStatement
	}
	e, err := rt.executor(m, kind)
	if err != nil {
		return v, err
	}
	if m.Audit {
		fn = audited(tx != nil, m, args, fn, returned)
	}
	v, err = resilience.Get(ctx, e, fn)
	if err != nil && !mayHaveWritten(err) {
		return v, err
	}
	if n, ok := any(v).(int64); ok && m.RowCount && err == nil && n == 0 {
		return v, nil // :execrows matched nothing: nothing changed
	}
	var ret []any
	if returned != nil && err == nil {
		ret = returned(v)
	}
	inv := rt.invalidation(m, args, ret)
	if tx != nil {
		tx.add(inv)
		return v, err
	}
	if err != nil {
		// Outcome unknown: it may have committed, and may become visible
		// only after this returns.
		_ = rt.applyUncertain(ctx, inv)
		return v, err
	}
	// A failed invalidation is retried and reported by the cache (the write
	// itself happened); TTLs bound the staleness meanwhile. Only a closed
	// cache can no longer do that.
	if aerr := rt.apply(ctx, inv); errors.Is(aerr, cache.ErrClosed) {
		return v, fmt.Errorf("repo: %s was written but its cache invalidation could not run: %w", m.Name, aerr)
	}
	return v, nil
}

func realError(rt *Runtime, err error) error {
	if err == nil || rt.notFound(err) {
		return nil
	}
	return err
}

// mayHaveWritten reports whether a failed write could still have changed
// rows: anything but a server-side rejection or a failure before sending.
// An error that ends the session (FATAL, e.g. the backend terminated while
// its commit waited for a synchronous standby: PostgreSQL then warns that
// the transaction "has already committed locally") is not a rejection.
func mayHaveWritten(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return sessionEnded(pe) // otherwise the statement rolled back
	}
	if errors.Is(err, resilience.ErrOpen) || resilience.NothingSent(err) {
		return false
	}
	return true
}

// commitOutcomeUnknown reports whether a transaction whose COMMIT failed
// with err may have committed. Only a rejection by the server (a non-fatal
// error, or COMMIT answered with ROLLBACK) rules it out: after a lost or
// terminated session the driver may even report that nothing was sent
// (pgconn "conn closed") for a commit that did happen.
func commitOutcomeUnknown(err error) bool {
	if errors.Is(err, pgx.ErrTxCommitRollback) || errors.Is(err, resilience.ErrOpen) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return sessionEnded(pe)
	}
	return true
}

func sessionEnded(pe *pgconn.PgError) bool {
	return pe.Severity == "FATAL" || pe.Severity == "PANIC" ||
		strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
}
