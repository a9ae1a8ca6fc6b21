package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TxBeginner starts transactions; *pgxpool.Pool and *pgx.Conn satisfy it.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// TxOptions controls InTx. The zero value runs one READ COMMITTED
// transaction with up to 5 attempts on serialization failures.
type TxOptions struct {
	pgx.TxOptions
	// MaxAttempts bounds how often the whole function runs when the database
	// aborts it with 40001 (serialization failure) or 40P01 (deadlock).
	// Default 5; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the first backoff; it doubles per attempt, with full
	// jitter, up to MaxDelay. Defaults 10ms and 500ms.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// OnRetry, when set, is called before each retry with the attempt that
	// failed (1-based) and its error.
	OnRetry func(attempt int, err error)
}

// ErrTxAborted wraps the last error when every attempt failed with a
// retryable serialization failure or deadlock.
var ErrTxAborted = errors.New("postgres: transaction aborted after retries")

// InTx runs fn inside a transaction and commits it. When the database
// aborts the transaction with a serialization failure or a deadlock (at any
// point, commit included) the whole of fn runs again in a new transaction
// after a backoff; fn must therefore have no side effects outside tx. Any
// other error rolls back and is returned at once, translated. fn's context
// carries tx (TxFromContext), which audited repository writes use.
func InTx(ctx context.Context, b TxBeginner, opts TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 10 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 500 * time.Millisecond
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = runTx(ctx, b, opts.TxOptions, fn)
		if err == nil || !IsSerializationFailure(err) {
			return TranslateError(err)
		}
		if attempt >= opts.MaxAttempts {
			return fmt.Errorf("%w (%d attempts): %w", ErrTxAborted, attempt, err)
		}
		if opts.OnRetry != nil {
			opts.OnRetry(attempt, err)
		}
		d := opts.BaseDelay << (attempt - 1)
		if d > opts.MaxDelay || d <= 0 {
			d = opts.MaxDelay
		}
		d = time.Duration(rand.Int64N(int64(d)) + 1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("postgres: transaction retry: %w (last error: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func runTx(ctx context.Context, b TxBeginner, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) (err error) {
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Rollback on a dead connection fails too; the original error matters.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(ContextWithTx(ctx, tx), tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// IsSerializationFailure reports whether err is SQLSTATE 40001 or 40P01,
// after which the whole transaction may be retried.
func IsSerializationFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
