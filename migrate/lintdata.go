package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// dataCheckTimeout bounds each data check on the target database.
const dataCheckTimeout = 30 * time.Second

// dataChecks runs the data-dependent checks of the statements on a real
// database, each in its own read-only transaction. Statements about tables
// the database does not have yet (created by pending files) are skipped.
func dataChecks(ctx context.Context, db *sql.DB, parsed []parsedStmt) []pgFinding {
	var out []pgFinding
	add := func(code string, pos int, table, text, fix string) {
		out = append(out, pgFinding{analyzer: AnalyzerData, code: code, pos: pos, text: text, fix: fix, table: table})
	}
	for _, p := range parsed {
		n, pos := p.node, p.stmt.Pos
		if n == nil {
			continue
		}
		if is := n.GetIndexStmt(); is != nil && is.Unique {
			rel := is.Relation.GetRelname()
			if cols := indexColumns(is.IndexParams); len(cols) > 0 {
				if k, err := count(ctx, db, fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1) d", quoteIdent(rel), notNullAll(cols), strings.Join(cols, ", "))); err == nil && k > 0 {
					add(CodeDataDuplicates, pos, rel, fmt.Sprintf("Unique index %q: %d value(s) of (%s) appear more than once in %q: the build fails", is.Idxname, k, strings.Join(cols, ", "), rel),
						"Remove the duplicates in an earlier file, or make the index non-unique")
				}
			}
			continue
		}
		at := n.GetAlterTableStmt()
		if at == nil {
			continue
		}
		rel := at.Relation.GetRelname()
		tq := quoteIdent(rel)
		for _, c := range at.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			cq := quoteIdent(cmd.Name)
			switch cmd.Subtype {
			case pg.AlterTableType_AT_SetNotNull:
				if k, err := count(ctx, db, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s IS NULL", tq, cq)); err == nil && k > 0 {
					add(CodeDataNulls, pos, rel, fmt.Sprintf("%d row(s) of %q have %q NULL: SET NOT NULL fails", k, rel, cmd.Name),
						fmt.Sprintf("UPDATE %s SET %s = ... WHERE %s IS NULL in an earlier file", tq, cq, cq))
				}
			case pg.AlterTableType_AT_AlterColumnType:
				cd := cmd.Def.GetColumnDef()
				if cd == nil {
					continue
				}
				typ := deparseType(cd.TypeName)
				if typeNameOf(cd.TypeName) == "varchar" && len(cd.TypeName.Typmods) == 1 {
					if limit := cd.TypeName.Typmods[0].GetAConst().GetIval().GetIval(); limit > 0 {
						if k, err := count(ctx, db, fmt.Sprintf("SELECT count(*) FROM %s WHERE length(%s::text) > %d", tq, cq, limit)); err == nil && k > 0 {
							add(CodeDataTooLong, pos, rel, fmt.Sprintf("%d value(s) of %q.%q are longer than %d characters: the change fails", k, rel, cmd.Name, limit),
								"Shorten the values in an earlier file, or keep the longer limit")
						}
						continue
					}
				}
				expr := cq + "::" + typ
				if cd.RawDefault != nil {
					expr = deparseExpr(cd.RawDefault)
				} else if e := typeNameOf(cd.TypeName); !strings.Contains(typ, "(") && !isBuiltinName(e) {
					expr = cq + "::" + deparseNames(cd.TypeName.Names)
				}
				if _, err := count(ctx, db, fmt.Sprintf("SELECT count(v) FROM (SELECT %s AS v FROM %s) s", expr, tq)); err != nil && !missingRelation(err) {
					add(CodeDataCastFails, pos, rel, fmt.Sprintf("Converting %q.%q to %s fails on existing values: %v", rel, cmd.Name, typ, pgMessage(err)),
						"Clean the values in an earlier file, or write a USING expression that handles them")
				}
			case pg.AlterTableType_AT_AddConstraint:
				con := cmd.Def.GetConstraint()
				if con == nil {
					continue
				}
				switch con.Contype {
				case pg.ConstrType_CONSTR_CHECK:
					if k, err := count(ctx, db, fmt.Sprintf("SELECT count(*) FROM %s WHERE NOT (%s)", tq, deparseExpr(con.RawExpr))); err == nil && k > 0 {
						add(CodeDataCheck, pos, rel, fmt.Sprintf("%d row(s) of %q violate CHECK %q: adding (or validating) it fails", k, rel, con.Conname),
							"Fix the rows in an earlier file; NOT VALID only defers the failure to VALIDATE")
					}
				case pg.ConstrType_CONSTR_FOREIGN:
					if len(con.FkAttrs) != 1 || len(con.PkAttrs) > 1 {
						continue
					}
					col := quoteIdent(con.FkAttrs[0].GetString_().GetSval())
					refCol := "id"
					if len(con.PkAttrs) == 1 {
						refCol = con.PkAttrs[0].GetString_().GetSval()
					}
					ref := con.Pktable.GetRelname()
					q := fmt.Sprintf("SELECT count(*) FROM %s t WHERE t.%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s r WHERE r.%s = t.%s)", tq, col, quoteIdent(ref), quoteIdent(refCol), col)
					if k, err := count(ctx, db, q); err == nil && k > 0 {
						add(CodeDataOrphans, pos, rel, fmt.Sprintf("%d row(s) of %q reference no row of %q: foreign key %q fails", k, rel, ref, con.Conname),
							"Delete or fix the orphans in an earlier file")
					}
				case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_PRIMARY:
					var cols []string
					for _, k := range con.Keys {
						cols = append(cols, quoteIdent(k.GetString_().GetSval()))
					}
					if len(cols) == 0 {
						continue
					}
					if k, err := count(ctx, db, fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1) d", tq, notNullAll(cols), strings.Join(cols, ", "))); err == nil && k > 0 {
						add(CodeDataDuplicates, pos, rel, fmt.Sprintf("Constraint %q: %d value(s) of (%s) appear more than once in %q", con.Conname, k, strings.Join(cols, ", "), rel),
							"Remove the duplicates in an earlier file")
					}
				}
			}
		}
	}
	return out
}

