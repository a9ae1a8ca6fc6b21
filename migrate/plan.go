package migrate

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// DefaultDiffLockTimeout is the lock_timeout written into generated files
// that lock existing tables (DiffPolicy.LockTimeout).
const DefaultDiffLockTimeout = "5s"

// DiffPolicy shapes the files Diff writes. The zero value is the
// zero-downtime policy with a 5 s lock_timeout.
type DiffPolicy struct {
	// Unsafe turns the zero-downtime policy off: one transactional file,
	// indexes built and constraints validated under lock. Renames, USING
	// casts and creates-before-drops still apply.
	Unsafe bool
	// LockTimeout is the lock_timeout value (PostgreSQL syntax) set in files
	// that lock existing tables. Default "5s".
	LockTimeout string
}

func (p DiffPolicy) lockTimeout() string {
	if p.LockTimeout == "" {
		return DefaultDiffLockTimeout
	}
	return p.LockTimeout
}

// planStmt is one statement of a planned file.
type planStmt struct{ comment, cmd string }

// planFile is one file of a plan: the zero-downtime policy splits a change
// into a transactional main file, a txmode none file for concurrent index
// work and a transactional validation file.
type planFile struct {
	suffix string // appended to the diff name: "", "_indexes", "_validate"
	none   bool   // -- atlas:txmode none
	stmts  []planStmt
}

func (f *planFile) content() string {
	var b strings.Builder
	if f.none {
		b.WriteString("-- atlas:txmode none\n\n")
	}
	for _, s := range f.stmts {
		if s.comment != "" {
			c := []rune(s.comment)
			fmt.Fprintf(&b, "-- %s%s\n", strings.ToUpper(string(c[:1])), string(c[1:]))
		}
		fmt.Fprintf(&b, "%s;\n", s.cmd)
	}
	return b.String()
}

// groups collects the changes of one diff by destination.
type groups struct {
	renames  []schema.Change // RENAME statements first, so later changes see new names
	rawRen   []planStmt      // constraint renames (no library change type)
	main     []schema.Change
	rawMain  []planStmt // after main: NOT VALID checks for SET NOT NULL, SET DEFAULT
	drops    []schema.Change
	conc     []schema.Change // CREATE/DROP INDEX CONCURRENTLY
	rawConc  []planStmt      // ADD CONSTRAINT ... USING INDEX
	validate []planStmt
	existing map[string]bool     // tables present before the diff (by their new name)
	enums    map[string][]string // desired enum values, to place added values
}

