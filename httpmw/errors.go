package httpmw

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/reqctx"
	"github.com/agentical/datalayer/resilience"
)

// ErrPoolExhausted is returned (wrapped) when a transactional handler found
// no free database connection within TxConfig.BeginTimeout. It is
// postgres.ErrPoolExhausted, which stores.DB returns too, so StatusOf maps
// both to 503.
var ErrPoolExhausted = postgres.ErrPoolExhausted

// StatusClientClosed is the status StatusOf gives a request whose client went
// away (nginx's 499); nobody receives it, it only reaches the access log.
const StatusClientClosed = 499

// StatusOf maps an error from the data layer to an HTTP status and, for 503,
// how long the client should wait before retrying (the Retry-After header):
//
//   - circuit breaker open (resilience.ErrOpen): 503, Retry-After the
//     breaker's remaining delay (at least 1s);
//   - no connection within the begin timeout (ErrPoolExhausted), a policy
//     timeout, the request's deadline, any other infrastructure failure
//     (resilience.IsInfrastructure: unreachable or overloaded server) and a
//     transaction that kept failing on serialization conflicts
//     (postgres.ErrTxAborted): 503, Retry-After 1s;
//   - not found: 404; unique violation: 409; foreign-key, check and not-null
//     violations: 422;
//   - the client going away (context.Canceled): 499;
//   - anything else: 500.
func StatusOf(err error) (status int, retryAfter time.Duration) {
	var open *resilience.OpenError
	switch {
	case err == nil:
		return http.StatusOK, 0
	case errors.As(err, &open):
		return http.StatusServiceUnavailable, max(open.Remaining, time.Second)
	case errors.Is(err, resilience.ErrOpen), errors.Is(err, ErrPoolExhausted), errors.Is(err, resilience.ErrTimeout),
		errors.Is(err, postgres.ErrTxAborted), errors.Is(err, context.DeadlineExceeded), resilience.IsInfrastructure(err):
		return http.StatusServiceUnavailable, time.Second
	case errors.Is(err, context.Canceled):
		return StatusClientClosed, 0
	case postgres.IsNotFound(err):
		return http.StatusNotFound, 0
	case errors.Is(err, postgres.ErrConflict):
		return http.StatusConflict, 0
	case errors.Is(err, postgres.ErrForeignKey), errors.Is(err, postgres.ErrCheck), errors.Is(err, postgres.ErrNotNull):
		return http.StatusUnprocessableEntity, 0
	}
	return http.StatusInternalServerError, 0
}

// logText describes err for a log record. PostgreSQL quotes rejected input
// in its messages, so for a server error only the SQLSTATE is logged (as the
// postgres tracer does).
func logText(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return "SQLSTATE " + pe.Code + " (" + resilience.Classify(err).String() + ")"
	}
	return err.Error()
}

// ErrorBody is the JSON WriteError sends.
type ErrorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// WriteError answers err with StatusOf's status (and Retry-After), a JSON
// ErrorBody and, for 5xx, an Error log record carrying the request ID. The
// body names the kind of failure but never the error's text for 5xx
// (internal details) nor constraint values for 4xx. Inside a Transactional
// handler it also tells the transaction why it failed, so a serialization
// failure the handler answered with WriteError still reruns the handler.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		a.err = err
	}
	status, retry := StatusOf(err)
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
	}
	msg := http.StatusText(status)
	switch {
	case status == StatusClientClosed:
		msg = "client closed request"
	case status < 500:
		if c := postgres.ConstraintName(err); c != "" {
			msg = "constraint violated: " + c
		}
	}
	if st, ok := ctx.Value(stateKey{}).(*state); ok && st.logger != nil && status >= 500 {
		st.logger.LogAttrs(ctx, slog.LevelError, "http: request failed",
			slog.Int("status", status), slog.String("error", logText(err)), slog.String("request_id", reqctx.RequestID(ctx)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: msg, RequestID: reqctx.RequestID(ctx)})
}
