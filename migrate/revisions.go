package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
)

// RevisionsTable is the table name the Atlas CLI uses.
const RevisionsTable = "atlas_schema_revisions"

// cloudIdentifier is a row the Atlas CLI keeps in the same table; it is not a
// revision and is skipped when reading.
const cloudIdentifier = ".atlas_cloud_identifier"

// revisions implements the library's RevisionReadWriter on the Atlas CLI's
// table layout (the ent schema in cmd/atlas/internal/migrate/ent), so either
// tool can continue where the other stopped.
type revisions struct {
	conn   schema.ExecQuerier
	schema string
	// hashes maps versions to their current atlas.sum hash. The library
	// keeps the hash of a revision's first attempt; a failed file fixed and
	// retried must be recorded with the content that finally ran.
	hashes map[string]string
	// totals maps versions to their current statement count: the library
	// keeps the total of the first attempt, so a file fixed with an extra
	// statement and resumed recorded applied > total.
	totals map[string]int
}

var _ amigrate.RevisionReadWriter = (*revisions)(nil)

// ensureRevisions creates the revisions schema and table when missing.
func ensureRevisions(ctx context.Context, conn schema.ExecQuerier, sch string) error {
	q := quoteIdent(sch)
	for _, stmt := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + q,
		"CREATE TABLE IF NOT EXISTS " + q + "." + quoteIdent(RevisionsTable) + ` (
  "version" character varying NOT NULL,
  "description" character varying NOT NULL,
  "type" bigint NOT NULL DEFAULT 2,
  "applied" bigint NOT NULL DEFAULT 0,
  "total" bigint NOT NULL DEFAULT 0,
  "executed_at" timestamptz NOT NULL,
  "execution_time" bigint NOT NULL,
  "error" text NULL,
  "error_stmt" text NULL,
  "hash" character varying NOT NULL,
  "partial_hashes" jsonb NULL,
  "operator_version" character varying NOT NULL,
  PRIMARY KEY ("version")
)`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: create revisions table: %w", err)
		}
	}
	return nil
}

// revisionsExist reports whether the revisions table exists.
func revisionsExist(ctx context.Context, conn schema.ExecQuerier, sch string) (bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT to_regclass($1) IS NOT NULL", quoteIdent(sch)+"."+quoteIdent(RevisionsTable))
	if err != nil {
		return false, fmt.Errorf("migrate: look up revisions table: %w", err)
	}
	defer rows.Close()
	var ok bool
	if rows.Next() {
		if err := rows.Scan(&ok); err != nil {
			return false, err
		}
	}
	return ok, rows.Err()
}

func (r *revisions) table() string {
	return quoteIdent(r.schema) + "." + quoteIdent(RevisionsTable)
}

func (r *revisions) Ident() *amigrate.TableIdent {
	return &amigrate.TableIdent{Name: RevisionsTable, Schema: r.schema}
}

const revisionColumns = `"version", "description", "type", "applied", "total", "executed_at", "execution_time", "error", "error_stmt", "hash", "partial_hashes", "operator_version"`

func (r *revisions) ReadRevisions(ctx context.Context) ([]*amigrate.Revision, error) {
	return r.query(ctx, `SELECT `+revisionColumns+` FROM `+r.table()+` WHERE "version" <> $1 ORDER BY "version"`, cloudIdentifier)
}

func (r *revisions) ReadRevision(ctx context.Context, v string) (*amigrate.Revision, error) {
	revs, err := r.query(ctx, `SELECT `+revisionColumns+` FROM `+r.table()+` WHERE "version" = $1`, v)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, amigrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

func (r *revisions) query(ctx context.Context, q string, args ...any) ([]*amigrate.Revision, error) {
	rows, err := r.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("migrate: read revisions: %w", err)
	}
	defer rows.Close()
	var revs []*amigrate.Revision
	for rows.Next() {
		var (
			rev            amigrate.Revision
			typ            int64
			execTime       int64
			errText, errSt sql.NullString
			partial        []byte
		)
		if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &rev.ExecutedAt,
			&execTime, &errText, &errSt, &rev.Hash, &partial, &rev.OperatorVersion); err != nil {
			return nil, fmt.Errorf("migrate: scan revision: %w", err)
		}
		rev.Type = amigrate.RevisionType(typ)
		rev.ExecutionTime = time.Duration(execTime)
		rev.Error, rev.ErrorStmt = errText.String, errSt.String
		if len(partial) > 0 {
			if err := json.Unmarshal(partial, &rev.PartialHashes); err != nil {
				return nil, fmt.Errorf("migrate: decode partial_hashes of %s: %w", rev.Version, err)
			}
		}
		revs = append(revs, &rev)
	}
	return revs, rows.Err()
}

func (r *revisions) WriteRevision(ctx context.Context, rev *amigrate.Revision) error {
	if rev.Version == cloudIdentifier {
		return errors.New("migrate: refusing to write the revision-table identifier")
	}
	if h, ok := r.hashes[rev.Version]; ok && rev.Type != amigrate.RevisionTypeBaseline {
		rev.Hash = h
	}
	if n, ok := r.totals[rev.Version]; ok && rev.Type != amigrate.RevisionTypeBaseline {
		rev.Total = n
	}
	var partial any
	if rev.PartialHashes != nil {
		b, err := json.Marshal(rev.PartialHashes)
		if err != nil {
			return err
		}
		partial = string(b)
	}
	_, err := r.conn.ExecContext(ctx, `INSERT INTO `+r.table()+` (`+revisionColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ("version") DO UPDATE SET
  "type" = EXCLUDED."type", "applied" = EXCLUDED."applied", "total" = EXCLUDED."total",
  "execution_time" = EXCLUDED."execution_time", "error" = EXCLUDED."error",
  "error_stmt" = EXCLUDED."error_stmt", "hash" = EXCLUDED."hash",
  "partial_hashes" = EXCLUDED."partial_hashes", "operator_version" = EXCLUDED."operator_version"`,
		rev.Version, rev.Description, int64(rev.Type), rev.Applied, rev.Total, rev.ExecutedAt,
		int64(rev.ExecutionTime), nullString(rev.Error), nullString(rev.ErrorStmt), rev.Hash, partial, rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("migrate: write revision %s: %w", rev.Version, err)
	}
	return nil
}

func (r *revisions) DeleteRevision(ctx context.Context, v string) error {
	_, err := r.conn.ExecContext(ctx, `DELETE FROM `+r.table()+` WHERE "version" = $1`, v)
	return err
}

// currentHashes maps each file version of dir to its atlas.sum hash.
func currentHashes(dir amigrate.Dir) (map[string]string, error) {
	sum, err := dir.Checksum()
	if err != nil {
		return nil, fmt.Errorf("migrate: hash directory: %w", err)
	}
	m := make(map[string]string, len(sum))
	for _, e := range sum {
		m[amigrate.NewLocalFile(e.N, nil).Version()] = e.H
	}
	return m, nil
}

// currentTotals maps each file version of dir to its statement count.
func currentTotals(dir amigrate.Dir) (map[string]int, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	m := make(map[string]int, len(files))
	for _, f := range files {
		stmts, err := scanStmts(f)
		if err != nil {
			return nil, fmt.Errorf("migrate: scan %s: %w", f.Name(), err)
		}
		m[f.Version()] = len(stmts)
	}
	return m, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
