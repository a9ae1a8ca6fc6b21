package stores

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

	"github.com/agentical/datalayer/repo"
)

// gate is the repo.DB handed to repositories: the pool, with every acquire
// bounded by DB_POOL_TIMEOUT, operations in flight counted, and new ones
// refused once Close began.
type gate struct {
	pool    *pgxpool.Pool
	timeout time.Duration // acquire bound; 0: the caller's context only

	mu       sync.Mutex
	closed   bool
	inflight int
	idle     chan struct{} // closed when inflight drops to 0 after close
	n        atomic.Int64  // operations ever started (tests)
}

var _ repo.DB = (*gate)(nil)

func newGate(pool *pgxpool.Pool, timeout time.Duration) *gate {
	return &gate{pool: pool, timeout: timeout}
}

// enter registers one operation; it fails after close.
func (g *gate) enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.inflight++
	g.n.Add(1)
	return nil
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.closed && g.inflight == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// close refuses new operations and returns a channel closed once those in
// flight have finished, and how many were in flight.
func (g *gate) close() (<-chan struct{}, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	ch := make(chan struct{})
	if g.inflight == 0 {
		close(ch)
	} else {
		g.idle = ch
	}
	return ch, g.inflight
}

func (g *gate) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight
}

// acquire enters the gate and takes a connection, waiting at most the pool
// timeout. On success release must be called exactly once.
func (g *gate) acquire(ctx context.Context) (*pgxpool.Conn, func(), error) {
	if err := g.enter(); err != nil {
		return nil, nil, err
	}
	actx, cancel := ctx, context.CancelFunc(func() {})
	if g.timeout > 0 {
		actx, cancel = context.WithTimeout(ctx, g.timeout)
	}
	c, err := g.pool.Acquire(actx)
	// Read the bound's state before cancel, which would set it whatever
	// happened: only an acquire that ran out of the pool timeout while
	// every connection was taken is "exhausted". A failed dial keeps its
	// own error, so the breaker counts it as an infrastructure failure.
	timedOut := ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		g.leave()
		if timedOut && g.pool.Stat().TotalConns() >= g.pool.Config().MaxConns {
			return nil, nil, fmt.Errorf("%w (%s)", ErrPoolExhausted, g.timeout)
		}
		return nil, nil, err
	}
	var once sync.Once
	return c, func() { once.Do(func() { c.Release(); g.leave() }) }, nil
}

func (g *gate) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, release, err := g.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer release()
	return c.Exec(ctx, sql, args...)
}

func (g *gate) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, release, err := g.acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		release()
		return nil, err
	}
	return &gateRows{Rows: rows, release: release}, nil
}

func (g *gate) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, release, err := g.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return gateRow{row: c.QueryRow(ctx, sql, args...), release: release}
}

func (g *gate) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	c, release, err := g.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	return c.CopyFrom(ctx, table, cols, src)
}

func (g *gate) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c, release, err := g.acquire(ctx)
	if err != nil {
		return errBatch{err}
	}
	return &gateBatch{BatchResults: c.SendBatch(ctx, b), release: release}
}

func (g *gate) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	c, release, err := g.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.BeginTx(ctx, opts)
	if err != nil {
		release()
		return nil, err
	}
	return &gateTx{Tx: tx, release: release}, nil
}

// gateRows releases the connection when the rows are closed or exhausted,
// as pgxpool's own rows do.
type gateRows struct {
	pgx.Rows
	release func()
}

func (r *gateRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.release()
	return false
}

func (r *gateRows) Close() {
	r.Rows.Close()
	r.release()
}

type gateRow struct {
	row     pgx.Row
	release func()
}

func (r gateRow) Scan(dest ...any) error {
	defer r.release()
	return r.row.Scan(dest...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type gateBatch struct {
	pgx.BatchResults
	release func()
}

func (b *gateBatch) Close() error {
	err := b.BatchResults.Close()
	b.release()
	return err
}

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// gateTx releases the connection when the transaction ends. pgxpool's
// Release destroys a connection still in a transaction, so an abandoned
// Tx cannot leak one.
type gateTx struct {
	pgx.Tx
	release func()
}

func (t *gateTx) Commit(ctx context.Context) error {
	err := t.Tx.Commit(ctx)
	t.release()
	return err
}

func (t *gateTx) Rollback(ctx context.Context) error {
	err := t.Tx.Rollback(ctx)
	t.release() // idempotent: a rollback after commit is common (defer)
	return err
}
