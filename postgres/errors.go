package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinels for errors.Is. Errors returned through Translate (or the
// generated repositories) match one of these when the database reported the
// corresponding condition; the original driver error stays reachable through
// errors.As (for *pgconn.PgError) and errors.Is (for pgx.ErrNoRows).
var (
	ErrNotFound   = errors.New("postgres: not found")
	ErrConflict   = errors.New("postgres: conflict")
	ErrForeignKey = errors.New("postgres: foreign key violation")
	ErrCheck      = errors.New("postgres: check violation")
	ErrNotNull    = errors.New("postgres: not-null violation")
)

// ConstraintError reports a violated constraint. Its message names the
// constraint and table but never the offending values, which PostgreSQL
// puts in Detail and which may be personal data.
type ConstraintError struct {
	Kind       error  // one of ErrConflict, ErrForeignKey, ErrCheck, ErrNotNull
	Constraint string // constraint name, e.g. "users_email_key"
	Table      string
	Column     string // set for not-null violations
	Err        *pgconn.PgError
}

func (e *ConstraintError) Error() string {
	name := e.Constraint
	if name == "" {
		name = e.Column
	}
	return fmt.Sprintf("%s: %s on table %s (SQLSTATE %s)", e.Kind, name, e.Table, e.Err.Code)
}

// Is matches the kind sentinel.
func (e *ConstraintError) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the driver's error.
func (e *ConstraintError) Unwrap() error { return e.Err }

// notFoundError keeps pgx.ErrNoRows reachable while matching ErrNotFound.
type notFoundError struct{ err error }

func (e notFoundError) Error() string        { return ErrNotFound.Error() }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }
func (e notFoundError) Unwrap() error        { return e.err }

// TranslateError maps driver errors to this package's errors and returns
// everything else unchanged. It is idempotent.
func TranslateError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return notFoundError{err}
	}
	var ce *ConstraintError
	if errors.As(err, &ce) {
		return err
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	var kind error
	switch pe.Code {
	case "23505":
		kind = ErrConflict
	case "23503":
		kind = ErrForeignKey
	case "23514":
		kind = ErrCheck
	case "23502":
		kind = ErrNotNull
	default:
		return err
	}
	return &ConstraintError{Kind: kind, Constraint: pe.ConstraintName, Table: pe.TableName, Column: pe.ColumnName, Err: pe}
}

// IsNotFound reports whether err means no row matched.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) || errors.Is(err, pgx.ErrNoRows) }

// IsConflict reports whether err is a unique violation.
func IsConflict(err error) bool { return errors.Is(TranslateError(err), ErrConflict) }

// ConstraintName returns the violated constraint's name, or "".
func ConstraintName(err error) string {
	var ce *ConstraintError
	if errors.As(TranslateError(err), &ce) {
		return ce.Constraint
	}
	return ""
}

// Translate wraps d so that every error the generated queries return is
// already translated (see TranslateError).
func Translate(d DBTX) DBTX {
	if t, ok := d.(translating); ok {
		return t
	}
	return translating{d}
}

type translating struct{ d DBTX }

// on returns where a statement under ctx runs: the pinned transaction of
// PinTx (begun on t.d at the first statement), else t.d.
func (t translating) on(ctx context.Context) (DBTX, error) {
	if p := pinFrom(ctx); p != nil {
		return p.begin(ctx, t.d)
	}
	return t.d, nil
}

func (t translating) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	d, err := t.on(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := d.Exec(ctx, sql, args...)
	return tag, TranslateError(err)
}

func (t translating) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	d, err := t.on(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := d.Query(ctx, sql, args...)
	if err != nil {
		return nil, TranslateError(err)
	}
	return translatedRows{rows}, nil
}

func (t translating) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	d, err := t.on(ctx)
	if err != nil {
		return errRow{err}
	}
	return translatedRow{d.QueryRow(ctx, sql, args...)}
}

func (t translating) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	d, err := t.on(ctx)
	if err != nil {
		return 0, err
	}
	n, err := d.CopyFrom(ctx, table, cols, src)
	return n, TranslateError(err)
}

func (t translating) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	d, err := t.on(ctx)
	if err != nil {
		return errBatch{err}
	}
	return translatedBatch{d.SendBatch(ctx, b)}
}

type translatedRow struct{ r pgx.Row }

func (r translatedRow) Scan(dest ...any) error { return TranslateError(r.r.Scan(dest...)) }

type translatedRows struct{ pgx.Rows }

func (r translatedRows) Err() error             { return TranslateError(r.Rows.Err()) }
func (r translatedRows) Scan(dest ...any) error { return TranslateError(r.Rows.Scan(dest...)) }

// translatedBatch embeds the results so methods added to pgx.BatchResults
// later pass through untouched.
type translatedBatch struct{ pgx.BatchResults }

func (b translatedBatch) Exec() (pgconn.CommandTag, error) {
	tag, err := b.BatchResults.Exec()
	return tag, TranslateError(err)
}

func (b translatedBatch) Query() (pgx.Rows, error) {
	rows, err := b.BatchResults.Query()
	if err != nil {
		return nil, TranslateError(err)
	}
	return translatedRows{rows}, nil
}

func (b translatedBatch) QueryRow() pgx.Row { return translatedRow{b.BatchResults.QueryRow()} }
func (b translatedBatch) Close() error      { return TranslateError(b.BatchResults.Close()) }
