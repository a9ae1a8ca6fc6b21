package httpmw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/reqctx"
)

// TxRepository is what every generated repository (db.Repository and any
// other sqlc project's) offers: its transaction-bound form.
type TxRepository[R any] interface {
	WithTx(tx pgx.Tx) (R, *repo.Tx)
}

// TxConfig configures Transactional.
type TxConfig struct {
	// DB starts the transactions: the pool the repository was built on.
	// Required.
	DB postgres.TxBeginner
	// Options are the transaction's options (isolation level, how often a
	// serialization failure or deadlock reruns the handler: default 5
	// attempts). See postgres.InTx.
	Options postgres.TxOptions
	// BeginTimeout bounds waiting for a connection and BEGIN. When it runs
	// out the handler is not called and the client gets 503 with
	// Retry-After (ErrPoolExhausted) instead of waiting for its own
	// timeout. Default 0: only the request's context bounds it.
	BeginTimeout time.Duration
	// Logger receives handler panics and failed commits. Default: the
	// logger of the New middleware, if any.
	Logger *slog.Logger
}

// TxHandlerFunc is a handler that may fail: a non-nil error rolls the
// transaction back and is answered with WriteError.
type TxHandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts an http.Handler (which cannot return errors) to
// TxHandlerFunc.
func Handle(h http.Handler) TxHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error { h.ServeHTTP(w, r); return nil }
}

type repoKey struct{}

// Repo returns the transaction-bound repository of a Transactional handler's
// request context. It panics when ctx has none or one of another type: a
// wiring mistake, not a runtime condition.
func Repo[R any](ctx context.Context) R {
	r, ok := ctx.Value(repoKey{}).(R)
	if !ok {
		panic(fmt.Sprintf("httpmw: no transaction-bound %T in the context (handler not wrapped by Transactional?)", r))
	}
	return r
}

// attempt is one run of a transactional handler; WriteError records the
// error it answered here.
type attempt struct{ err error }

type attemptKey struct{}

// errRollbackStatus rolls back a transaction whose handler answered >= 400.
var errRollbackStatus = errors.New("httpmw: handler answered an error status")

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("httpmw: handler panic: %v", p.value) }

// Transactional runs h inside a database transaction with a
// transaction-bound repository in its request context (get it with Repo).
//
// The response is buffered and sent only after the transaction committed,
// so a client never receives a success for work that did not commit:
//
//   - h returns nil and answered below 400 (or not at all: 200): commit,
//     apply the cache invalidations of its writes, then send the response;
//   - h answered 400 or more: roll back and send what h wrote (a client or
//     server error means the request was not carried out, so neither are
//     its writes);
//   - h returned an error: roll back and answer it with WriteError (what h
//     wrote is discarded);
//   - h panicked: roll back, log it with the stack and answer 500
//     (http.ErrAbortHandler is re-raised after the rollback);
//   - a serialization failure or deadlock (40001, 40P01), whether returned
//     by h, answered with WriteError or raised by COMMIT, reruns h in a new
//     transaction with a fresh buffer: safe, since nothing was sent. After
//     TxConfig.Options.MaxAttempts the client gets 503 with Retry-After.
//
// Cache invalidations of the transaction's writes are applied after COMMIT
// and before the response is sent, so the client's next read sees its
// write; a rolled-back attempt invalidates nothing. Flushing inside h does
// nothing: the response is sent whole.
func Transactional[R TxRepository[R]](repository R, cfg TxConfig, h TxHandlerFunc) http.Handler {
	if cfg.DB == nil {
		panic("httpmw: Transactional: TxConfig.DB is nil")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		logger := cfg.Logger
		if st, ok := ctx.Value(stateKey{}).(*state); ok && logger == nil {
			logger = st.logger
		}
		var (
			buf     *bufferWriter
			pending *repo.Tx
		)
		begin := cfg.DB
		if cfg.BeginTimeout > 0 {
			begin = timedBegin{cfg.DB, cfg.BeginTimeout}
		}
		err := postgres.InTx(ctx, begin, cfg.Options, func(ctx context.Context, tx pgx.Tx) (err error) {
			txRepo, t := repository.WithTx(tx)
			pending = t
			buf = newBufferWriter()
			a := &attempt{}
			ctx = context.WithValue(context.WithValue(ctx, repoKey{}, txRepo), attemptKey{}, a)
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						_ = tx.Rollback(context.WithoutCancel(ctx))
						panic(p)
					}
					err = &panicError{value: p, stack: debug.Stack()}
				}
			}()
			if err := h(buf, r.WithContext(ctx)); err != nil {
				return err
			}
			if a.err != nil && postgres.IsSerializationFailure(a.err) {
				return a.err // answered, but rerunning can succeed
			}
			if buf.status >= 400 {
				return errRollbackStatus
			}
			return nil
		})
		var pe *panicError
		switch {
		case err == nil:
			// Committed. Failed invalidations stay pending in the cache,
			// which retries them and bypasses the affected entries.
			_ = pending.Committed(ctx)
			buf.sendTo(w)
		case errors.Is(err, errRollbackStatus):
			buf.sendTo(w)
		case errors.As(err, &pe):
			if logger != nil {
				logger.LogAttrs(ctx, slog.LevelError, "httpmw: handler panicked; transaction rolled back",
					slog.Any("panic", pe.value), slog.String("stack", string(pe.stack)), slog.String("request_id", reqctx.RequestID(ctx)))
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = fmt.Fprintf(w, "{\"error\":%q,\"request_id\":%q}\n", "Internal Server Error", reqctx.RequestID(ctx))
		default:
			WriteError(w, r, err)
		}
	})
}

// timedBegin bounds acquiring a connection and BEGIN.
type timedBegin struct {
	db      postgres.TxBeginner
	timeout time.Duration
}

func (b timedBegin) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	bctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	tx, err := b.db.BeginTx(bctx, opts)
	if err != nil && ctx.Err() == nil && bctx.Err() != nil {
		return nil, fmt.Errorf("%w within %v: %w", ErrPoolExhausted, b.timeout, err)
	}
	return tx, err
}

// bufferWriter holds a response until the transaction's outcome is known.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferWriter() *bufferWriter { return &bufferWriter{header: http.Header{}} }

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// Flush does nothing: the response is sent after the transaction.
func (b *bufferWriter) Flush() {}

func (b *bufferWriter) sendTo(w http.ResponseWriter) {
	dst := w.Header()
	for k, v := range b.header {
		dst[k] = v
	}
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.body.Bytes())
}
