package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/postgres"
)

// Audited writes (-- @audit).
//
// A method whose query carries "-- @audit" (Method.Audit) records one row in
// AuditTable per successful call: the actor from the context (WithActor),
// the method, the tables it writes and the key values it names, and the
// time, in the SAME transaction as the write, so a rolled-back write leaves
// no record and a recorded write cannot be lost. Outside a transaction the
// runtime runs the statement in a transaction of its own (postgres.PinTx);
// inside one it needs the transaction in the context, which postgres.InTx
// and the generated InTx provide (postgres.ContextWithTx for transactions
// begun by hand).

// AuditTable is the table audit records go to. Its definition is in
// schema/08_datalayer_audit.sql; a project of its own needs the same table.
const AuditTable = "datalayer_audit"

// ErrAuditNoTx is returned by an audited method called in a transaction the
// runtime cannot reach (WithTx on a transaction begun by hand whose context
// lacks postgres.ContextWithTx): its audit record could not share the
// write's transaction, so the write is not run.
var ErrAuditNoTx = errors.New("repo: audited write inside a transaction the context does not carry (use InTx, or postgres.ContextWithTx)")

type actorKey struct{}

// WithActor returns ctx carrying the actor (a user id, a service name) that
// audited writes record.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor of ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// audited wraps a write's fn so that its audit record is written with it.
func audited[T any](inTx bool, m *Method, args []any, fn func(ctx context.Context) (T, error), returned func(T) []any) func(ctx context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		if inTx {
			tx := postgres.TxFromContext(ctx)
			if tx == nil {
				var zero T
				return zero, fmt.Errorf("%w: %s", ErrAuditNoTx, m.Name)
			}
			v, err := fn(ctx)
			if err != nil {
				return v, err
			}
			return v, recordAudit(ctx, tx, m, args, v, returned)
		}
		pctx, pin := postgres.PinTx(ctx)
		v, err := fn(pctx)
		if err != nil {
			_ = pin.Rollback(context.WithoutCancel(ctx))
			return v, err
		}
		tx := pin.Tx()
		if tx == nil {
			return v, fmt.Errorf("repo: audit %s: the statement did not run through postgres.Translate, so it cannot share a transaction with its record", m.Name)
		}
		if err := recordAudit(ctx, tx, m, args, v, returned); err != nil {
			_ = pin.Rollback(context.WithoutCancel(ctx))
			return v, err
		}
		return v, pin.Commit(ctx)
	}
}

// recordAudit inserts the audit row of one call of m in tx.
func recordAudit[T any](ctx context.Context, tx pgx.Tx, m *Method, args []any, v T, returned func(T) []any) error {
	var ret []any
	if returned != nil {
		ret = returned(v)
	}
	tables := []string{}
	keys := map[string][]map[string]any{}
	for _, e := range m.Effects {
		tables = append(tables, e.Table)
		add := func(src []any, refs []KeyRef) {
			for _, k := range refs {
				vals, ok := pick(src, k.Params)
				if !ok || len(vals) != len(k.Columns) {
					continue
				}
				row := map[string]any{}
				for i, c := range k.Columns {
					row[c] = vals[i]
				}
				keys[e.Table] = append(keys[e.Table], row)
			}
		}
		add(args, e.Keys)
		add(ret, e.Returned)
	}
	kj, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("repo: audit %s: encode keys: %w", m.Name, err)
	}
	var actor *string
	if a := ActorFrom(ctx); a != "" {
		actor = &a
	}
	_, err = tx.Exec(ctx, "INSERT INTO "+AuditTable+" (actor, method, tables, keys) VALUES ($1, $2, $3, $4)",
		actor, m.Name, tables, string(kj))
	if err != nil {
		return fmt.Errorf("repo: audit %s: %w", m.Name, err)
	}
	return nil
}
