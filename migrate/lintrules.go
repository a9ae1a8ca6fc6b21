package migrate

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync"

	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// AnalyzerTypes groups the column type checks (DL2xx, warnings by default);
// AnalyzerData the checks LintOptions.Against runs on a real database.
const (
	AnalyzerTypes = "types"
	AnalyzerData  = "data"
)

type pgFinding struct {
	analyzer, code, text, fix string
	pos                       int
	table                     string // the existing table a lock finding is about
}

// pgRules runs the PostgreSQL checks the library lacks, statement by
// statement like squawk. "Existing" tables are those present before the
// file ran: locking a table created in the same file costs nothing.
//
// prior holds CHECK constraints (name -> expression) added by earlier files
// the file's From state does not show (files diff plans together).
func pgRules(file *sqlcheck.File, parsed []parsedStmt, txNone bool, prior map[string]string) []pgFinding {
	var before *schema.Schema
	if len(file.From.Schemas) > 0 {
		before = file.From.Schemas[0]
	}
	created := map[string]bool{}
	existing := func(name string) bool {
		if before == nil || created[name] {
			return false
		}
		_, ok := before.Table(name)
		return ok
	}
	var out []pgFinding
	curTable := ""
	add := func(code string, pos int, text, fix string) {
		az := AnalyzerZeroDowntime
		if strings.HasPrefix(code, "DL2") {
			az = AnalyzerTypes
		}
		if code == CodeEnumOrder {
			az = AnalyzerTypes
		}
		out = append(out, pgFinding{analyzer: az, code: code, pos: pos, text: text, fix: fix, table: curTable})
	}
	lockTimeout, reportedTimeout := false, false
	sessionSet := map[string]int{} // session-level SET name -> position, until RESET
	notValid := map[string]bool{}  // constraints added NOT VALID in this file
	checks := maps.Clone(prior)    // constraint name -> CHECK expression
	if checks == nil {
		checks = map[string]string{}
	}
	validated := map[string]bool{} // constraints validated in this file
	locks := func(pos int, table string) {
		if !lockTimeout && !reportedTimeout {
			reportedTimeout = true
			add(CodeNoLockTimeout, pos,
				fmt.Sprintf("Statement locks existing table %q but the file does not set lock_timeout first: a lock waiting behind a long query blocks every query queued after it", table),
				"Start the file with SET LOCAL lock_timeout = '5s'; (or SET lock_timeout ... and RESET lock_timeout at the end of a txmode none file)")
		}
	}
	for _, p := range parsed {
		pos, n := p.stmt.Pos, p.node
		if n == nil {
			continue
		}
		curTable = ""
		if rel := relName(n); existing(rel) {
			curTable = rel
		}
		switch {
		case n.GetTransactionStmt() != nil:
			add(CodeTransactionNesting, pos, "Transaction control inside a migration file: apply runs each file in its own transaction (or none with -- atlas:txmode none)",
				"Remove BEGIN/COMMIT; use -- atlas:txmode none for statements that cannot run in a transaction")
		case n.GetVariableSetStmt() != nil:
			vs := n.GetVariableSetStmt()
			name := strings.ToLower(vs.Name)
			switch vs.Kind {
			case pg.VariableSetKind_VAR_RESET:
				delete(sessionSet, name)
			case pg.VariableSetKind_VAR_RESET_ALL:
				clear(sessionSet)
			default:
				if vs.IsLocal && txNone {
					continue // outside a transaction SET LOCAL does nothing
				}
				if name == "lock_timeout" {
					lockTimeout = true
				}
				if !vs.IsLocal {
					sessionSet[name] = pos
				}
			}
		case n.GetCreateStmt() != nil:
			cs := n.GetCreateStmt()
			created[cs.Relation.GetRelname()] = true
			for _, e := range cs.TableElts {
				if cd := e.GetColumnDef(); cd != nil {
					out = append(out, typeRules(cd, pos, cs.Relation.GetRelname())...)
				}
			}
		case n.GetIndexStmt() != nil:
			is := n.GetIndexStmt()
			rel := is.Relation.GetRelname()
			if is.Concurrent && !txNone {
				add(CodeConcurrentInTx, pos, fmt.Sprintf("CREATE INDEX CONCURRENTLY %q cannot run inside a transaction block: applying this transactional file fails", is.Idxname),
					"Move the statement to its own file starting with -- atlas:txmode none")
			}
			if existing(rel) && !is.Concurrent {
				locks(pos, rel)
				is.Concurrent = true
				add(CodeIndexNotConcurrent, pos, fmt.Sprintf("Creating index %q non-concurrently blocks writes to table %q while it builds", is.Idxname, rel),
					deparse(n)+"; -- in a file starting with -- atlas:txmode none")
				is.Concurrent = false
			}
		case n.GetDropStmt() != nil:
			ds := n.GetDropStmt()
			switch ds.RemoveType {
			case pg.ObjectType_OBJECT_INDEX:
				if ds.Concurrent && !txNone {
					add(CodeConcurrentInTx, pos, "DROP INDEX CONCURRENTLY cannot run inside a transaction block: applying this transactional file fails",
						"Move the statement to its own file starting with -- atlas:txmode none")
				}
				if !ds.Concurrent {
					ds.Concurrent = true
					add(CodeDropIndexNotConcurrent, pos, "Dropping an index non-concurrently takes an ACCESS EXCLUSIVE lock on its table, blocking reads and writes",
						deparse(n)+"; -- in a file starting with -- atlas:txmode none")
					ds.Concurrent = false
				}
			case pg.ObjectType_OBJECT_TABLE:
				if rel := relOf(n); existing(rel) {
					locks(pos, rel)
				}
			}
		case n.GetAlterEnumStmt() != nil:
			ae := n.GetAlterEnumStmt()
			locks(pos, "type "+deparseNames(ae.TypeName))
			if ae.NewVal != "" && ae.NewValNeighbor == "" {
				add(CodeEnumOrder, pos, fmt.Sprintf("ADD VALUE %q without BEFORE or AFTER appends it: the order of the type then depends on the order files ran in", ae.NewVal),
					fmt.Sprintf("ALTER TYPE %s ADD VALUE %s AFTER '<previous value>'", deparseNames(ae.TypeName), quoteLiteral(ae.NewVal)))
			}
		case n.GetTruncateStmt() != nil:
			if n.GetTruncateStmt().Behavior == pg.DropBehavior_DROP_CASCADE {
				add(CodeTruncateCascade, pos, "TRUNCATE ... CASCADE also empties every table that references these, transitively", "TRUNCATE the tables by name, without CASCADE")
			}
		case n.GetRenameStmt() != nil:
			if rel := n.GetRenameStmt().Relation.GetRelname(); existing(rel) {
				locks(pos, rel)
			}
		case n.GetCreateTrigStmt() != nil:
			if rel := n.GetCreateTrigStmt().Relation.GetRelname(); existing(rel) {
				locks(pos, rel)
			}
		case n.GetAlterTableStmt() != nil:
			at := n.GetAlterTableStmt()
			rel := at.Relation.GetRelname()
			if !existing(rel) {
				for _, c := range at.Cmds {
					if cmd := c.GetAlterTableCmd(); cmd != nil && cmd.Subtype == pg.AlterTableType_AT_AddColumn {
						out = append(out, typeRules(cmd.Def.GetColumnDef(), pos, rel)...)
					}
				}
				continue
			}
			locks(pos, rel)
			for _, c := range at.Cmds {
				cmd := c.GetAlterTableCmd()
				if cmd == nil {
					continue
				}
				tq := quoteIdent(rel)
				switch cmd.Subtype {
				case pg.AlterTableType_AT_AddColumn:
					cd := cmd.Def.GetColumnDef()
					out = append(out, typeRules(cd, pos, rel)...)
					notNull, hasDefault, volatileDefault, refs := false, false, false, false
					var def string
					for _, cn := range cd.Constraints {
						con := cn.GetConstraint()
						switch con.GetContype() {
						case pg.ConstrType_CONSTR_NOTNULL, pg.ConstrType_CONSTR_PRIMARY:
							notNull = true
						case pg.ConstrType_CONSTR_DEFAULT:
							hasDefault = true
							def = deparseExpr(con.RawExpr)
							volatileDefault = volatileExpr(def)
						case pg.ConstrType_CONSTR_IDENTITY, pg.ConstrType_CONSTR_GENERATED:
							hasDefault, volatileDefault = true, true
						case pg.ConstrType_CONSTR_FOREIGN:
							refs = true
						}
					}
					cq := quoteIdent(cd.Colname)
					if notNull && !hasDefault {
						add(CodeNotNullNoDefault, pos, fmt.Sprintf("Adding NOT NULL column %q without a default to table %q fails as soon as the table has a row", cd.Colname, rel),
							fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s ... NULL; backfill; then prove NOT NULL with a NOT VALID CHECK, VALIDATE it in a later file and SET NOT NULL", tq, cq))
					}
					if volatileDefault {
						add(CodeVolatileDefault, pos, fmt.Sprintf("Adding column %q with a volatile default (%s) rewrites table %q under an ACCESS EXCLUSIVE lock", cd.Colname, def, rel),
							fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s <type> NULL; ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s; then UPDATE %s SET %s = DEFAULT WHERE %s IS NULL in batches", tq, cq, tq, cq, def, tq, cq, cq))
					}
					if refs {
						add(CodeInlineReference, pos, fmt.Sprintf("Adding column %q with REFERENCES validates the foreign key while holding a SHARE ROW EXCLUSIVE lock on %q and the referenced table", cd.Colname, rel),
							fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s <type>; ALTER TABLE %s ADD CONSTRAINT ... FOREIGN KEY (%s) REFERENCES ... NOT VALID; VALIDATE CONSTRAINT in a later file", tq, cq, tq, cq))
					}
				case pg.AlterTableType_AT_AddConstraint:
					con := cmd.Def.GetConstraint()
					if con == nil {
						continue
					}
					switch con.Contype {
					case pg.ConstrType_CONSTR_FOREIGN, pg.ConstrType_CONSTR_CHECK:
						if con.Contype == pg.ConstrType_CONSTR_CHECK {
							checks[con.Conname] = deparseExpr(con.RawExpr)
						}
						if con.SkipValidation {
							notValid[con.Conname] = true
							continue
						}
						con.SkipValidation = true
						add(CodeConstraintValid, pos, fmt.Sprintf("Adding constraint %q to table %q without NOT VALID scans the whole table while blocking writes", con.Conname, rel),
							fmt.Sprintf("%s; then in a later file: ALTER TABLE %s VALIDATE CONSTRAINT %s", deparse(n), tq, quoteIdent(con.Conname)))
						con.SkipValidation = false
					case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_PRIMARY:
						if con.Indexname != "" {
							continue // USING INDEX: the index was built beforehand
						}
						kind := "UNIQUE"
						if con.Contype == pg.ConstrType_CONSTR_PRIMARY {
							kind = "PRIMARY KEY"
						}
						var cols []string
						for _, k := range con.Keys {
							cols = append(cols, quoteIdent(k.GetString_().GetSval()))
						}
						name := con.Conname
						if name == "" {
							name = rel + "_" + strings.ToLower(strings.ReplaceAll(kind, " ", "_"))
						}
						add(CodeUniqueConstraint, pos, fmt.Sprintf("Adding a %s constraint to table %q builds its index under an ACCESS EXCLUSIVE lock, blocking reads and writes", kind, rel),
							fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s); -- txmode none file\nALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s",
								quoteIdent(name), tq, strings.Join(cols, ", "), tq, quoteIdent(name), kind, quoteIdent(name)))
					}
				case pg.AlterTableType_AT_ValidateConstraint:
					validated[cmd.Name] = true
					if notValid[cmd.Name] && !txNone {
						add(CodeValidateSameTx, pos, fmt.Sprintf("Constraint %q is added NOT VALID and validated in the same transaction: the scan runs under the lock NOT VALID was meant to avoid", cmd.Name),
							fmt.Sprintf("Move ALTER TABLE %s VALIDATE CONSTRAINT %s to a later file", tq, quoteIdent(cmd.Name)))
					}
				case pg.AlterTableType_AT_SetNotNull:
					if provedNotNull(before, rel, cmd.Name, checks, validated) {
						continue
					}
					cn := quoteIdent(rel + "_" + cmd.Name + "_not_null")
					add(CodeSetNotNull, pos, fmt.Sprintf("SET NOT NULL on %q.%q scans the whole table under an ACCESS EXCLUSIVE lock", rel, cmd.Name),
						fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID; then in a later file: VALIDATE CONSTRAINT %s; SET NOT NULL (no scan); DROP CONSTRAINT %s", tq, cn, quoteIdent(cmd.Name), cn, cn))
				case pg.AlterTableType_AT_DropNotNull:
					add(CodeDropNotNull, pos, fmt.Sprintf("Dropping NOT NULL on %q.%q breaks readers that assume the column always has a value", rel, cmd.Name),
						"Deploy readers that handle NULL first, then drop the constraint")
				case pg.AlterTableType_AT_AlterColumnType:
					cd := cmd.Def.GetColumnDef()
					if cd == nil {
						continue
					}
					var from string
					if before != nil {
						if t, ok := before.Table(rel); ok {
							if c, ok := t.Column(cmd.Name); ok {
								from = typeString(c)
							}
						}
					}
					to := deparseType(cd.TypeName)
					if typeNameOf(cd.TypeName) == "varchar" && len(cd.TypeName.Typmods) > 0 {
						add(CodePreferText, pos, fmt.Sprintf("Column %q.%q becomes varchar(n): changing n later takes an ACCESS EXCLUSIVE lock", rel, cmd.Name), "Use text with a CHECK (length(col) <= n) constraint")
					}
					if from != "" && !binaryCompatible(from, to) {
						add(CodeTypeRewrite, pos, fmt.Sprintf("Changing column %q of table %q from %s to %s rewrites the table under an ACCESS EXCLUSIVE lock", cmd.Name, rel, from, to),
							"Add a new column, backfill it in batches, switch readers over, then drop the old column")
					}
					if from != "" && (cd.RawDefault != nil || narrowing(from, to)) {
						using := "an implicit cast"
						if cd.RawDefault != nil {
							using = "USING " + deparseExpr(cd.RawDefault)
						}
						add(CodeUnsafeCast, pos, fmt.Sprintf("Converting %q.%q from %s to %s with %s fails if any existing value does not convert", rel, cmd.Name, from, to, using),
							"Check the data first (lint --against DATABASE_URL runs the conversion on a real database), or clean the values in an earlier file")
					}
				}
			}
		}
	}
	for name, p := range sessionSet {
		if name == "search_path" {
			continue
		}
		add(CodeSessionSetting, p, fmt.Sprintf("SET %s stays set on the session after the file: with a pooled connection it leaks into the service's queries", name),
			fmt.Sprintf("Use SET LOCAL %s in a transactional file, or RESET %s at the end of a txmode none file", name, name))
	}
	return out
}

// addedChecks collects the CHECK constraints the statements add.
func addedChecks(parsed []parsedStmt, into map[string]string) {
	for _, p := range parsed {
		at := p.node.GetAlterTableStmt()
		if at == nil {
			continue
		}
		for _, c := range at.Cmds {
			if cmd := c.GetAlterTableCmd(); cmd != nil && cmd.Subtype == pg.AlterTableType_AT_AddConstraint {
				if con := cmd.Def.GetConstraint(); con != nil && con.Contype == pg.ConstrType_CONSTR_CHECK {
					into[con.Conname] = deparseExpr(con.RawExpr)
				}
			}
		}
	}
}

// typeRules are squawk's prefer-* column type checks.
func typeRules(cd *pg.ColumnDef, pos int, table string) []pgFinding {
	if cd == nil || cd.TypeName == nil {
		return nil
	}
	var out []pgFinding
	add := func(code, text, fix string) {
		out = append(out, pgFinding{analyzer: AnalyzerTypes, code: code, pos: pos, text: text, fix: fix})
	}
	typ := typeNameOf(cd.TypeName)
	col := fmt.Sprintf("%q.%q", table, cd.Colname)
	switch typ {
	case "varchar":
		if len(cd.TypeName.Typmods) > 0 {
			add(CodePreferText, fmt.Sprintf("Column %s is varchar(n): changing n later takes an ACCESS EXCLUSIVE lock", col), "Use text with a CHECK (length(col) <= n) constraint")
		}
	case "int4", "int2", "int", "integer", "smallint":
		add(CodePreferBigint, fmt.Sprintf("Column %s is a 32-bit or 16-bit integer: running out of values forces a table rewrite", col), "Use bigint")
	case "serial", "serial4", "smallserial", "serial2":
		add(CodePreferBigint, fmt.Sprintf("Column %s is a 32-bit serial: running out of values forces a table rewrite", col), "Use bigint GENERATED ALWAYS AS IDENTITY")
		add(CodePreferIdentity, fmt.Sprintf("Column %s is serial: its sequence has separate ownership and permissions", col), "Use bigint GENERATED ALWAYS AS IDENTITY")
	case "bigserial", "serial8":
		add(CodePreferIdentity, fmt.Sprintf("Column %s is serial: its sequence has separate ownership and permissions", col), "Use bigint GENERATED ALWAYS AS IDENTITY")
	case "timestamp":
		add(CodePreferTimestamptz, fmt.Sprintf("Column %s is timestamp without time zone: the offset of stored values is lost", col), "Use timestamptz")
	case "bpchar", "char", "character":
		add(CodeBanChar, fmt.Sprintf("Column %s is char(n): values are blank-padded", col), "Use text (with a CHECK on length if needed)")
	}
	return out
}

func deparseNames(ns []*pg.Node) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, n.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

func typeNameOf(t *pg.TypeName) string {
	if t == nil || len(t.Names) == 0 {
		return ""
	}
	return strings.ToLower(t.Names[len(t.Names)-1].GetString_().GetSval())
}

// provedNotNull reports whether a valid CHECK (col IS NOT NULL) exists when
// SET NOT NULL runs: validated earlier in this file, or present before it.
func provedNotNull(before *schema.Schema, table, col string, checks map[string]string, validated map[string]bool) bool {
	for name := range validated {
		if isNotNullCheck(checks[name], col) {
			return true
		}
	}
	if before == nil {
		return false
	}
	t, ok := before.Table(table)
	if !ok {
		return false
	}
	for _, a := range t.Attrs {
		if c, ok := a.(*schema.Check); ok && validated[c.Name] && isNotNullCheck(c.Expr, col) {
			return true
		}
	}
	return false
}

func isNotNullCheck(expr, col string) bool {
	e := strings.ToLower(strings.NewReplacer("(", "", ")", "", `"`, "", " ", "").Replace(expr))
	return e == strings.ToLower(col)+"isnotnull"
}

var volatileFuncs = regexp.MustCompile(`(?i)\b(gen_random_uuid|uuid_generate_v[14]|random|clock_timestamp|timeofday|nextval|txid_current|statement_timestamp)\s*\(`)

// volatileExpr reports a default calling a well-known volatile function
// (the diff asks the catalog; lint reads the statement alone).
func volatileExpr(expr string) bool { return volatileFuncs.MatchString(expr) }

// narrowing reports a type change whose cast can fail on existing values:
// text to a number, a shorter varchar, a smaller integer.
func narrowing(from, to string) bool {
	f, t := canonType(baseOf(from)), canonType(baseOf(to))
	if binaryCompatible(from, to) {
		return false
	}
	rank := map[string]int{"smallint": 1, "integer": 2, "bigint": 3, "numeric": 4}
	switch {
	case f == "varchar" && t == "varchar":
		return true // shorter limit (longer is binary compatible)
	case rank[f] > 0 && rank[t] > 0:
		return rank[t] < rank[f]
	case (f == "text" || f == "varchar") && t != "text" && t != "varchar":
		return true
	}
	return false
}

func baseOf(t string) string {
	if i := strings.IndexByte(t, '('); i >= 0 {
		t = t[:i]
	}
	return strings.TrimSpace(strings.ToLower(t))
}

// parseTreeVersion is the parse tree version Deparse expects.
var parseTreeVersion = sync.OnceValue(func() int32 {
	r, err := pg.Parse("SELECT 1")
	if err != nil {
		return 0
	}
	return r.Version
})

func deparse(n *pg.Node) string {
	s, err := pg.Deparse(&pg.ParseResult{Version: parseTreeVersion(), Stmts: []*pg.RawStmt{{Stmt: n}}})
	if err != nil {
		return ""
	}
	return s
}

// deparseExpr prints an expression node through a SELECT.
func deparseExpr(n *pg.Node) string {
	if n == nil {
		return ""
	}
	s := deparse(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: &pg.SelectStmt{LimitOption: pg.LimitOption_LIMIT_OPTION_DEFAULT, Op: pg.SetOperation_SETOP_NONE, TargetList: []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: n}}}}}}})
	return strings.TrimPrefix(s, "SELECT ")
}

// deparseType prints a type name as PostgreSQL's format_type would for the
// common cases (int8 -> bigint, varchar(10) -> character varying(10)).
func deparseType(t *pg.TypeName) string {
	name := typeNameOf(t)
	canon := map[string]string{"int8": "bigint", "int4": "integer", "int2": "smallint", "varchar": "character varying",
		"bpchar": "character", "float8": "double precision", "float4": "real", "bool": "boolean", "timestamptz": "timestamp with time zone",
		"timestamp": "timestamp without time zone", "numeric": "numeric"}
	if c, ok := canon[name]; ok {
		name = c
	}
	var mods []string
	for _, m := range t.Typmods {
		if c := m.GetAConst(); c != nil {
			mods = append(mods, fmt.Sprint(c.GetIval().GetIval()))
		}
	}
	if len(mods) > 0 {
		name += "(" + strings.Join(mods, ",") + ")"
	}
	return name
}
