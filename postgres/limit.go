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
	admit    Admission // nil: every call is admitted
}

// Admission gates every call of a BoundedPool: Enter runs before the
// acquire and an error from it refuses the call; Leave runs once the call's
// connection is back in the pool (or its acquire failed). A service uses it
// to count calls in flight and to refuse new work at shutdown.
type Admission interface {
	Enter() error
	Leave()
}

// Admit makes every later call pass through a. Call it before the pool is
// shared; it returns b.
func (b *BoundedPool) Admit(a Admission) *BoundedPool {
	b.admit = a
	return b
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

// conn is one admitted, acquired connection; release returns it once.
type conn struct {
	*pgxpool.Conn
	b    *BoundedPool
	once sync.Once
}

func (c *conn) release() {
	c.once.Do(func() {
		c.Conn.Release()
		if c.b.admit != nil {
			c.b.admit.Leave()
		}
	})
}

func (b *BoundedPool) acquire(ctx context.Context) (*conn, error) {
	if b.admit != nil {
		if err := b.admit.Enter(); err != nil {
			return nil, err
		}
	}
	c, err := b.acquireConn(ctx)
	if err != nil {
		if b.admit != nil {
			b.admit.Leave()
		}
		return nil, err
	}
	return &conn{Conn: c, b: b}, nil
}

func (b *BoundedPool) acquireConn(ctx context.Context) (*pgxpool.Conn, error) {
	if b.timeout <= 0 {
		return b.pool.Acquire(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	c, err := b.pool.Acquire(actx)
	// Only a wait that ran out while every connection was taken is
	// exhaustion; a dial that failed or hung keeps its own error, so the
	// breaker counts it as an infrastructure failure.
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) &&
		b.pool.Stat().TotalConns() >= b.pool.Config().MaxConns {
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
	defer c.release()
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
		c.release()
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
	defer c.release()
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
		c.release()
		return nil, err
	}
	return &releasingTx{Tx: tx, c: c}, nil
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
	defer c.release()
	return c.Ping(ctx)
}

type releasingRows struct {
	pgx.Rows
	c *conn
}

func (r *releasingRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Rows.Close()
	r.c.release()
	return false
}

func (r *releasingRows) Close() {
	r.Rows.Close()
	r.c.release()
}

type releasingRow struct {
	row pgx.Row
	c   *conn
}

func (r *releasingRow) Scan(dest ...any) error {
	defer r.c.release()
	return r.row.Scan(dest...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type releasingBatch struct {
	pgx.BatchResults
	c *conn
}

// Close releases the connection, unless the batch began a transaction: then
// the transaction's Commit or Rollback does (defer Rollback as usual).
func (b *releasingBatch) Close() error {
	err := b.BatchResults.Close()
	if b.BatchResults.Tx() == nil {
		b.c.release()
	}
	return err
}

func (b *releasingBatch) Tx() pgx.Tx {
	tx := b.BatchResults.Tx()
	if tx == nil {
		return nil
	}
	return &releasingTx{Tx: tx, c: b.c}
}

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// releasingTx returns the connection when the transaction ends. pgxpool's
// Release destroys a connection still in a transaction, so an abandoned Tx
// cannot leak one; a Rollback after Commit (defer) releases nothing twice.
type releasingTx struct {
	pgx.Tx
	c *conn
}

func (t *releasingTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.c.release()
	return err
}

func (t *releasingTx) Rollback(ctx context.Context) error {
	err := t.Tx.Rollback(ctx)
	t.c.release()
	return err
}
