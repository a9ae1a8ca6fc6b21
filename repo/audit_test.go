package repo_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
)

type auditRow struct {
	Actor  *string
	Method string
	Tables []string
	Keys   map[string][]map[string]any
}

func auditRows(t *testing.T, e *env) []auditRow {
	t.Helper()
	rows, err := e.Pool.Query(context.Background(), "SELECT actor, method, tables, keys FROM "+repo.AuditTable+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var out []auditRow
	for rows.Next() {
		var r auditRow
		var keys []byte
		if err := rows.Scan(&r.Actor, &r.Method, &r.Tables, &keys); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(keys, &r.Keys); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// -- @audit (issue 11): an audited write records actor, method, tables and
// keys in its own transaction; a rolled-back or failed write leaves no
// record, and a write whose record cannot be written does not happen.
func TestAuditedWrites(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := repo.WithActor(context.Background(), "alice@example.com")
	u := e.user(t)

	// Autocommit: the runtime opens the transaction.
	n, err := e.Repo.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleAdmin})
	affected(t, "UpdateUserRole", n, err, 1)
	rows := auditRows(t, e)
	if len(rows) != 1 {
		t.Fatalf("audit rows %+v, want 1", rows)
	}
	r := rows[0]
	if r.Actor == nil || *r.Actor != "alice@example.com" || r.Method != "UpdateUserRole" || len(r.Tables) != 1 || r.Tables[0] != "users" {
		t.Errorf("audit row %+v", r)
	}
	if ids := r.Keys["users"]; len(ids) != 1 || ids[0]["id"] != u.ID.String() {
		t.Errorf("audit keys %+v, want users.id %s", r.Keys, u.ID)
	}
	// Not audited: no record.
	if _, err := e.Repo.DeactivateUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}

	// Rolled back inside InTx: neither the write nor its record remain.
	errAbort := errors.New("abort")
	err = e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
		if _, err := r.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleViewer}); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("InTx: %v", err)
	}
	if rows := auditRows(t, e); len(rows) != 1 {
		t.Fatalf("a rolled-back write left an audit record: %+v", rows)
	}
	if got := must[db.User](t)(e.Raw.GetUser(ctx, u.ID)); got.Role != db.UserRoleAdmin {
		t.Fatalf("role %s after rollback", got.Role)
	}

	// Committed inside InTx: recorded once, without an actor when none is set.
	err = e.Repo.InTx(context.Background(), postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
		_, err := r.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleViewer})
		return err
	})
	noErr(t, err)
	rows = auditRows(t, e)
	if len(rows) != 2 || rows[1].Actor != nil || rows[1].Method != "UpdateUserRole" {
		t.Fatalf("audit rows after a committed InTx: %+v", rows)
	}

	// A transaction begun by hand without the context: refused, not run.
	tx, err := e.Pool.Begin(ctx)
	noErr(t, err)
	txr, _ := e.Repo.WithTx(tx)
	if _, err := txr.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleMember}); !errors.Is(err, repo.ErrAuditNoTx) {
		t.Errorf("audited write in a hand-made transaction: %v, want ErrAuditNoTx", err)
	}
	noErr(t, tx.Rollback(ctx))
	// ... and accepted with postgres.ContextWithTx.
	tx, err = e.Pool.Begin(ctx)
	noErr(t, err)
	txr, pending := e.Repo.WithTx(tx)
	n, err = txr.UpdateUserRole(postgres.ContextWithTx(ctx, tx), db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleMember})
	affected(t, "UpdateUserRole in ContextWithTx", n, err, 1)
	noErr(t, tx.Commit(ctx))
	noErr(t, pending.Committed(ctx))
	if rows := auditRows(t, e); len(rows) != 3 {
		t.Fatalf("audit rows %d, want 3", len(rows))
	}

	// The record shares the write's fate: without the audit table the write
	// fails and changes nothing.
	_, err = e.Pool.Exec(ctx, "ALTER TABLE "+repo.AuditTable+" RENAME TO audit_gone")
	noErr(t, err)
	if _, err := e.Repo.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: u.ID, Role: db.UserRoleAdmin}); err == nil {
		t.Fatal("audited write succeeded without its audit table")
	}
	if got := must[db.User](t)(e.Raw.GetUser(ctx, u.ID)); got.Role != db.UserRoleMember {
		t.Fatalf("role %s: the write was applied although its record failed", got.Role)
	}
}
