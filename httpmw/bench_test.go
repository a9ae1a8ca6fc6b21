package httpmw_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agentical/datalayer/httpmw"
)

// BenchmarkMiddleware compares a bare handler with the same handler behind
// New (request ID, accounting, Server-Timing, access log to a discarding
// JSON handler).
func BenchmarkMiddleware(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set("X-Request-ID", "bench-request-1")
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, h) })
	b.Run("middleware", func(b *testing.B) {
		run(b, httpmw.New(httpmw.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})(h))
	})
	b.Run("middleware-nolog", func(b *testing.B) { run(b, httpmw.New(httpmw.Config{})(h)) })
}
