package migrate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
)

// ErrRenameUnconfirmed reports a drop + add that looks like a rename and
// was neither confirmed nor denied: Diff never writes a silent DROP + ADD.
var ErrRenameUnconfirmed = errors.New("migrate: possible rename not confirmed")

// DiffOptions configure one Diff.
type DiffOptions struct {
	// Name is the file name suffix ("add_users" -> <version>_add_users.sql).
	Name string
	// Renames confirms renames: "old=new" for a table, "table.old=new" for a
	// column (table is the old or the new table name). Schema files may hold
	// the same as comments: "-- migrate:rename old=new".
	Renames []string
	// NoRenames writes a drop and an add for every rename candidate that is
	// not confirmed, instead of failing with ErrRenameUnconfirmed.
	NoRenames bool
	// Confirm asks whether a candidate is a rename (an interactive prompt).
	// Nil: unconfirmed candidates fail the diff.
	Confirm func(question string) (bool, error)
}

// renameSpec is one confirmed rename; table "" renames a table.
type renameSpec struct {
	table, from, to string
	fromFlag        bool // given in DiffOptions.Renames, not a schema comment
}

func (r renameSpec) String() string {
	if r.table == "" {
		return r.from + "=" + r.to
	}
	return r.table + "." + r.from + "=" + r.to
}

// parseRename reads "old=new" or "table.old=new" (or "table.old=table.new").
func parseRename(s string) (renameSpec, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "=")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if !ok || from == "" || to == "" {
		return renameSpec{}, fmt.Errorf("migrate: rename %q: want old=new or table.old=new", s)
	}
	if t, c, ok := strings.Cut(from, "."); ok {
		if t2, c2, ok := strings.Cut(to, "."); ok {
			if t2 != t {
				return renameSpec{}, fmt.Errorf("migrate: rename %q: a column rename stays in its table", s)
			}
			to = c2
		}
		return renameSpec{table: t, from: c, to: to}, nil
	}
	return renameSpec{from: from, to: to}, nil
}

var renameComment = regexp.MustCompile(`(?m)--\s*migrate:rename\s+(\S+\s*=\s*\S+)`)

