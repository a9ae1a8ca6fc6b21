package postgres

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentical/datalayer/reqctx"
)

// TracerConfig configures a Tracer.
type TracerConfig struct {
	// Logger receives one Warn record per slow query. Nil: no logging, the
	// statistics are still kept.
	Logger *slog.Logger
	// SlowThreshold is the duration from which a query is logged. Default
	// 500ms; negative disables slow-query logging.
	SlowThreshold time.Duration
	// LogArgs adds the query's argument values to slow-query records. Off by
	// default: arguments carry personal data and secrets.
	LogArgs bool
	// Buckets are the histogram's upper bounds, ascending. Default 1ms, 2ms,
	// 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s, 10s.
	Buckets []time.Duration
	// SlowKeep is how many recent slow queries SlowQueries returns. Default
	// 50; negative keeps none.
	SlowKeep int
}

var defaultBuckets = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Tracer is a pgx tracer (queries, batches, COPY) that logs slow queries and
// keeps per-query counters and latency histograms. Queries are named by
// sqlc's "-- name: X" marker, else by their first keyword so ad-hoc SQL does
// not grow the table without bound. Safe for concurrent use.
type Tracer struct {
	cfg   TracerConfig
	mu    sync.RWMutex
	stats map[string]*queryStats

	slowMu sync.Mutex
	slow   []SlowQuery // ring of the last SlowKeep slow queries
	slowN  int         // total slow queries seen
}

// SlowQuery is one query that took at least SlowThreshold.
type SlowQuery struct {
	Time      time.Time // when it finished
	Query     string
	Duration  time.Duration
	Rows      int64
	Error     string // as logged: SQLSTATE only unless LogArgs
	RequestID string // from the context (package reqctx), if any
	TraceID   string // the OpenTelemetry trace of the context, if any
}

var (
	_ pgx.QueryTracer    = (*Tracer)(nil)
	_ pgx.BatchTracer    = (*Tracer)(nil)
	_ pgx.CopyFromTracer = (*Tracer)(nil)
)

// NewTracer returns a Tracer; see TracerConfig for defaults.
func NewTracer(cfg TracerConfig) *Tracer {
	if cfg.SlowThreshold == 0 {
		cfg.SlowThreshold = 500 * time.Millisecond
	}
	if len(cfg.Buckets) == 0 {
		cfg.Buckets = defaultBuckets
	}
	if cfg.SlowKeep == 0 {
		cfg.SlowKeep = 50
	}
	cfg.Buckets = slices.Clone(cfg.Buckets)
	slices.Sort(cfg.Buckets)
	return &Tracer{cfg: cfg, stats: make(map[string]*queryStats)}
}

type queryStats struct {
	count, errors, rows atomic.Int64
	totalNs, maxNs      atomic.Int64
	buckets             []atomic.Int64 // len(Buckets)+1, the last is +Inf
}

// QueryStats is a snapshot of one query's counters.
type QueryStats struct {
	Name   string
	Count  int64
	Errors int64
	Rows   int64 // rows returned or affected, summed
	Total  time.Duration
	Max    time.Duration
	// Buckets[i] counts calls that took at most Bounds[i]; the final entry
	// counts the rest.
	Bounds  []time.Duration
	Buckets []int64
}

// Mean is the average duration.
func (s QueryStats) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Total / time.Duration(s.Count)
}