func indexColumns(params []*pg.Node) []string {
	var cols []string
	for _, p := range params {
		ie := p.GetIndexElem()
		if ie == nil || ie.Name == "" {
			return nil // expression index: not checked
		}
		cols = append(cols, quoteIdent(ie.Name))
	}
	return cols
}

func notNullAll(cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c + " IS NOT NULL"
	}
	return strings.Join(parts, " AND ")
}

func isBuiltinName(n string) bool {
	switch n {
	case "int8", "int4", "int2", "bigint", "integer", "smallint", "text", "varchar", "numeric", "bool", "boolean", "uuid", "jsonb", "json",
		"date", "timestamptz", "timestamp", "float8", "float4", "bytea", "inet", "cidr", "interval", "time", "timetz", "bpchar", "char":
		return true
	}
	return false
}

// count runs a read-only counting query with a timeout.
func count(ctx context.Context, db *sql.DB, q string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, dataCheckTimeout+5*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", dataCheckTimeout.Milliseconds())); err != nil {
		return 0, err
	}
	var n int64
	err = tx.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

// missingRelation reports errors that say nothing about the data: objects
// the target does not have yet, or the check's own timeout.
func missingRelation(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return errors.Is(err, context.DeadlineExceeded)
	}
	switch pe.Code {
	case "42P01", "42703", "42704", "57014":
		return true
	}
	return false
}

func pgMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}

// tableSize describes a table's size on the target: estimated rows and
// total size, "" when it does not exist there.
func tableSize(ctx context.Context, db *sql.DB, table string) string {
	var rows float64
	var size string
	err := db.QueryRowContext(ctx, `SELECT greatest(c.reltuples, 0), pg_size_pretty(pg_total_relation_size(c.oid))
FROM pg_class c WHERE c.oid = to_regclass($1)`, quoteIdent(table)).Scan(&rows, &size)
	if err != nil {
		return ""
	}
	if rows == 0 {
		// Never analyzed (reltuples -1 or 0): count exactly when small.
		if n, err := count(ctx, db, "SELECT count(*) FROM "+quoteIdent(table)); err == nil {
			rows = float64(n)
		}
	}
	return fmt.Sprintf("on the target, %q holds ~%.0f rows, %s", table, rows, size)
}
