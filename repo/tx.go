package repo

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/resilience"
)

// Tx collects the invalidations of writes made inside one database
// transaction. Apply them with Committed after the transaction commits; a
// rolled-back transaction's Tx is simply dropped.
type Tx struct {
	rt   *Runtime
	mu   sync.Mutex
	invs []invalidation
	done bool
}

// NewTx starts collecting for a new transaction.
func (rt *Runtime) NewTx() *Tx { return &Tx{rt: rt} }

func (t *Tx) add(inv invalidation) {
	t.mu.Lock()
	t.invs = append(t.invs, inv)
	t.mu.Unlock()
}

// Pending reports how many write statements' invalidations are waiting.
func (t *Tx) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.invs)
}

// Committed applies the collected invalidations once; later calls do
// nothing. Failures are retried and reported by the cache layer and
// returned here as well.
func (t *Tx) Committed(ctx context.Context) error {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return nil
	}
	t.done = true
	invs := t.invs
	t.invs = nil
	t.mu.Unlock()
	if len(invs) == 0 {
		return nil
	}
	merged := mergeInvalidations(invs)
	return t.rt.apply(ctx, merged)
}

// Batch returns a DBTX for a :batch* method: sqlc runs the batch lazily,
// so invalidation happens when the results are closed (after the last
// statement ran). Batches are not retried (the caller consumes their
// results one by one) and their failures do not feed the breaker, but an
// open breaker rejects them at once with an error matching
// resilience.ErrOpen.
func (rt *Runtime) Batch(tx *Tx, m *Method, conn DBTX) DBTX {
	return batchConn{DBTX: conn, rt: rt, tx: tx, m: m}
}

type batchConn struct {
	DBTX
	rt *Runtime
	tx *Tx
	m  *Method
}

func (b batchConn) SendBatch(ctx context.Context, batch *pgx.Batch) pgx.BatchResults {
	if b.rt.policies.State() == resilience.Open {
		return failedBatch{&resilience.OpenError{}}
	}
	return &batchResults{BatchResults: b.DBTX.SendBatch(ctx, batch), ctx: ctx, c: b}
}

type batchResults struct {
	pgx.BatchResults
	ctx  context.Context
	c    batchConn
	once sync.Once
}

func (r *batchResults) Close() error {
	err := r.BatchResults.Close()
	r.once.Do(func() {
		inv := r.c.rt.invalidation(r.c.m, nil, nil)
		if r.c.tx != nil {
			r.c.tx.add(inv)
			return
		}
		_ = r.c.rt.apply(context.WithoutCancel(r.ctx), inv)
	})
	return err
}

// failedBatch answers every result of a batch that was never sent.
type failedBatch struct{ err error }

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return failedRow(f) }
func (f failedBatch) Close() error                     { return f.err }
func (f failedBatch) Tx() pgx.Tx                       { return nil }

type failedRow struct{ err error }

func (r failedRow) Scan(...any) error { return r.err }
