package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
)

// ScopeName is the instrumentation scope of every instrument and span of this
// package.
const ScopeName = "github.com/agentical/datalayer/telemetry"

// Config configures a Telemetry. The zero value uses the global providers.
type Config struct {
	// MeterProvider receives the metrics. Default otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider receives the spans (otelpgx query spans). Default
	// otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// IncludeQueryText puts the SQL text in query spans (otelpgx's
	// db.query.text). Off by default; the text never carries argument
	// values.
	IncludeQueryText bool
	// HTTPRoute names the server span of a request for Middleware, e.g.
	// func(r *http.Request) string { _, p := mux.Handler(r); return p }.
	// Default: the ServeMux pattern when Middleware wraps the mux directly,
	// else the method. Never the raw path: span names must stay few.
	HTTPRoute func(*http.Request) string
}

// Telemetry holds the instruments. Build one per process with New and hand
// its observers to the data layer's components. Safe for concurrent use.
type Telemetry struct {
	cfg   Config
	meter metric.Meter

	methodDuration  metric.Float64Histogram
	methodCalls     metric.Int64Counter
	cacheHits       metric.Int64Counter
	cacheMisses     metric.Int64Counter
	cacheFills      metric.Int64Counter
	cacheFillBytes  metric.Int64Histogram
	invalidations   metric.Int64Counter
	invalidationLag metric.Float64Histogram
	cacheErrors     metric.Int64Counter
	transitions     metric.Int64Counter
	retries         metric.Int64Counter
}

// New builds the instruments.
func New(cfg Config) (*Telemetry, error) {
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	t := &Telemetry{cfg: cfg, meter: cfg.MeterProvider.Meter(ScopeName)}
	m := t.meter
	var errs []error
	chk := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	latency := metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
	var err error
	t.methodDuration, err = m.Float64Histogram("datalayer.repo.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of repository method calls (cache, policies and database included)."), latency)
	chk(err)
	t.methodCalls, err = m.Int64Counter("datalayer.repo.calls",
		metric.WithDescription("Repository method calls by outcome: hit, miss, db (uncached or in a transaction), not_found, error."))
	chk(err)
	t.cacheHits, err = m.Int64Counter("datalayer.cache.hits", metric.WithDescription("Cache lookups served from the cache, by tier."))
	chk(err)
	t.cacheMisses, err = m.Int64Counter("datalayer.cache.misses", metric.WithDescription("Cache lookups that ran the loader, by reason (absent, bypass)."))
	chk(err)
	t.cacheFills, err = m.Int64Counter("datalayer.cache.fills", metric.WithDescription("Attempts to store a loaded value, by result (stored, skipped, error)."))
	chk(err)
	t.cacheFillBytes, err = m.Int64Histogram("datalayer.cache.fill.size", metric.WithUnit("By"), metric.WithDescription("Encoded size of stored values."),
		metric.WithExplicitBucketBoundaries(64, 256, 1024, 4096, 16384, 65536, 262144, 1048576))
	chk(err)
	t.invalidations, err = m.Int64Counter("datalayer.cache.invalidations", metric.WithDescription("Invalidation attempts, by result (ok, error) and whether they were background retries."))
	chk(err)
	t.invalidationLag, err = m.Float64Histogram("datalayer.cache.invalidation.lag", metric.WithUnit("s"),
		metric.WithDescription("For invalidations retried in the background: how long they had been pending."), latency)
	chk(err)
	t.cacheErrors, err = m.Int64Counter("datalayer.cache.errors", metric.WithDescription("Redis or codec failures the cache absorbed, by operation."))
	chk(err)
	t.transitions, err = m.Int64Counter("datalayer.breaker.transitions", metric.WithDescription("Circuit-breaker state changes, by breaker and new state."))
	chk(err)
	t.retries, err = m.Int64Counter("datalayer.retries", metric.WithDescription("Retries: statements (by kind) and whole transactions (kind tx)."))
	chk(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return t, nil
}

