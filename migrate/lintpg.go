package migrate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Codes of the checks this package adds to the library's analyzers.
const (
	CodeIndexNotConcurrent = "PG101" // CREATE INDEX without CONCURRENTLY on an existing table
	CodeNotNullNoDefault   = "PG102" // NOT NULL column without default added to an existing table
	CodeTypeRewrite        = "PG103" // column type change that rewrites the table
	CodeConstraintValid    = "PG104" // FOREIGN KEY / CHECK added without NOT VALID on an existing table
	CodeNoLockTimeout      = "PG105" // file locks existing tables without setting lock_timeout
	CodeRename             = "RN101" // drop + add of a column with the same type: a rename that loses data
)

type parsedStmt struct {
	stmt *amigrate.Stmt
	node *pg.Node // nil when the statement does not parse
}

func parseStmts(stmts []*amigrate.Stmt) []parsedStmt {
	out := make([]parsedStmt, len(stmts))
	for i, s := range stmts {
		out[i].stmt = s
		if res, err := pg.Parse(s.Text); err == nil && len(res.Stmts) == 1 {
			out[i].node = res.Stmts[0].Stmt
		}
	}
	return out
}

type rename struct {
	table, from, to, typ string
	pos                  int
}

// detectRenames rewrites drop + add pairs into renames in place, so the
// library reports renames (BC1xx) rather than data loss (DS103). Explicit
// RENAME statements become renames silently; pairs without one are
// returned, to be reported as RN101.
func detectRenames(changes []*sqlcheck.Change, parsed []parsedStmt) []rename {
	explicit := map[int]bool{} // statement positions with RENAME COLUMN
	for _, p := range parsed {
		r := p.node.GetRenameStmt()
		switch {
		case r == nil:
		case r.RenameType == pg.ObjectType_OBJECT_COLUMN:
			explicit[p.stmt.Pos] = true
		case r.RenameType == pg.ObjectType_OBJECT_TABLE:
			renameTable(changes, p.stmt.Pos, r.Relation.GetRelname(), r.Newname)
		}
	}
	type colRef struct {
		ch  *sqlcheck.Change
		mt  *schema.ModifyTable
		idx int
		c   *schema.Column
	}
	var drops, adds []colRef
	for _, ch := range changes {
		for _, c := range ch.Changes {
			mt, ok := c.(*schema.ModifyTable)
			if !ok {
				continue
			}
			for i, mc := range mt.Changes {
				switch mc := mc.(type) {
				case *schema.DropColumn:
					drops = append(drops, colRef{ch, mt, i, mc.C})
				case *schema.AddColumn:
					adds = append(adds, colRef{ch, mt, i, mc.C})
				}
			}
		}
	}
	var out []rename
	removed := map[*schema.ModifyTable]map[int]bool{}
	mark := func(mt *schema.ModifyTable, i int) {
		if removed[mt] == nil {
			removed[mt] = map[int]bool{}
		}
		removed[mt][i] = true
	}
	used := map[int]bool{}
	for _, d := range drops {
		dt := typeString(d.c)
		for j, a := range adds {
			if used[j] || a.mt.T.Name != d.mt.T.Name || typeString(a.c) != dt || a.ch.Stmt.Pos < d.ch.Stmt.Pos {
				continue
			}
			used[j] = true
			mark(d.mt, d.idx)
			mark(a.mt, a.idx)
			d.mt.Changes = append(d.mt.Changes, &schema.RenameColumn{From: d.c, To: a.c})
			if !explicit[d.ch.Stmt.Pos] {
				out = append(out, rename{table: d.mt.T.Name, from: d.c.Name, to: a.c.Name, typ: dt, pos: d.ch.Stmt.Pos})
			}
			break
		}
	}
	for mt, idx := range removed {
		kept := mt.Changes[:0]
		for i, c := range mt.Changes {
			if !idx[i] {
				kept = append(kept, c)
			}
		}
		mt.Changes = kept
	}
	return out
}