// Quantile estimates the q-quantile (0..1) as the upper bound of the bucket
// it falls into; for the overflow bucket it returns Max.
func (s QueryStats) Quantile(q float64) time.Duration {
	var n int64
	for _, c := range s.Buckets {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range s.Buckets {
		seen += c
		if seen >= rank {
			if i < len(s.Bounds) {
				return min(s.Bounds[i], s.Max)
			}
			return s.Max
		}
	}
	return s.Max
}

// Stats returns a snapshot of every query seen, sorted by name.
func (t *Tracer) Stats() []QueryStats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]QueryStats, 0, len(t.stats))
	for name, s := range t.stats {
		qs := QueryStats{
			Name: name, Count: s.count.Load(), Errors: s.errors.Load(), Rows: s.rows.Load(),
			Total: time.Duration(s.totalNs.Load()), Max: time.Duration(s.maxNs.Load()),
			Bounds: t.cfg.Buckets, Buckets: make([]int64, len(s.buckets)),
		}
		for i := range s.buckets {
			qs.Buckets[i] = s.buckets[i].Load()
		}
		out = append(out, qs)
	}
	slices.SortFunc(out, func(a, b QueryStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Query returns the snapshot for one query name.
func (t *Tracer) Query(name string) (QueryStats, bool) {
	for _, s := range t.Stats() {
		if s.Name == name {
			return s, true
		}
	}
	return QueryStats{}, false
}

// Reset forgets all statistics.
func (t *Tracer) Reset() {
	t.mu.Lock()
	t.stats = make(map[string]*queryStats)
	t.mu.Unlock()
}

type traceKey struct{}

type traceStart struct {
	name  string
	start time.Time
	args  []any
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *Tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{name: QueryName(d.SQL), start: time.Now(), args: d.Args})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *Tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if s, ok := ctx.Value(traceKey{}).(traceStart); ok {
		t.record(ctx, s, d.CommandTag.RowsAffected(), d.Err)
	}
}

// TraceBatchStart implements pgx.BatchTracer.
func (t *Tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer: each queued query is recorded
// under its own name, timed from when its result was read.
func (t *Tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	start := d.ReadStartTime
	if start.IsZero() {
		start = time.Now()
	}
	t.record(ctx, traceStart{name: QueryName(d.SQL), start: start, args: d.Args}, d.CommandTag.RowsAffected(), d.Err)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *Tracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traceStart{name: "COPY " + d.TableName.Sanitize(), start: time.Now()})
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	if s, ok := ctx.Value(traceKey{}).(traceStart); ok {
		t.record(ctx, s, d.CommandTag.RowsAffected(), d.Err)
	}
}

func (t *Tracer) record(ctx context.Context, s traceStart, rows int64, err error) {
	d := time.Since(s.start)
	st := t.statsFor(s.name)
	st.count.Add(1)
	st.rows.Add(rows)
	st.totalNs.Add(int64(d))
	for {
		cur := st.maxNs.Load()
		if int64(d) <= cur || st.maxNs.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
	i, _ := slices.BinarySearch(t.cfg.Buckets, d)
	st.buckets[i].Add(1)
	if err != nil && !IsNotFound(err) {
		st.errors.Add(1)
	}
	reqctx.From(ctx).AddQuery(d)
	if t.cfg.SlowThreshold < 0 || d < t.cfg.SlowThreshold {
		return
	}
	sq := SlowQuery{Time: time.Now(), Query: s.name, Duration: d, Rows: rows, RequestID: reqctx.RequestID(ctx)}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		sq.TraceID = sc.TraceID().String()
	}
	if err != nil {
		sq.Error = t.errorText(err)
	}
	t.keepSlow(sq)
	if t.cfg.Logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("query", s.name),
		slog.Duration("duration", d),
		slog.Int64("rows", rows),
	}
	if sq.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", sq.RequestID))
	}
	if sq.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", sq.TraceID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", sq.Error))
	}
	if t.cfg.LogArgs {
		attrs = append(attrs, slog.Any("args", s.args))
	}
	t.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "postgres: slow query", attrs...)
}

func (t *Tracer) keepSlow(sq SlowQuery) {
	if t.cfg.SlowKeep < 0 {
		return
	}
	t.slowMu.Lock()
	if len(t.slow) < t.cfg.SlowKeep {
		t.slow = append(t.slow, sq)
	} else {
		t.slow[t.slowN%t.cfg.SlowKeep] = sq
	}
	t.slowN++
	t.slowMu.Unlock()
}

// SlowQueries returns the most recent slow queries (up to SlowKeep), newest
// first, and how many slow queries were seen in all.
func (t *Tracer) SlowQueries() ([]SlowQuery, int) {
	t.slowMu.Lock()
	defer t.slowMu.Unlock()
	out := make([]SlowQuery, 0, len(t.slow))
	for i := 1; i <= len(t.slow); i++ {
		out = append(out, t.slow[((t.slowN-i)%len(t.slow)+len(t.slow))%len(t.slow)])
	}
	return out, t.slowN
}

// errorText describes err for a log record. PostgreSQL quotes rejected
// input in its messages (invalid input value for enum ...: "secret"), so
// unless argument logging is on only the SQLSTATE and constraint are logged.
func (t *Tracer) errorText(err error) string {
	var pe *pgconn.PgError
	if t.cfg.LogArgs || !errors.As(err, &pe) {
		return err.Error()
	}
	if pe.ConstraintName != "" {
		return "SQLSTATE " + pe.Code + " (constraint " + pe.ConstraintName + ")"
	}
	return "SQLSTATE " + pe.Code
}

func (t *Tracer) statsFor(name string) *queryStats {
	t.mu.RLock()
	s := t.stats[name]
	t.mu.RUnlock()
	if s != nil {
		return s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s = t.stats[name]; s == nil {
		s = &queryStats{buckets: make([]atomic.Int64, len(t.cfg.Buckets)+1)}
		t.stats[name] = s
	}
	return s
}

// QueryName extracts sqlc's query name from the "-- name: X :kind" line that
// starts its SQL; for other SQL it returns the upper-cased first keyword.
func QueryName(sql string) string {
	s := strings.TrimSpace(sql)
	if rest, ok := strings.CutPrefix(s, "-- name:"); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			return f[0]
		}
	}
	for strings.HasPrefix(s, "--") {
		_, s, _ = strings.Cut(s, "\n")
		s = strings.TrimSpace(s)
	}
	if f := strings.Fields(s); len(f) > 0 {
		return strings.ToUpper(strings.TrimRight(f[0], ";("))
	}
	return "EMPTY"
}
