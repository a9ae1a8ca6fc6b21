package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrPoolExhausted is matched (errors.Is) by the error of a call that found
// every pooled connection busy for the whole acquire timeout.
var ErrPoolExhausted = errors.New("postgres: pool exhausted")

// PoolExhaustedError is the concrete error behind ErrPoolExhausted.
type PoolExhaustedError struct {
	MaxConns int32         // the pool's limit
	Waited   time.Duration // the acquire timeout that ran out
}

func (e *PoolExhaustedError) Error() string {
	return fmt.Sprintf("postgres: pool exhausted: all %d connections stayed busy for %v (raise MaxConns or AcquireTimeout, or shorten transactions)", e.MaxConns, e.Waited)
}

// Is matches ErrPoolExhausted.
func (e *PoolExhaustedError) Is(target error) bool { return target == ErrPoolExhausted }

// BoundedPool is a pool whose callers wait at most an acquire timeout for a
// free connection and then fail with ErrPoolExhausted, instead of queueing
// until their own deadline (pgxpool has no acquire timeout). The statement
// itself still runs under the caller's context. It satisfies DBTX and the
// repositories' DB (BeginTx). Safe for concurrent use.
type BoundedPool struct {
	pool     *pgxpool.Pool
	timeout  time.Duration
	timeouts atomic.Int64
}

// Bounded wraps pool with acquireTimeout (<= 0 means no bound: wait for the
// caller's context, as pgxpool does).
func Bounded(pool *pgxpool.Pool, acquireTimeout time.Duration) *BoundedPool {
	return &BoundedPool{pool: pool, timeout: acquireTimeout}
}

// Pool returns the wrapped pool.
func (b *BoundedPool) Pool() *pgxpool.Pool { return b.pool }

// Stats reads the pool's counters, with AcquireTimeouts from this wrapper.
func (b *BoundedPool) Stats() PoolStats {
	s := Stats(b.pool)
	s.AcquireTimeouts = b.timeouts.Load()
	return s
}

func (b *BoundedPool) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if b.timeout <= 0 {
		return b.pool.Acquire(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	c, err := b.pool.Acquire(actx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		b.timeouts.Add(1)
		return nil, &PoolExhaustedError{MaxConns: b.pool.Config().MaxConns, Waited: b.timeout}
	}
	return c, err
}

// Exec runs sql on a pooled connection.
func (b *BoundedPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := b.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

// Query runs sql; the connection returns to the pool when the rows are
// closed or read to the end.
func (b *BoundedPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &releasingRows{Rows: rows, c: c}, nil
}

// QueryRow runs sql; the connection returns to the pool after Scan.
func (b *BoundedPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := b.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &releasingRow{row: c.QueryRow(ctx, sql, args...), c: c}
}

// CopyFrom runs COPY FROM on a pooled connection.
func (b *BoundedPool) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	c, err := b.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	return c.CopyFrom(ctx, table, cols, src)
}

// SendBatch sends b; the connection returns to the pool on Close.
func (b *BoundedPool) SendBatch(ctx context.Context, batch *pgx.Batch) pgx.BatchResults {
	c, err := b.acquire(ctx)
	if err != nil {
		return errBatch{err}
	}
	return &releasingBatch{BatchResults: c.SendBatch(ctx, batch), c: c}
}

// BeginTx starts a transaction; the connection returns to the pool on
// Commit or Rollback.
func (b *BoundedPool) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	c, err := b.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.BeginTx(ctx, opts)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &releasingTx{Tx: tx, c: c, once: new(sync.Once)}, nil
}

// Begin is BeginTx with default options.
func (b *BoundedPool) Begin(ctx context.Context) (pgx.Tx, error) {
	return b.BeginTx(ctx, pgx.TxOptions{})
}

// Ping checks a pooled connection.
func (b *BoundedPool) Ping(ctx context.Context) error {
	c, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return c.Ping(ctx)
}

type releasingRows struct {
	pgx.Rows
	c    *pgxpool.Conn
	once sync.Once
}

func (r *releasingRows) release() { r.once.Do(r.c.Release) }

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Rows.Close()
	r.release()
	return false
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	r.release()
}

type releasingRow struct {
	row pgx.Row
	c   *pgxpool.Conn
}

func (r *releasingRow) Scan(dest ...any) error {
	defer r.c.Release()
	return r.row.Scan(dest...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type releasingBatch struct {
	pgx.BatchResults
	c    *pgxpool.Conn
	once sync.Once
}

// Close releases the connection, unless the batch began a transaction: then
// the transaction's Commit or Rollback does (defer Rollback as usual).
func (b *releasingBatch) Close() error {
	err := b.BatchResults.Close()
	if b.BatchResults.Tx() == nil {
		b.once.Do(b.c.Release)
	}
	return err
}

func (b *releasingBatch) Tx() pgx.Tx {
	tx := b.BatchResults.Tx()
	if tx == nil {
		return nil
	}
	return &releasingTx{Tx: tx, c: b.c, once: &b.once}
}

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow{b.err} }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

type releasingTx struct {
	pgx.Tx
	c    *pgxpool.Conn
	once *sync.Once
}

func (t *releasingTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.once.Do(t.c.Release)
	return err
}

func (t *releasingTx) Rollback(ctx context.Context) error {
	err := t.Tx.Rollback(ctx)
	t.once.Do(t.c.Release)
	return err
}