// renameTable turns the drop + add an inspection sees for ALTER TABLE ...
// RENAME TO into a RenameTable change.
func renameTable(changes []*sqlcheck.Change, pos int, from, to string) {
	for _, ch := range changes {
		if ch.Stmt.Pos != pos {
			continue
		}
		var drop *schema.DropTable
		var add *schema.AddTable
		kept := make([]schema.Change, 0, len(ch.Changes))
		for _, c := range ch.Changes {
			switch c := c.(type) {
			case *schema.DropTable:
				if c.T.Name == from && drop == nil {
					drop = c
					continue
				}
			case *schema.AddTable:
				if c.T.Name == to && add == nil {
					add = c
					continue
				}
			}
			kept = append(kept, c)
		}
		if drop == nil || add == nil {
			return // not the expected shape: leave the changes alone
		}
		ch.Changes = append(kept, &schema.RenameTable{From: drop.T, To: add.T})
	}
}

func typeString(c *schema.Column) string {
	if c.Type == nil || c.Type.Type == nil {
		return ""
	}
	s, err := postgres.FormatType(c.Type.Type)
	if err != nil {
		return fmt.Sprintf("%T", c.Type.Type)
	}
	return s
}

type pgFinding struct {
	code, text, fix string
	pos             int
}

// zeroDowntime runs the PostgreSQL checks the library lacks. "Existing"
// tables are those present before the file ran: locking a table created in
// the same file costs nothing.
func zeroDowntime(file *sqlcheck.File, parsed []parsedStmt) []pgFinding {
	var before *schema.Schema
	if len(file.From.Schemas) > 0 {
		before = file.From.Schemas[0]
	}
	existing := func(name string) bool {
		if before == nil {
			return false
		}
		_, ok := before.Table(name)
		return ok
	}
	var out []pgFinding
	lockTimeout, reported := false, false
	locks := func(pos int, table string) {
		if !lockTimeout && !reported {
			reported = true
			out = append(out, pgFinding{code: CodeNoLockTimeout, pos: pos,
				text: fmt.Sprintf("Statement locks existing table %q but the file does not set lock_timeout: a long-held lock queues all queries behind it", table),
				fix:  "Start the file with SET lock_timeout = '5s';"})
		}
	}
	for _, p := range parsed {
		pos := p.stmt.Pos
		switch n := p.node; {
		case n == nil:
		case n.GetVariableSetStmt() != nil:
			if strings.EqualFold(n.GetVariableSetStmt().Name, "lock_timeout") {
				lockTimeout = true
			}
		case n.GetIndexStmt() != nil:
			is := n.GetIndexStmt()
			if rel := is.Relation.GetRelname(); existing(rel) && !is.Concurrent {
				locks(pos, rel)
				out = append(out, pgFinding{code: CodeIndexNotConcurrent, pos: pos,
					text: fmt.Sprintf("Creating index %q non-concurrently blocks writes to table %q while it builds", is.Idxname, rel),
					fix:  "Use CREATE INDEX CONCURRENTLY in a file marked -- atlas:txmode none"})
			}
		case n.GetAlterTableStmt() != nil:
			at := n.GetAlterTableStmt()
			rel := at.Relation.GetRelname()
			if !existing(rel) {
				continue
			}
			locks(pos, rel)
			for _, c := range at.Cmds {
				cmd := c.GetAlterTableCmd()
				if cmd == nil || cmd.Subtype != pg.AlterTableType_AT_AddConstraint {
					continue
				}
				con := cmd.Def.GetConstraint()
				if con == nil || con.SkipValidation || (con.Contype != pg.ConstrType_CONSTR_FOREIGN && con.Contype != pg.ConstrType_CONSTR_CHECK) {
					continue
				}
				out = append(out, pgFinding{code: CodeConstraintValid, pos: pos,
					text: fmt.Sprintf("Adding constraint %q to table %q without NOT VALID scans the whole table under lock", con.Conname, rel),
					fix:  "Add it with NOT VALID, then VALIDATE CONSTRAINT in a later statement"})
			}
		case n.GetCreateTrigStmt() != nil && existing(n.GetCreateTrigStmt().Relation.GetRelname()):
			locks(pos, n.GetCreateTrigStmt().Relation.GetRelname())
		case n.GetDropStmt() != nil && n.GetDropStmt().RemoveType == pg.ObjectType_OBJECT_TABLE,
			n.GetRenameStmt() != nil && existing(n.GetRenameStmt().Relation.GetRelname()):
			locks(pos, relOf(n))
		}
	}
	for _, ch := range file.Changes {
		for _, c := range ch.Changes {
			mt, ok := c.(*schema.ModifyTable)
			if !ok || !existing(mt.T.Name) {
				continue
			}
			for _, mc := range mt.Changes {
				switch mc := mc.(type) {
				case *schema.AddColumn:
					if mc.C.Type != nil && !mc.C.Type.Null && mc.C.Default == nil && !generated(mc.C) {
						out = append(out, pgFinding{code: CodeNotNullNoDefault, pos: ch.Stmt.Pos,
							text: fmt.Sprintf("Adding NOT NULL column %q without a default to table %q fails on a non-empty table", mc.C.Name, mt.T.Name),
							fix:  "Add the column with a DEFAULT, or nullable, backfill, then SET NOT NULL"})
					}
				case *schema.ModifyColumn:
					if mc.Change.Is(schema.ChangeType) {
						from, to := typeString(mc.From), typeString(mc.To)
						if !binaryCompatible(from, to) {
							out = append(out, pgFinding{code: CodeTypeRewrite, pos: ch.Stmt.Pos,
								text: fmt.Sprintf("Changing column %q of table %q from %s to %s rewrites the table under an ACCESS EXCLUSIVE lock", mc.From.Name, mt.T.Name, from, to),
								fix:  "Add a new column, backfill it in batches, then switch readers over"})
						}
					}
				}
			}
		}
	}
	return out
}