// schemaRenames collects "-- migrate:rename old=new" comments.
func schemaRenames(files []amigrate.File) ([]renameSpec, error) {
	var out []renameSpec
	for _, f := range files {
		for _, m := range renameComment.FindAllSubmatchIndex(f.Bytes(), -1) {
			r, err := parseRename(string(f.Bytes()[m[2]:m[3]]))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f.Name(), lineOf(f.Bytes(), m[0]), err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// resolveRenames turns confirmed drop + add pairs into renames by renaming
// the objects of cur in place (so the next diff sees only what remains),
// and returns the rename changes in execution order.
func resolveRenames(ctx context.Context, drv amigrate.Driver, cur, want *schema.Schema, specs []renameSpec, opts DiffOptions) ([]schema.Change, []planStmt, error) {
	used := make([]bool, len(specs))
	var unresolved []string
	decide := func(r renameSpec, question string) (bool, error) {
		for i, s := range specs {
			if s.from == r.from && s.to == r.to && (s.table == r.table || r.table != "" && s.table == r.from) {
				used[i] = true
				return true, nil
			}
		}
		if opts.NoRenames {
			return false, nil
		}
		if opts.Confirm != nil {
			return opts.Confirm(question)
		}
		unresolved = append(unresolved, r.String())
		return false, nil
	}
	var renames []schema.Change
	var pkRen []planStmt
	oldName := map[string]string{} // new table name -> old
	// Tables: a dropped and an added table sharing at least half their columns.
	changes, err := drv.SchemaDiff(cur, want)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: diff: %w", err)
	}
	var drops []*schema.Table
	var adds []*schema.Table
	for _, c := range changes {
		switch c := c.(type) {
		case *schema.DropTable:
			drops = append(drops, c.T)
		case *schema.AddTable:
			adds = append(adds, c.T)
		}
	}
	taken := map[*schema.Table]bool{}
	for _, d := range drops {
		only := explicitTarget(specs, "", d.Name)
		for _, a := range adds {
			if taken[a] || only != "" && a.Name != only {
				continue
			}
			r := renameSpec{from: d.Name, to: a.Name}
			if !explicit(specs, r) && similarity(d, a) < 0.5 {
				continue
			}
			ok, err := decide(r, fmt.Sprintf("Was table %q renamed to %q (instead of dropping %q and creating %q)?", d.Name, a.Name, d.Name, a.Name))
			if err != nil {
				return nil, nil, err
			}
			if ok {
				taken[a] = true
				renames = append(renames, &schema.RenameTable{From: &schema.Table{Name: d.Name, Schema: d.Schema}, To: d})
				// The primary key index follows the table's name when it
				// had the default one (the inspection does not compare it).
				if d.PrimaryKey != nil && a.PrimaryKey != nil && d.PrimaryKey.Name == d.Name+"_pkey" && a.PrimaryKey.Name == a.Name+"_pkey" {
					pkRen = append(pkRen, planStmt{fmt.Sprintf("rename the primary key of %q to %q", a.Name, a.PrimaryKey.Name),
						fmt.Sprintf("ALTER INDEX %s RENAME TO %s", quoteIdent(d.PrimaryKey.Name), quoteIdent(a.PrimaryKey.Name))})
					d.PrimaryKey.Name = a.PrimaryKey.Name
				}
				oldName[a.Name] = d.Name
				d.Name = a.Name
				break
			}
		}
	}
	// Columns: a dropped and an added column of one table with the same type
	// (any type when confirmed explicitly).
	if changes, err = drv.SchemaDiff(cur, want); err != nil {
		return nil, nil, fmt.Errorf("migrate: diff: %w", err)
	}
	for _, c := range changes {
		mt, ok := c.(*schema.ModifyTable)
		if !ok {
			continue
		}
		t, ok := cur.Table(mt.T.Name)
		if !ok {
			continue
		}
		var dcols, acols []*schema.Column
		for _, x := range mt.Changes {
			switch x := x.(type) {
			case *schema.DropColumn:
				dcols = append(dcols, x.C)
			case *schema.AddColumn:
				acols = append(acols, x.C)
			}
		}
		var cols []schema.Change
		took := map[*schema.Column]bool{}
		for _, d := range dcols {
			only := explicitTarget(specs, t.Name, d.Name)
			if old := oldName[t.Name]; only == "" && old != "" {
				only = explicitTarget(specs, old, d.Name)
			}
			for _, a := range acols {
				if took[a] || only != "" && a.Name != only {
					continue
				}
				r := renameSpec{table: t.Name, from: d.Name, to: a.Name}
				if old := oldName[t.Name]; old != "" && explicit(specs, renameSpec{table: old, from: d.Name, to: a.Name}) {
					r.table = old
				}
				if !explicit(specs, r) && typeString(d) != typeString(a) {
					continue
				}
				ok, err := decide(r, fmt.Sprintf("Was column %q of table %q renamed to %q (instead of dropping it and adding %q)?", d.Name, t.Name, a.Name, a.Name))
				if err != nil {
					return nil, nil, err
				}
				if ok {
					took[a] = true
					col, _ := t.Column(d.Name)
					cols = append(cols, &schema.RenameColumn{From: &schema.Column{Name: d.Name}, To: &schema.Column{Name: a.Name}})
					col.Name = a.Name
					break
				}
			}
		}
		if len(cols) > 0 {
			renames = append(renames, &schema.ModifyTable{T: t, Changes: cols})
		}
	}
	if len(unresolved) > 0 {
		return nil, nil, fmt.Errorf("%w: %s; confirm with --rename %s (or a schema comment -- migrate:rename %s), or pass --no-rename to drop and add", ErrRenameUnconfirmed,
			strings.Join(unresolved, ", "), unresolved[0], unresolved[0])
	}
	for i, s := range specs {
		if !used[i] {
			// A comment left over from an applied rename is harmless; a flag
			// naming nothing is a mistake.
			if s.fromFlag {
				return nil, nil, fmt.Errorf("migrate: --rename %s: no such drop and add in this diff", s)
			}
		}
	}
	raw, err := renameIndexes(ctx, drv, cur, want, &renames)
	return renames, append(pkRen, raw...), err
}

// explicitTarget is the new name an explicit rename gives from, "" if none.
func explicitTarget(specs []renameSpec, table, from string) string {
	for _, s := range specs {
		if s.table == table && s.from == from {
			return s.to
		}
	}
	return ""
}

func explicit(specs []renameSpec, r renameSpec) bool {
	for _, s := range specs {
		if s.table == r.table && s.from == r.from && s.to == r.to {
			return true
		}
	}
	return false
}

// similarity is the share of columns (name and type) two tables have in common.
func similarity(a, b *schema.Table) float64 {
	n := max(len(a.Columns), len(b.Columns))
	if n == 0 {
		return 0
	}
	same := 0
	for _, c := range a.Columns {
		if o, ok := b.Column(c.Name); ok && typeString(o) == typeString(c) {
			same++
		}
	}
	return float64(same) / float64(n)
}

// renameIndexes turns a dropped and an added index (or CHECK / FOREIGN KEY
// constraint) with the same definition into a rename: the indexes of a
// renamed table follow its new name without a rebuild.
func renameIndexes(_ context.Context, drv amigrate.Driver, cur, want *schema.Schema, renames *[]schema.Change) ([]planStmt, error) {
	changes, err := drv.SchemaDiff(cur, want)
	if err != nil {
		return nil, fmt.Errorf("migrate: diff: %w", err)
	}
	var raw []planStmt
	for _, c := range changes {
		mt, ok := c.(*schema.ModifyTable)
		if !ok {
			continue
		}
		t, ok := cur.Table(mt.T.Name)
		if !ok {
			continue
		}
		var ren []schema.Change
		done := map[schema.Change]bool{}
		for _, x := range mt.Changes {
			for _, y := range mt.Changes {
				if done[x] || done[y] {
					continue
				}
				switch d := x.(type) {
				case *schema.DropIndex:
					if a, ok := y.(*schema.AddIndex); ok && indexSig(d.I) == indexSig(a.I) && d.I.Name != a.I.Name {
						ren = append(ren, &schema.RenameIndex{From: &schema.Index{Name: d.I.Name, Table: t}, To: a.I})
						d.I.Name = a.I.Name
						done[x], done[y] = true, true
					}
				case *schema.DropCheck:
					if a, ok := y.(*schema.AddCheck); ok && d.C.Expr == a.C.Expr && d.C.Name != a.C.Name {
						raw = append(raw, renameConstraint(t.Name, d.C.Name, a.C.Name))
						done[x], done[y] = true, true
						for _, at := range t.Attrs {
							if ck, ok := at.(*schema.Check); ok && ck.Name == d.C.Name {
								ck.Name = a.C.Name
							}
						}
					}
				case *schema.DropForeignKey:
					if a, ok := y.(*schema.AddForeignKey); ok && fkSig(d.F) == fkSig(a.F) && d.F.Symbol != a.F.Symbol {
						raw = append(raw, renameConstraint(t.Name, d.F.Symbol, a.F.Symbol))
						done[x], done[y] = true, true
						d.F.Symbol = a.F.Symbol
					}
				}
			}
		}
		if len(ren) > 0 {
			*renames = append(*renames, &schema.ModifyTable{T: t, Changes: ren})
		}
	}
	return raw, nil
}

func renameConstraint(table, from, to string) planStmt {
	return planStmt{fmt.Sprintf("rename constraint %q of %q to %q", from, table, to),
		fmt.Sprintf("ALTER TABLE %s RENAME CONSTRAINT %s TO %s", quoteIdent(table), quoteIdent(from), quoteIdent(to))}
}

func indexSig(i *schema.Index) string {
	var b strings.Builder
	fmt.Fprintf(&b, "u=%v;", i.Unique)
	for _, p := range i.Parts {
		switch {
		case p.C != nil:
			fmt.Fprintf(&b, "c=%s,%v;", p.C.Name, p.Desc)
		case p.X != nil:
			fmt.Fprintf(&b, "x=%s,%v;", exprString(p.X), p.Desc)
		}
	}
	for _, a := range i.Attrs {
		switch a := a.(type) {
		case *postgres.IndexPredicate:
			fmt.Fprintf(&b, "where=%s;", a.P)
		case *postgres.IndexType:
			fmt.Fprintf(&b, "type=%s;", strings.ToLower(a.T))
		case *postgres.Constraint:
			fmt.Fprintf(&b, "con=%s;", a.T)
		}
	}
	return b.String()
}

func fkSig(f *schema.ForeignKey) string {
	var cols, refs []string
	for _, c := range f.Columns {
		cols = append(cols, c.Name)
	}
	for _, c := range f.RefColumns {
		refs = append(refs, c.Name)
	}
	ref := ""
	if f.RefTable != nil {
		ref = f.RefTable.Name
	}
	return fmt.Sprintf("%v>%s%v;%s;%s", cols, ref, refs, f.OnUpdate, f.OnDelete)
}
