package httpmw

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentical/datalayer/reqctx"
)

// LogHandler wraps h so that every record logged with a request's context
// carries request_id (package reqctx) and trace_id (OpenTelemetry), unless
// the record has them already. Give it to every logger of the data layer
// (cache, resilience, postgres tracer) so their error lines name the
// request they happened in.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	id := reqctx.RequestID(ctx)
	var traceID string
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		traceID = sc.TraceID().String()
	}
	if id != "" || traceID != "" {
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "request_id":
				id = ""
			case "trace_id":
				traceID = ""
			}
			return true
		})
		if id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
		if traceID != "" {
			r.AddAttrs(slog.String("trace_id", traceID))
		}
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(attrs)}
}

func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.Handler.WithGroup(name)} }