// PgxTracer returns the tracer to put in postgres.Config.Tracer (or
// pgx.ConnConfig.Tracer): otelpgx's (a span and metrics per query, batch,
// COPY, connect and pool acquire) followed by others, typically the
// postgres.Tracer that logs slow queries and keeps per-query statistics.
// Since otelpgx runs first, the others see its query span in the context, so
// slow-query log lines carry the trace ID.
func (t *Telemetry) PgxTracer(others ...pgx.QueryTracer) pgx.QueryTracer {
	opts := []otelpgx.Option{
		otelpgx.WithTracerProvider(t.cfg.TracerProvider),
		otelpgx.WithMeterProvider(t.cfg.MeterProvider),
		otelpgx.WithSpanNameFunc(postgres.QueryName),
		otelpgx.WithMetricOperationName(func(_ context.Context, sql string) string { return postgres.QueryName(sql) }),
	}
	if !t.cfg.IncludeQueryText {
		opts = append(opts, otelpgx.WithDisableSQLStatementInAttributes())
	}
	tracers := append([]pgx.QueryTracer{otelpgx.NewTracer(opts...)}, others...)
	return multitracer.New(tracers...)
}

// Breaker is a circuit breaker to report: its name (an attribute) and how
// to read its state.
type Breaker struct {
	Name  string
	State func() resilience.State
}

// Sources are the live components whose state is reported as gauges.
type Sources struct {
	// Pools are connection pools by name (attribute pool).
	Pools map[string]*pgxpool.Pool
	// Caches are caches by name (attribute cache): pending invalidations and
	// Redis breaker state.
	Caches map[string]*cache.Cache
	// Breakers are circuit breakers (attribute breaker); for a runtime's
	// database breaker use Runtime.Policies().State.
	Breakers []Breaker
}

// Observe registers gauges read from src at every collection: pool
// connections (by state), pool maximum, acquire counts and waits; pending
// invalidations; breaker states (0 closed, 1 half-open, 2 open). Call the
// returned function to stop.
func (t *Telemetry) Observe(src Sources) (stop func() error, err error) {
	m := t.meter
	conns, err1 := m.Int64ObservableGauge("datalayer.pool.connections", metric.WithDescription("Pool connections by state (idle, acquired, constructing)."))
	maxConns, err2 := m.Int64ObservableGauge("datalayer.pool.max_connections", metric.WithDescription("Pool size limit."))
	acquires, err3 := m.Int64ObservableCounter("datalayer.pool.acquires", metric.WithDescription("Connections acquired from the pool."))
	emptyAcq, err4 := m.Int64ObservableCounter("datalayer.pool.empty_acquires", metric.WithDescription("Acquires that had to wait for a connection (pool empty)."))
	acqWait, err5 := m.Float64ObservableCounter("datalayer.pool.acquire_wait", metric.WithUnit("s"), metric.WithDescription("Total time spent acquiring connections."))
	pending, err6 := m.Int64ObservableGauge("datalayer.cache.pending_invalidations", metric.WithDescription("Version bumps waiting to be retried."))
	state, err7 := m.Int64ObservableGauge("datalayer.breaker.state", metric.WithDescription("Circuit-breaker state: 0 closed, 1 half-open, 2 open."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for name, p := range src.Pools {
			s := postgres.Stats(p)
			pool := attribute.String("pool", name)
			o.ObserveInt64(conns, int64(s.IdleConns), metric.WithAttributes(pool, attribute.String("state", "idle")))
			o.ObserveInt64(conns, int64(s.AcquiredConns), metric.WithAttributes(pool, attribute.String("state", "acquired")))
			o.ObserveInt64(conns, int64(s.ConstructingConns), metric.WithAttributes(pool, attribute.String("state", "constructing")))
			o.ObserveInt64(maxConns, int64(s.MaxConns), metric.WithAttributes(pool))
			o.ObserveInt64(acquires, s.AcquireCount, metric.WithAttributes(pool))
			o.ObserveInt64(emptyAcq, s.EmptyAcquireCount, metric.WithAttributes(pool))
			o.ObserveFloat64(acqWait, s.AcquireDuration.Seconds(), metric.WithAttributes(pool))
		}
		for name, c := range src.Caches {
			o.ObserveInt64(pending, int64(c.Pending()), metric.WithAttributes(attribute.String("cache", name)))
			o.ObserveInt64(state, stateValue(c.RedisState()), metric.WithAttributes(attribute.String("breaker", "redis:"+name)))
		}
		for _, b := range src.Breakers {
			o.ObserveInt64(state, stateValue(b.State()), metric.WithAttributes(attribute.String("breaker", b.Name)))
		}
		return nil
	}, conns, maxConns, acquires, emptyAcq, acqWait, pending, state)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return reg.Unregister, nil
}

func stateValue(s resilience.State) int64 {
	switch s {
	case resilience.HalfOpen:
		return 1
	case resilience.Open:
		return 2
	}
	return 0
}

