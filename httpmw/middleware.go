package httpmw

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/agentical/datalayer/reqctx"
)

// Defaults for zero Config fields.
const (
	DefaultHeader      = "X-Request-ID"
	DefaultMaxIDLength = 128
)

// Config configures the middleware New returns. The zero value is valid.
type Config struct {
	// Logger receives one access-log record per request (Info, Error for
	// 5xx) and the error records of WriteError. Nil: no logging.
	Logger *slog.Logger
	// Header is the request-ID header read from requests and set on
	// responses. Default "X-Request-ID".
	Header string
	// MaxIDLength bounds an accepted incoming request ID (default 128). An
	// ID that is longer, empty, or has characters other than ASCII letters,
	// digits and "-_.:/+=" is replaced by a generated one.
	MaxIDLength int
	// NewID generates request IDs. Default: 16 random bytes, hex.
	NewID func() string
	// DisableServerTiming leaves the Server-Timing header out.
	DisableServerTiming bool
}

func (c *Config) setDefaults() {
	if c.Header == "" {
		c.Header = DefaultHeader
	}
	if c.MaxIDLength <= 0 {
		c.MaxIDLength = DefaultMaxIDLength
	}
	if c.NewID == nil {
		c.NewID = randomID
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidRequestID reports whether id may be accepted from a client: 1 to max
// bytes of ASCII letters, digits and "-_.:/+=". Anything else could forge
// log lines or headers.
func ValidRequestID(id string, max int) bool {
	if id == "" || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.:/+=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// state is what the middleware keeps per request.
type state struct {
	logger *slog.Logger
}

type stateKey struct{}

// New returns middleware that, for every request:
//   - takes the request ID from the header (when valid) or generates one,
//     puts it in the context (reqctx.RequestID) and in the response header;
//   - puts a reqctx.Stats in the context, which the postgres tracer and the
//     repository runtime fill with queries, database time, cache hits and
//     misses;
//   - adds a Server-Timing header when the response header is written, so
//     it covers the work done before the first byte (all of it for
//     Transactional handlers, which buffer): "db;dur=<ms>;desc="<n>
//     queries"", "cache;desc="<h> hits, <m> misses"", "total;dur=<ms>";
//   - logs one access-log line when the handler returns.
func New(cfg Config) func(http.Handler) http.Handler {
	cfg.setDefaults()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get(cfg.Header)
			if !ValidRequestID(id, cfg.MaxIDLength) {
				id = cfg.NewID()
			}
			ctx := reqctx.WithRequestID(r.Context(), id)
			ctx, stats := reqctx.WithStats(ctx)
			ctx = context.WithValue(ctx, stateKey{}, &state{logger: cfg.Logger})
			w.Header().Set(cfg.Header, id)
			rw := &responseWriter{ResponseWriter: w, start: start, stats: stats, timing: !cfg.DisableServerTiming}
			defer func() {
				p := recover()
				if cfg.Logger != nil {
					status := rw.status
					switch {
					case p != nil && status == 0:
						status = http.StatusInternalServerError
					case status == 0:
						status = http.StatusOK
					}
					s := stats.Snapshot()
					level := slog.LevelInfo
					if status >= 500 {
						level = slog.LevelError
					}
					cfg.Logger.LogAttrs(ctx, level, "http request",
						slog.String("method", r.Method),
						slog.String("path", r.URL.Path),
						slog.Int("status", status),
						slog.Int64("bytes", rw.bytes),
						slog.Duration("duration", time.Since(start)),
						slog.String("request_id", id),
						slog.Int64("queries", s.Queries),
						slog.Duration("db_time", s.DBTime),
						slog.Int64("cache_hits", s.CacheHits),
						slog.Int64("cache_misses", s.CacheMisses),
					)
				}
				if p != nil {
					panic(p)
				}
			}()
			next.ServeHTTP(rw, r.WithContext(ctx))
		})
	}
}

// ServerTiming formats a Server-Timing header value from s and the time
// since the request started.
func ServerTiming(s reqctx.Snapshot, total time.Duration) string {
	return fmt.Sprintf(`db;dur=%.3f;desc="%d queries", cache;desc="%d hits, %d misses", total;dur=%.3f`,
		ms(s.DBTime), s.Queries, s.CacheHits, s.CacheMisses, ms(total))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// responseWriter records status and size and adds Server-Timing when the
// header is written. It forwards Flush and exposes the original writer
// through Unwrap (http.ResponseController).
type responseWriter struct {
	http.ResponseWriter
	start  time.Time
	stats  *reqctx.Stats
	timing bool
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 {
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			w.ResponseWriter.WriteHeader(code) // informational: not the final header
			return
		}
		w.status = code
		if w.timing {
			w.Header().Set("Server-Timing", ServerTiming(w.stats.Snapshot(), time.Since(w.start)))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker when the wrapped writer does (WebSocket
// upgrades). The hijacked connection's traffic is not counted.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("httpmw: %T does not support hijacking", w.ResponseWriter)
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
