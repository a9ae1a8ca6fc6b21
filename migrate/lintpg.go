package migrate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Codes of the checks this package adds to the library's analyzers. The
// DL prefix (datalayer) is not used by Atlas, whose PG1xx codes mean other
// things. Each check names squawk's rule it corresponds to, if any.
const (
	// Zero downtime (analyzer zero_downtime): locks and rewrites on tables
	// that existed before the file.
	CodeIndexNotConcurrent     = "DL101" // CREATE INDEX without CONCURRENTLY (require-concurrent-index-creation)
	CodeDropIndexNotConcurrent = "DL102" // DROP INDEX without CONCURRENTLY (require-concurrent-index-deletion)
	CodeConcurrentInTx         = "DL103" // CONCURRENTLY in a transactional file: apply fails (ban-concurrent-index-creation-in-transaction)
	CodeConstraintValid        = "DL104" // FOREIGN KEY / CHECK without NOT VALID (adding-foreign-key-constraint, constraint-missing-not-valid)
	CodeValidateSameTx         = "DL105" // NOT VALID and VALIDATE in one transaction (constraint-missing-not-valid)
	CodeUniqueConstraint       = "DL106" // UNIQUE / PRIMARY KEY built under lock (disallowed-unique-constraint, adding-primary-key-constraint)
	CodeSetNotNull             = "DL107" // SET NOT NULL scans under lock (adding-not-nullable-field)
	CodeNotNullNoDefault       = "DL108" // ADD COLUMN NOT NULL without default fails on rows (adding-required-field)
	CodeVolatileDefault        = "DL109" // ADD COLUMN with a volatile default rewrites (adding-field-with-default)
	CodeTypeRewrite            = "DL110" // ALTER COLUMN TYPE rewrites the table (changing-column-type)
	CodeUnsafeCast             = "DL111" // type change whose cast can fail on existing values
	CodeNoLockTimeout          = "DL112" // locks without lock_timeout (require-lock-timeout)
	CodeSessionSetting         = "DL113" // session-level SET not reset: leaks into pooled connections
	CodeInlineReference        = "DL114" // ADD COLUMN ... REFERENCES: no NOT VALID possible (adding-foreign-key-constraint)
	CodeTransactionNesting     = "DL115" // BEGIN / COMMIT inside a file (transaction-nesting)
	CodeDropNotNull            = "DL116" // DROP NOT NULL breaks readers (ban-drop-not-null)
	CodeTruncateCascade        = "DL117" // TRUNCATE ... CASCADE (ban-truncate-cascade)
	// Types (analyzer types, warnings): squawk's prefer-* rules.
	CodePreferText        = "DL201" // varchar(n) (prefer-text-field)
	CodePreferBigint      = "DL202" // integer / smallint keys and counters (prefer-bigint-over-int, prefer-bigint-over-smallint)
	CodePreferIdentity    = "DL203" // serial (prefer-identity)
	CodePreferTimestamptz = "DL204" // timestamp without time zone (prefer-timestamp-tz)
	CodeBanChar           = "DL205" // char(n) (ban-char-field)
	CodeEnumOrder         = "DL206" // ADD VALUE without BEFORE/AFTER (require-enum-value-ordering)
	// Data (analyzer data, LintOptions.Against): checked on a real database.
	CodeDataTooLong    = "DL301" // shrinking a length below existing values
	CodeDataNulls      = "DL302" // NOT NULL with NULLs present
	CodeDataCastFails  = "DL303" // a type change whose cast fails on existing values
	CodeDataDuplicates = "DL304" // a unique index or constraint with duplicates present
	CodeDataCheck      = "DL305" // a new CHECK that existing rows violate
	CodeDataOrphans    = "DL306" // a new FOREIGN KEY that existing rows violate
	// Renames (analyzer rename).
	CodeRename = "RN101" // drop + add of a column with the same type: a rename that loses data
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
		case r.RenameType == pg.ObjectType_OBJECT_TABCONSTRAINT:
			renameConstraintChange(changes, p.stmt.Pos)
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

// renameConstraintChange drops the drop + add an inspection sees for
// ALTER TABLE ... RENAME CONSTRAINT: nothing is dropped.
func renameConstraintChange(changes []*sqlcheck.Change, pos int) {
	for _, ch := range changes {
		if ch.Stmt.Pos != pos {
			continue
		}
		for _, c := range ch.Changes {
			mt, ok := c.(*schema.ModifyTable)
			if !ok {
				continue
			}
			mt.Changes = slices.DeleteFunc(mt.Changes, func(x schema.Change) bool {
				switch x.(type) {
				case *schema.DropForeignKey, *schema.AddForeignKey, *schema.DropCheck, *schema.AddCheck:
					return true
				}
				return false
			})
		}
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