// BreakerChanged returns a function for resilience.Config.OnStateChange (or
// cache.Config.OnRedisStateChange) that counts transitions of the breaker
// named name.
func (t *Telemetry) BreakerChanged(name string) func(resilience.StateChange) {
	return func(c resilience.StateChange) {
		t.transitions.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("breaker", name), attribute.String("from", c.From.String()), attribute.String("to", c.To.String())))
	}
}

// Retried is a resilience.Config.OnRetry function: it counts statement
// retries by kind and adds an event to the caller's span.
func (t *Telemetry) Retried(ctx context.Context, kind resilience.Kind, attempt int, err error) {
	t.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind.String())))
	trace.SpanFromContext(ctx).AddEvent("datalayer.retry", trace.WithAttributes(
		attribute.String("kind", kind.String()), attribute.Int("attempt", attempt), attribute.String("error", errClass(err))))
}

// TxRetried is a postgres.TxOptions.OnRetry function (also used by
// httpmw.TxConfig.Options) counting transaction reruns (kind "tx").
func (t *Telemetry) TxRetried(attempt int, err error) {
	t.retries.Add(context.Background(), 1, metric.WithAttributes(attribute.String("kind", "tx")))
}

func errClass(err error) string { return resilience.Classify(err).String() }

// MethodObserver returns the observer for repo.Config.Observer: a latency
// histogram and a call counter per method (attribute method; the counter
// also by outcome).
func (t *Telemetry) MethodObserver() repo.MethodObserver { return methodObserver{t} }

type methodObserver struct{ t *Telemetry }

func (o methodObserver) MethodDone(ctx context.Context, e repo.MethodEvent) {
	outcome := "db"
	switch {
	case e.Err != nil:
		outcome = "error"
	case e.CacheHit:
		outcome = "hit"
	case e.CacheMiss:
		outcome = "miss"
	case e.NotFound:
		outcome = "not_found"
	}
	method := attribute.String("method", e.Method.Name)
	o.t.methodDuration.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(method))
	o.t.methodCalls.Add(ctx, 1, metric.WithAttributes(method, attribute.String("outcome", outcome), attribute.Bool("tx", e.InTx)))
}

// CacheObserver returns the observer for cache.Config.Observer; events are
// also passed to next (e.g. a *cache.Counters), when given.
func (t *Telemetry) CacheObserver(next ...cache.Observer) cache.Observer {
	return cacheObserver{t: t, next: next}
}

type cacheObserver struct {
	t    *Telemetry
	next []cache.Observer
}

var bg = context.Background()

func (o cacheObserver) CacheHit(e cache.HitEvent) {
	o.t.cacheHits.Add(bg, 1, metric.WithAttributes(attribute.String("query", e.Query), attribute.String("tier", e.Tier.String()),
		attribute.Bool("stale", e.Stale), attribute.Bool("negative", e.Negative)))
	for _, n := range o.next {
		n.CacheHit(e)
	}
}

func (o cacheObserver) CacheMiss(e cache.MissEvent) {
	o.t.cacheMisses.Add(bg, 1, metric.WithAttributes(attribute.String("query", e.Query), attribute.String("reason", e.Reason.String())))
	for _, n := range o.next {
		n.CacheMiss(e)
	}
}

func (o cacheObserver) CacheFill(e cache.FillEvent) {
	result := "stored"
	switch {
	case e.Err != nil:
		result = "error"
	case e.Skipped:
		result = "skipped"
	default:
		o.t.cacheFillBytes.Record(bg, int64(e.Bytes), metric.WithAttributes(attribute.String("query", e.Query)))
	}
	o.t.cacheFills.Add(bg, 1, metric.WithAttributes(attribute.String("query", e.Query), attribute.String("result", result)))
	for _, n := range o.next {
		n.CacheFill(e)
	}
}

func (o cacheObserver) CacheInvalidate(e cache.InvalidateEvent) {
	result := "ok"
	if e.Err != nil {
		result = "error"
	}
	retry := e.Attempt > 1
	o.t.invalidations.Add(bg, 1, metric.WithAttributes(attribute.String("result", result), attribute.Bool("retry", retry)))
	if retry {
		o.t.invalidationLag.Record(bg, e.Lag.Seconds(), metric.WithAttributes(attribute.String("result", result)))
	}
	for _, n := range o.next {
		n.CacheInvalidate(e)
	}
}

func (o cacheObserver) CacheError(e cache.ErrorEvent) {
	o.t.cacheErrors.Add(bg, 1, metric.WithAttributes(attribute.String("op", e.Op)))
	for _, n := range o.next {
		n.CacheError(e)
	}
}