func relOf(n *pg.Node) string {
	if r := n.GetRenameStmt(); r != nil {
		return r.Relation.GetRelname()
	}
	if d := n.GetDropStmt(); d != nil && len(d.Objects) > 0 {
		if l := d.Objects[0].GetList(); l != nil && len(l.Items) > 0 {
			return l.Items[len(l.Items)-1].GetString_().GetSval()
		}
	}
	return ""
}

func generated(c *schema.Column) bool {
	for _, a := range c.Attrs {
		switch a.(type) {
		case *schema.GeneratedExpr, *postgres.Identity:
			return true
		}
	}
	return false
}

var typeMods = regexp.MustCompile(`^([a-z ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?$`)

// binaryCompatible reports whether PostgreSQL can change the type without
// rewriting the table: widening varchar/varbit/numeric precision, dropping
// a length limit, varchar <-> text and cidr -> inet.
func binaryCompatible(from, to string) bool {
	from, to = strings.ToLower(from), strings.ToLower(to)
	if from == to {
		return true
	}
	fm, tm := typeMods.FindStringSubmatch(from), typeMods.FindStringSubmatch(to)
	if fm == nil || tm == nil {
		return false
	}
	fb, tb := canonType(fm[1]), canonType(tm[1])
	switch {
	case fb == "varchar" && tb == "text", fb == "text" && tb == "varchar" && tm[2] == "",
		fb == "cidr" && tb == "inet":
		return true
	case fb != tb:
		return false
	case fb == "varchar" || fb == "varbit":
		return tm[2] == "" || (fm[2] != "" && atoi(tm[2]) >= atoi(fm[2]))
	case fb == "numeric":
		if tm[2] == "" {
			return true
		}
		return fm[2] != "" && atoi(tm[2]) >= atoi(fm[2]) && fm[3] == tm[3]
	}
	return false
}

func canonType(s string) string {
	switch s = strings.TrimSpace(s); s {
	case "character varying", "varchar":
		return "varchar"
	case "bit varying", "varbit":
		return "varbit"
	case "decimal", "numeric":
		return "numeric"
	}
	return s
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
