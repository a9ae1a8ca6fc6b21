package debugpage

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
)

// Config says what the page shows. Every source is optional; the page leaves
// out what it is not given.
type Config struct {
	// Title heads the page. Default "datalayer".
	Title string
	// Runtime gives per-method statistics, the database circuit breaker and,
	// through its cache, pending invalidations and the Redis breaker.
	Runtime *repo.Runtime
	// Pool gives connection-pool usage.
	Pool *pgxpool.Pool
	// Tracer gives the recent slow queries.
	Tracer *postgres.Tracer
	// Refresh is how often the page reloads its data. Default 2s.
	Refresh time.Duration
	// SlowQueries is how many recent slow queries are shown. Default 20.
	SlowQueries int
}

// Snapshot is what the page shows, and the JSON of ?format=json.
type Snapshot struct {
	Title                string      `json:"title"`
	Time                 time.Time   `json:"time"`
	Methods              []Method    `json:"methods"`
	Breakers             []Breaker   `json:"breakers"`
	Pool                 *Pool       `json:"pool,omitempty"`
	PendingInvalidations *int        `json:"pending_invalidations,omitempty"`
	SlowQueries          []SlowQuery `json:"slow_queries"`
	SlowTotal            int         `json:"slow_total"`
	RefreshMillis        int64       `json:"refresh_ms"`
}

// Method is one repository method's counters.
type Method struct {
	Name     string   `json:"name"`
	Calls    int64    `json:"calls"`
	Errors   int64    `json:"errors"`
	Hits     int64    `json:"hits"`
	Misses   int64    `json:"misses"`
	HitRatio *float64 `json:"hit_ratio,omitempty"` // nil for uncached methods
	P50Ms    float64  `json:"p50_ms"`
	P99Ms    float64  `json:"p99_ms"`
}

// Breaker is one circuit breaker's state.
type Breaker struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Pool is connection-pool usage.
type Pool struct {
	Total, Idle, Acquired, Max int32
	Acquires, EmptyAcquires    int64
	AvgAcquireMs               float64
	UsagePercent               float64
}

// SlowQuery is one recent slow query.
type SlowQuery struct {
	Time       time.Time `json:"time"`
	Query      string    `json:"query"`
	DurationMs float64   `json:"duration_ms"`
	Rows       int64     `json:"rows"`
	Error      string    `json:"error,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	TraceID    string    `json:"trace_id,omitempty"`
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Collect reads the sources now.
func (c Config) Collect() Snapshot {
	c = c.withDefaults()
	s := Snapshot{Title: c.Title, Time: time.Now(), RefreshMillis: c.Refresh.Milliseconds(), Methods: []Method{}, Breakers: []Breaker{}, SlowQueries: []SlowQuery{}}
	if rt := c.Runtime; rt != nil {
		for _, m := range rt.Stats() {
			mm := Method{Name: m.Name, Calls: m.Calls, Errors: m.Errors, Hits: m.Hits, Misses: m.Misses, P50Ms: msOf(m.P50), P99Ms: msOf(m.P99)}
			if m.Hits+m.Misses > 0 {
				r := m.HitRatio()
				mm.HitRatio = &r
			}
			s.Methods = append(s.Methods, mm)
		}
		s.Breakers = append(s.Breakers, Breaker{Name: "postgres", State: rt.Policies().State().String()})
		if ch := rt.Cache(); ch != nil {
			s.Breakers = append(s.Breakers, Breaker{Name: "redis", State: ch.RedisState().String()})
			n := ch.Pending()
			s.PendingInvalidations = &n
		}
	}
	if c.Pool != nil {
		st := postgres.Stats(c.Pool)
		p := &Pool{Total: st.TotalConns, Idle: st.IdleConns, Acquired: st.AcquiredConns, Max: st.MaxConns,
			Acquires: st.AcquireCount, EmptyAcquires: st.EmptyAcquireCount}
		if st.AcquireCount > 0 {
			p.AvgAcquireMs = msOf(st.AcquireDuration / time.Duration(st.AcquireCount))
		}
		if st.MaxConns > 0 {
			p.UsagePercent = 100 * float64(st.AcquiredConns) / float64(st.MaxConns)
		}
		s.Pool = p
	}
	if c.Tracer != nil {
		slow, total := c.Tracer.SlowQueries()
		s.SlowTotal = total
		for i, q := range slow {
			if i >= c.SlowQueries {
				break
			}
			s.SlowQueries = append(s.SlowQueries, SlowQuery{Time: q.Time, Query: q.Query, DurationMs: msOf(q.Duration),
				Rows: q.Rows, Error: q.Error, RequestID: q.RequestID, TraceID: q.TraceID})
		}
	}
	return s
}

func (c Config) withDefaults() Config {
	if c.Title == "" {
		c.Title = "datalayer"
	}
	if c.Refresh <= 0 {
		c.Refresh = 2 * time.Second
	}
	if c.SlowQueries <= 0 {
		c.SlowQueries = 20
	}
	return c
}

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct":    func(f float64) string { return formatFloat(100*f, 1) + "%" },
	"ms":     func(f float64) string { return formatFloat(f, 2) },
	"clock":  func(t time.Time) string { return t.Format("15:04:05") },
	"derefF": func(p *float64) float64 { return *p },
	"derefI": func(p *int) int { return *p },
}).Parse(pageHTML))

// Handler serves the page (GET), the JSON snapshot (?format=json) and the
// page's refreshed body (?fragment=1, used by its script). It works under
// any path and with any router.
func Handler(cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		snap := cfg.Collect()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		q := r.URL.Query()
		if q.Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(snap)
			return
		}
		name := "page"
		if q.Get("fragment") != "" {
			name = "body"
		}
		var buf bytes.Buffer
		if err := page.ExecuteTemplate(&buf, name, snap); err != nil {
			http.Error(w, "debugpage: render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
		_, _ = w.Write(buf.Bytes())
	})
}

func formatFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