// shape sorts the changes into groups: renames first, creates and
// modifications, then drops; with the zero-downtime policy, index builds
// move to a concurrent file and constraint validation to a later one.
func (m *Migrator) shape(ctx context.Context, db *devDB, changes []schema.Change, g *groups) error {
	zd := !m.cfg.Diff.Unsafe
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.DropTable:
			g.drops = append(g.drops, c)
		case *schema.ModifyTable:
			existing := g.existing[c.T.Name]
			var keep, drops, ren []schema.Change
			dropped := map[string]bool{}
			for _, mc := range c.Changes {
				if d, ok := mc.(*schema.DropColumn); ok {
					dropped[d.C.Name] = true
				}
			}
			for _, mc := range c.Changes {
				switch mc := mc.(type) {
				case *schema.DropColumn:
					drops = append(drops, mc)
				case *schema.RenameIndex:
					ren = append(ren, mc)
				case *schema.ModifyColumn:
					if err := m.addUsing(ctx, db, g, c.T, mc); err != nil {
						return err
					}
					if zd && existing && mc.Change.Is(schema.ChangeNull) && !mc.To.Type.Null {
						mc.Change &^= schema.ChangeNull
						g.notNull(c.T, mc.To.Name)
					}
					if mc.Change != schema.NoChange {
						keep = append(keep, mc)
					}
				case *schema.AddColumn:
					if zd && existing && mc.C.Default != nil {
						vol, err := volatile(ctx, db, mc.C.Default)
						if err != nil {
							return err
						}
						if vol {
							// A volatile default rewrites the table: add the
							// column bare, set the default for new rows, fill
							// old rows in the validation file.
							col := *mc.C
							col.Type = &schema.ColumnType{Type: mc.C.Type.Type, Raw: mc.C.Type.Raw, Null: true}
							col.Default = nil
							keep = append(keep, &schema.AddColumn{C: &col})
							g.rawMain = append(g.rawMain, planStmt{
								fmt.Sprintf("set the volatile default of %q.%q for new rows only", c.T.Name, col.Name),
								fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %s", quoteIdent(c.T.Name), quoteIdent(col.Name), exprString(mc.C.Default))})
							g.validate = append(g.validate, planStmt{
								fmt.Sprintf("backfill %q.%q on existing rows", c.T.Name, col.Name),
								fmt.Sprintf("UPDATE %s SET %s = DEFAULT WHERE %s IS NULL", quoteIdent(c.T.Name), quoteIdent(col.Name), quoteIdent(col.Name))})
							if !mc.C.Type.Null {
								g.notNull(c.T, col.Name)
							}
							continue
						}
					}
					keep = append(keep, mc)
				case *schema.AddIndex:
					if !zd || !existing {
						keep = append(keep, mc)
						continue
					}
					idx := *mc.I
					if name, ok := uniqueConstraint(idx.Attrs); ok {
						idx.Attrs = slices.DeleteFunc(slices.Clone(idx.Attrs), func(a schema.Attr) bool { _, ok := a.(*postgres.Constraint); return ok })
						g.rawConc = append(g.rawConc, planStmt{
							fmt.Sprintf("turn index %q into a unique constraint (brief lock)", idx.Name),
							fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s", quoteIdent(c.T.Name), quoteIdent(name), quoteIdent(idx.Name))})
					}
					g.conc = append(g.conc, &schema.ModifyTable{T: c.T, Changes: []schema.Change{&schema.AddIndex{I: &idx, Extra: []schema.Clause{&postgres.Concurrently{}}}}})
				case *schema.DropIndex:
					if coversAny(mc.I, dropped) {
						continue // DROP COLUMN drops it under the same lock
					}
					if _, ok := uniqueConstraint(mc.I.Attrs); !zd || !existing || ok {
						keep = append(keep, mc)
						continue
					}
					g.conc = append(g.conc, &schema.ModifyTable{T: c.T, Changes: []schema.Change{&schema.DropIndex{I: mc.I, Extra: []schema.Clause{&postgres.Concurrently{}}}}})
				case *schema.AddForeignKey:
					if zd && existing {
						mc.Extra = append(mc.Extra, &postgres.NotValid{})
						g.validate = append(g.validate, validateStmt(c.T.Name, mc.F.Symbol))
					}
					keep = append(keep, mc)
				case *schema.AddCheck:
					if zd && existing && mc.C.Name != "" {
						mc.Extra = append(mc.Extra, &postgres.NotValid{})
						g.validate = append(g.validate, validateStmt(c.T.Name, mc.C.Name))
					}
					keep = append(keep, mc)
				default:
					keep = append(keep, mc)
				}
			}
			if len(ren) > 0 {
				g.renames = append(g.renames, &schema.ModifyTable{T: c.T, Changes: ren})
			}
			if len(keep) > 0 {
				g.main = append(g.main, &schema.ModifyTable{T: c.T, Changes: keep})
			}
			if len(drops) > 0 {
				g.drops = append(g.drops, &schema.ModifyTable{T: c.T, Changes: drops})
			}
		default:
			g.main = append(g.main, c)
		}
	}
	return nil
}

// notNull makes a column NOT NULL without a long lock: a NOT VALID check in
// the main file, then in the validation file VALIDATE (no write lock),
// SET NOT NULL (proved by the valid check, no scan) and the check dropped.
// A backfill queued before it in the validation file runs first.
func (g *groups) notNull(t *schema.Table, col string) {
	name := t.Name + "_" + col + "_not_null"
	if len(name) > 63 {
		name = name[:63]
	}
	tq, cq, nq := quoteIdent(t.Name), quoteIdent(col), quoteIdent(name)
	g.rawMain = append(g.rawMain, planStmt{
		fmt.Sprintf("prove %q.%q NOT NULL without a scan under lock", t.Name, col),
		fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID", tq, nq, cq)})
	g.validate = append(g.validate,
		validateStmt(t.Name, name),
		planStmt{fmt.Sprintf("set %q.%q NOT NULL (the valid check skips the scan)", t.Name, col),
			fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL", tq, cq)},
		planStmt{"", fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", tq, nq)})
}

func coversAny(i *schema.Index, cols map[string]bool) bool {
	for _, p := range i.Parts {
		if p.C != nil && cols[p.C.Name] {
			return true
		}
	}
	return false
}

func validateStmt(table, constraint string) planStmt {
	return planStmt{fmt.Sprintf("validate %q on %q without blocking writes", constraint, table),
		fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", quoteIdent(table), quoteIdent(constraint))}
}

func uniqueConstraint(attrs []schema.Attr) (string, bool) {
	for _, a := range attrs {
		if c, ok := a.(*postgres.Constraint); ok && c.T == "u" {
			return c.N, true
		}
	}
	return "", false
}

func exprString(x schema.Expr) string {
	switch x := x.(type) {
	case *schema.RawExpr:
		return x.X
	case *schema.Literal:
		return x.V
	}
	return fmt.Sprint(x)
}

// volatile reports whether a default expression calls a volatile function
// (gen_random_uuid(), random(), clock_timestamp()): adding a column with it
// rewrites the table. now() is stable and costs nothing.
func volatile(ctx context.Context, db *devDB, x schema.Expr) (bool, error) {
	names := funcNames(exprString(x))
	if len(names) == 0 {
		return false, nil
	}
	var v bool
	err := db.db.QueryRowContext(ctx, `SELECT coalesce(bool_or(provolatile = 'v'), false) FROM pg_proc WHERE proname = ANY($1)`, names).Scan(&v)
	if err != nil {
		return false, fmt.Errorf("migrate: look up volatility: %w", err)
	}
	return v, nil
}

// funcNames lists the functions an expression calls.
func funcNames(expr string) []string {
	js, err := pg.ParseToJSON("SELECT " + expr)
	if err != nil {
		return nil
	}
	// Every call is a "FuncCall" whose "funcname" list ends with the name.
	var names []string
	for _, part := range strings.Split(js, `"FuncCall":{"funcname":[`)[1:] {
		end := strings.Index(part, "]")
		if end < 0 {
			continue
		}
		items := strings.Split(part[:end], `"sval":"`)
		last := items[len(items)-1]
		if i := strings.IndexByte(last, '"'); i > 0 {
			names = append(names, last[:i])
		}
	}
	return names
}

// addUsing adds USING col::type to type changes PostgreSQL cannot do with an
// assignment cast (text to bigint, text to an enum, text to jsonb): without
// it the statement fails even on an empty table.
func (m *Migrator) addUsing(ctx context.Context, db *devDB, g *groups, t *schema.Table, mc *schema.ModifyColumn) error {
	if !mc.Change.Is(schema.ChangeType) {
		return nil
	}
	from, to := colTypeSQL(mc.From), colTypeSQL(mc.To)
	var ok bool
	err := db.db.QueryRowContext(ctx, `SELECT coalesce(s = t OR t IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
  OR EXISTS (SELECT 1 FROM pg_cast WHERE castsource = s AND casttarget = t AND castcontext IN ('a', 'i')), false)
FROM (SELECT to_regtype($1) AS s, to_regtype($2) AS t) x`, from, to).Scan(&ok)
	if err != nil {
		return fmt.Errorf("migrate: look up cast %s -> %s: %w", from, to, err)
	}
	if !ok {
		mc.Extra = append(mc.Extra, &postgres.ConvertUsing{X: quoteIdent(mc.To.Name) + "::" + to})
		if mc.From.Default != nil {
			// The old default cannot be cast either: drop it first, set the
			// new one in the same ALTER as the type.
			g.rawRen = append(g.rawRen, planStmt{fmt.Sprintf("drop the default of %q.%q before its type changes", t.Name, mc.From.Name),
				fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP DEFAULT", quoteIdent(t.Name), quoteIdent(mc.From.Name))})
			if mc.To.Default != nil {
				mc.Change |= schema.ChangeDefault
			}
		}
	}
	return nil
}

// colTypeSQL formats a column type for a cast, enums by name.
func colTypeSQL(c *schema.Column) string {
	if e, ok := c.Type.Type.(*schema.EnumType); ok {
		return quoteIdent(e.T)
	}
	return typeString(c)
}

// planFiles turns the groups into files.
func (m *Migrator) planFiles(ctx context.Context, drv amigrate.Driver, name string, g *groups) ([]*planFile, error) {
	qualifier := ""
	opt := func(o *amigrate.PlanOptions) { o.SchemaQualifier = &qualifier }
	plan := func(changes []schema.Change) ([]planStmt, error) {
		if len(changes) == 0 {
			return nil, nil
		}
		p, err := drv.PlanChanges(ctx, name, changes, opt)
		if err != nil {
			return nil, fmt.Errorf("migrate: plan: %w", err)
		}
		out := make([]planStmt, len(p.Changes))
		for i, c := range p.Changes {
			out[i] = planStmt{c.Comment, g.placeEnumValue(c.Cmd)}
		}
		return out, nil
	}
	main := &planFile{}
	for _, part := range []struct {
		changes []schema.Change
		raw     []planStmt
	}{{g.renames, g.rawRen}, {g.main, g.rawMain}, {g.drops, nil}} {
		s, err := plan(part.changes)
		if err != nil {
			return nil, err
		}
		main.stmts = append(append(main.stmts, s...), part.raw...)
	}
	files := []*planFile{}
	timeout := func(f *planFile, local bool) {
		kw := "SET LOCAL"
		if !local {
			kw = "SET"
		}
		f.stmts = append([]planStmt{{"bound the wait for locks on existing tables", fmt.Sprintf("%s lock_timeout = '%s'", kw, m.cfg.Diff.lockTimeout())}}, f.stmts...)
		if !local {
			f.stmts = append(f.stmts, planStmt{"", "RESET lock_timeout"})
		}
	}
	if len(main.stmts) > 0 {
		// Even a new table locks the tables it references.
		if !m.cfg.Diff.Unsafe {
			timeout(main, true)
		}
		files = append(files, main)
	}
	conc, err := plan(g.conc)
	if err != nil {
		return nil, err
	}
	if conc = append(conc, g.rawConc...); len(conc) > 0 {
		f := &planFile{suffix: "_indexes", none: true, stmts: conc}
		timeout(f, false)
		files = append(files, f)
	}
	if len(g.validate) > 0 {
		f := &planFile{suffix: "_validate", stmts: g.validate}
		timeout(f, true)
		files = append(files, f)
	}
	return files, nil
}

var addValue = regexp.MustCompile(`^ALTER TYPE "([^"]+)" ADD VALUE '((?:[^']|'')*)'$`)

// placeEnumValue states where an added enum value goes (AFTER the value
// before it in schema/), so the order never depends on the statement order.
func (g *groups) placeEnumValue(cmd string) string {
	m := addValue.FindStringSubmatch(cmd)
	if m == nil {
		return cmd
	}
	vals := g.enums[m[1]]
	for i, v := range vals {
		if v == strings.ReplaceAll(m[2], "''", "'") {
			if i == 0 {
				if len(vals) > 1 {
					return cmd + " BEFORE " + quoteLiteral(vals[1])
				}
				return cmd
			}
			return cmd + " AFTER " + quoteLiteral(vals[i-1])
		}
	}
	return cmd
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// touchesExisting reports whether a statement alters, renames, drops or
// indexes a table that existed before the diff.
func touchesExisting(stmts []planStmt, existing map[string]bool) bool {
	for _, s := range stmts {
		res, err := pg.Parse(s.cmd)
		if err != nil || len(res.Stmts) != 1 {
			continue
		}
		if rel := relName(res.Stmts[0].Stmt); rel != "" && existing[rel] {
			return true
		}
	}
	return false
}

// relName is the table a statement locks, "" for none.
func relName(n *pg.Node) string {
	switch {
	case n.GetAlterTableStmt() != nil:
		return n.GetAlterTableStmt().Relation.GetRelname()
	case n.GetIndexStmt() != nil:
		return n.GetIndexStmt().Relation.GetRelname()
	case n.GetRenameStmt() != nil:
		return n.GetRenameStmt().Relation.GetRelname()
	case n.GetCreateTrigStmt() != nil:
		return n.GetCreateTrigStmt().Relation.GetRelname()
	case n.GetDropStmt() != nil && n.GetDropStmt().RemoveType == pg.ObjectType_OBJECT_TABLE:
		return relOf(n)
	}
	return ""
}
