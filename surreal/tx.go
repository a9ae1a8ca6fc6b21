package surreal

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
	"github.com/surrealdb/surrealdb.go/pkg/models"
	"github.com/surrealdb/surrealdb.go/surrealcbor"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/resilience"
)

// Tx is an interactive transaction (SurrealDB 3 begin/commit/cancel) pinned
// to one connection. Pass it to the typed helpers. Not retried statement by
// statement: use Store.InTx to retry a whole transaction.
type Tx struct {
	s  *Store
	c  *conn
	id models.UUID

	mu   sync.Mutex
	done bool
	rows []cache.RowRef // records written, invalidated on commit
}

// Begin starts a transaction.
func (s *Store) Begin(ctx context.Context) (*Tx, error) {
	return resilience.Get(ctx, s.txEnd, s.begin)
}

func (s *Store) begin(ctx context.Context) (*Tx, error) {
	c, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := c.call(ctx, nil, "begin")
	if err != nil {
		return nil, err
	}
	var id models.UUID
	if err := s.codec.Unmarshal(raw, &id); err != nil {
		return nil, fmt.Errorf("surreal: begin: decode id: %w", err)
	}
	return &Tx{s: s, c: c, id: id}, nil
}

// Commit commits the transaction. A conflicting transaction fails with an
// error matching ErrConflict.
func (tx *Tx) Commit(ctx context.Context) error {
	err := tx.finish(ctx, "commit")
	if err == nil || !errors.Is(err, ErrTxDone) {
		// A failed commit may still have committed (lost reply): invalidate.
		tx.mu.Lock()
		rows := tx.rows
		tx.rows = nil
		tx.mu.Unlock()
		tx.s.invalidateRows(ctx, rows)
	}
	return err
}

// Rollback cancels the transaction. Rollback after Commit returns ErrTxDone,
// so `defer tx.Rollback(ctx)` is safe.
func (tx *Tx) Rollback(ctx context.Context) error { return tx.finish(ctx, "cancel") }

func (tx *Tx) finish(ctx context.Context, method string) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.done {
		return ErrTxDone
	}
	tx.done = true
	_, err := resilience.Get(ctx, tx.s.txStmt, func(ctx context.Context) (cbor.RawMessage, error) {
		return tx.c.call(ctx, nil, method, &tx.id)
	})
	return err
}

func (tx *Tx) rpc(ctx context.Context, _ bool, method string, params ...any) (cbor.RawMessage, error) {
	tx.mu.Lock()
	done := tx.done
	tx.mu.Unlock()
	if done {
		return nil, ErrTxDone
	}
	if err := tx.s.enter(ctx); err != nil {
		return nil, err
	}
	defer tx.s.leave()
	return resilience.Get(ctx, tx.s.txStmt, func(ctx context.Context) (cbor.RawMessage, error) {
		return tx.c.call(ctx, &tx.id, method, params...)
	})
}

func (tx *Tx) cbor() *surrealcbor.Codec { return tx.s.codec }

// InTx runs fn in a transaction and commits it; an error from fn (or a
// panic) cancels it. When the server reports a retryable transaction
// conflict, the whole function runs again (with a short
// randomised pause), up to Config.TxAttempts times, so fn must be safe to rerun. Infrastructure failures
// are handled by the store's Tx policy.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = s.inTx(ctx, fn)
		if err == nil || attempt >= s.cfg.TxAttempts || !retryableConflict(err) {
			return err
		}
		if !conflictPause(ctx, attempt) {
			return err
		}
	}
}

// retryableConflict reports a transaction the server rolled back because it
// conflicted with another ("... retry the transaction").
func retryableConflict(err error) bool { return ReasonOf(err) == ReasonTxConflict }

func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return resilience.Run(ctx, s.txEnd, func(ctx context.Context) (err error) {
		tx, err := s.begin(ctx)
		if err != nil {
			return err
		}
		defer func() {
			if p := recover(); p != nil {
				_ = tx.Rollback(context.WithoutCancel(ctx))
				panic(p)
			}
		}()
		if err := fn(ctx, tx); err != nil {
			if rbErr := tx.Rollback(context.WithoutCancel(ctx)); rbErr != nil && !errors.Is(rbErr, ErrTxDone) {
				return errors.Join(err, rbErr)
			}
			return err
		}
		return tx.Commit(ctx)
	})
}
