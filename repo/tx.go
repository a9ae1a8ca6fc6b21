package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/postgres"
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

// uncertain applies the collected invalidations of a transaction whose
// COMMIT was sent but whose outcome is unknown (see InTx).
func (t *Tx) uncertain(ctx context.Context) {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.done = true
	invs := t.invs
	t.invs = nil
	t.mu.Unlock()
	if len(invs) > 0 {
		_ = t.rt.applyUncertain(ctx, mergeInvalidations(invs))
	}
}

// InTx runs a transaction with postgres.InTx (whose retry rules apply:
// only serialization failures and deadlocks rerun fn) for a generated
// repository: fn runs the caller's work on tx and returns the Tx that
// collected its invalidations. They are applied after a successful commit,
// dropped when the transaction rolled back, and applied as uncertain (now
// and again later, see cache.Cache.InvalidateUncertain) when COMMIT was sent
// but failed without the server rejecting it (a deadline, a broken
// connection): the transaction may have committed.
//
// If the cache is closed when the invalidations should run, the error
// matches cache.ErrClosed although the transaction committed.
func InTx(ctx context.Context, rt *Runtime, db postgres.TxBeginner, opts postgres.TxOptions, fn func(ctx context.Context, tx pgx.Tx) (*Tx, error)) error {
	var last *Tx
	commitSent := false
	err := postgres.InTx(ctx, db, opts, func(ctx context.Context, tx pgx.Tx) error {
		t, err := fn(ctx, tx)
		last, commitSent = t, err == nil
		return err
	})
	if err != nil {
		if commitSent && last != nil && commitOutcomeUnknown(err) {
			last.uncertain(ctx)
		}
		return err
	}
	if last == nil {
		return nil
	}
	// A failed invalidation is retried and reported by the cache and must
	// not make the caller redo committed work; a closed cache cannot retry.
	if cerr := last.Committed(ctx); errors.Is(cerr, cache.ErrClosed) {
		return fmt.Errorf("repo: transaction committed but its cache invalidation could not run: %w", cerr)
	}
	return nil
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
		if aerr := r.c.rt.apply(context.WithoutCancel(r.ctx), inv); errors.Is(aerr, cache.ErrClosed) && err == nil {
			err = fmt.Errorf("repo: %s was written but its cache invalidation could not run: %w", r.c.m.Name, aerr)
		}
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
