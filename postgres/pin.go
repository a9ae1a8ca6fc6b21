package postgres

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
)

type txKey struct{}

// ContextWithTx returns ctx marked as running inside tx. InTx does this for
// its function; code that begins transactions itself can do the same so that
// audited repository writes (-- @audit) record themselves in tx.
func ContextWithTx(ctx context.Context, tx pgx.Tx) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFromContext returns the transaction ctx runs in (ContextWithTx), or nil.
func TxFromContext(ctx context.Context) pgx.Tx {
	tx, _ := ctx.Value(txKey{}).(pgx.Tx)
	return tx
}

type pinKey struct{}

// Pin is a transaction begun lazily for the statements run under one
// context (PinTx): the first statement through a Translate wrapper begins it
// on that wrapper's pool, and later statements join it. The caller then adds
// its own statements through Tx and ends it with Commit or Rollback. This is
// how the repositories put an autocommit write and its audit record into one
// transaction without changing the generated call.
type Pin struct {
	mu sync.Mutex
	tx pgx.Tx
}

// ErrNotBeginner is returned by a pinned statement whose connection cannot
// begin a transaction (it is already one: use ContextWithTx instead).
var ErrNotBeginner = errors.New("postgres: pinned statement on a connection that cannot begin a transaction")

// PinTx returns a context under which statements run through Translate share
// one transaction, begun at the first of them, and the Pin to end it.
func PinTx(ctx context.Context) (context.Context, *Pin) {
	p := &Pin{}
	return context.WithValue(ctx, pinKey{}, p), p
}

func pinFrom(ctx context.Context) *Pin {
	p, _ := ctx.Value(pinKey{}).(*Pin)
	return p
}

func (p *Pin) begin(ctx context.Context, d DBTX) (DBTX, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tx != nil {
		return p.tx, nil
	}
	b, ok := d.(TxBeginner)
	if !ok {
		return nil, ErrNotBeginner
	}
	tx, err := b.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, err
	}
	p.tx = tx
	return tx, nil
}

// Tx returns the pinned transaction, or nil when no statement began it.
func (p *Pin) Tx() pgx.Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tx
}

// Commit commits the pinned transaction (a no-op when none began).
func (p *Pin) Commit(ctx context.Context) error {
	if tx := p.Tx(); tx != nil {
		return TranslateError(tx.Commit(ctx))
	}
	return nil
}

// Rollback rolls the pinned transaction back (a no-op when none began).
func (p *Pin) Rollback(ctx context.Context) error {
	if tx := p.Tx(); tx != nil {
		return tx.Rollback(ctx)
	}
	return nil
}
