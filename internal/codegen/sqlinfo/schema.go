package sqlinfo

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// Schema is the part of a database schema that invalidation needs: tables
// with their keys, the foreign-key graph, inheritance and views.
type Schema struct {
	Tables    map[string]*Table    // by normalised name; includes materialized views
	Views     map[string]*View     // plain views, by normalised name
	Functions map[string]*Function // user-defined functions, by normalised name
}

// Table is one table (or materialized view).
type Table struct {
	Name        string
	Columns     []string // in definition order
	PrimaryKey  *UniqueKey
	UniqueKeys  []UniqueKey // UNIQUE constraints and non-partial unique column indexes, PK excluded
	ForeignKeys []ForeignKey
	Parents     []string // INHERITS or PARTITION OF
	MatView     bool
	Triggers    []Trigger
	Generated   []string // GENERATED ALWAYS AS (...) STORED columns

	file string // where it was defined, for error messages
	line int
	// columnsPartial: Columns may miss columns or be out of order (LIKE,
	// INHERITS, PARTITION OF, OF type, CREATE TABLE AS without a column
	// list), so an INSERT without a column list cannot be mapped.
	columnsPartial bool
}

// UniqueKey is a primary key or a unique constraint/index over plain columns.
type UniqueKey struct {
	Name    string // constraint or index name (PostgreSQL's default name when unnamed)
	Columns []string
}

// FKAction is what a foreign key does to referencing rows.
type FKAction uint8

const (
	NoAction FKAction = iota // NO ACTION or RESTRICT: never changes rows
	Cascade
	SetNull
	SetDefault
)

func (a FKAction) String() string {
	return [...]string{"NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT"}[a]
}

// ForeignKey is a constraint of the table that holds it (the referencing
// side) pointing at RefTable.
type ForeignKey struct {
	Name       string
	Columns    []string
	RefTable   string
	RefColumns []string // empty: the referenced table's primary key
	OnDelete   FKAction
	OnUpdate   FKAction
}

// View is a plain view; reading it reads its base relations.
type View struct {
	Name     string
	Reads    []string // relations its query reads (may name other views)
	Volatile []string // volatile functions or literals in its query, e.g. "now()"

	calls []call // function calls, resolved against Functions at analysis
}

// LoadSchema builds a Schema from the schema's *.sql files (file name to
// content), applied in file-name order. It understands CREATE TABLE (column
// and table constraints, INHERITS, PARTITION OF), ALTER TABLE ADD COLUMN /
// ADD CONSTRAINT / DROP CONSTRAINT, CREATE UNIQUE INDEX (non-partial, plain
// columns), CREATE VIEW, CREATE MATERIALIZED VIEW, CREATE TABLE AS, RENAME
// (tables, views, columns, constraints), SET SCHEMA and DROP TABLE / VIEW,
// and ignores other statements (types, functions, extensions, comments,
// grants) and ALTERs of relations it does not model (sequences).
func LoadSchema(files map[string][]byte) (*Schema, error) {
	ordered := make([]SourceFile, 0, len(files))
	for _, n := range keysOf(files) {
		ordered = append(ordered, SourceFile{Name: n, Src: files[n]})
	}
	return LoadSchemaFiles(ordered)
}

// SourceFile is one SQL file: its name for messages and its content.
type SourceFile struct {
	Name string
	Src  []byte
}

// LoadSchemaFiles is LoadSchema with the files applied in the order given,
// the way sqlc reads a schema (paths in configuration order, a directory's
// files by name). Each file is read as sqlc reads migrations: the rollback
// part of goose, sql-migrate, tern and dbmate files is ignored, and so are
// psql meta-command lines (pg_dump's \restrict); the DDL is applied in
// order, so ALTER TABLE ... RENAME TO, RENAME COLUMN, SET SCHEMA and DROP
// TABLE followed by a new CREATE TABLE give the final shape.
func LoadSchemaFiles(files []SourceFile) (*Schema, error) {
	s := &Schema{Tables: map[string]*Table{}, Views: map[string]*View{}, Functions: map[string]*Function{}}
	var ec errs
	for _, f := range files {
		file := f.Name
		src := migrationUp(string(f.Src))
		tree, err := pg.Parse(src)
		if err != nil {
			line := 1
			var pe *parser.Error
			if errors.As(err, &pe) {
				line += lineOf(src, byteOffset(src, pe.Cursorpos-1))
			}
			ec.add(file, line, "syntax error: %s", strings.TrimPrefix(err.Error(), "syntax error: "))
			continue
		}
		for _, raw := range tree.Stmts {
			// StmtLocation points at the statement, possibly at comments or
			// whitespace before it; skip those for the line number.
			loc := int(raw.StmtLocation)
			for loc < len(src) && (src[loc] == ' ' || src[loc] == '\n' || src[loc] == '\t' || src[loc] == '\r') {
				loc++
			}
			line := 1 + lineOf(src, loc)
			if err := s.apply(raw.Stmt, file, line); err != nil {
				ec.add(file, line, "%s", err)
			}
		}
	}
	// Foreign keys with no column list reference the primary key, and every
	// referenced table must exist: an unknown one would hide cascades.
	for _, tn := range keysOf(s.Tables) {
		t := s.Tables[tn]
		for i := range t.ForeignKeys {
			fk := &t.ForeignKeys[i]
			ref, ok := s.Tables[fk.RefTable]
			if !ok {
				ec.add(t.file, t.line, "table %s: foreign key %s references unknown table %s", t.Name, fk.Name, fk.RefTable)
				continue
			}
			if len(fk.RefColumns) == 0 && ref.PrimaryKey != nil {
				fk.RefColumns = slices.Clone(ref.PrimaryKey.Columns)
			}
		}
		for _, p := range t.Parents {
			if _, ok := s.Tables[p]; !ok {
				ec.add(t.file, t.line, "table %s inherits from unknown table %s", t.Name, p)
			}
		}
	}
	if err := ec.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Schema) apply(n *pg.Node, file string, line int) error {
	switch {
	case n.GetCreateStmt() != nil:
		return s.createTable(n.GetCreateStmt(), file, line)
	case n.GetAlterTableStmt() != nil:
		at := n.GetAlterTableStmt()
		if at.Objtype != pg.ObjectType_OBJECT_TABLE && at.Objtype != pg.ObjectType_OBJECT_MATVIEW {
			return nil
		}
		t, ok := s.Tables[relName(at.Relation)]
		if !ok {
			// A relation the schema does not model (a sequence, as in
			// pg_dump's ALTER TABLE ... OWNER TO; a foreign table): sqlc
			// has checked the DDL, and reads of it count as outside the
			// schema.
			return nil
		}
		for _, c := range at.Cmds {
			cmd := c.GetAlterTableCmd()
			if cmd == nil {
				continue
			}
			switch cmd.Subtype {
			case pg.AlterTableType_AT_AddColumn:
				if cd := cmd.Def.GetColumnDef(); cd != nil {
					t.addColumn(cd)
				}
			case pg.AlterTableType_AT_AddConstraint:
				if con := cmd.Def.GetConstraint(); con != nil {
					t.addConstraint(con, nil)
				}
			case pg.AlterTableType_AT_DropConstraint:
				t.dropConstraint(cmd.Name)
			case pg.AlterTableType_AT_DropColumn:
				t.dropColumn(cmd.Name)
			}
		}
	case n.GetIndexStmt() != nil:
		ix := n.GetIndexStmt()
		if !ix.Unique || ix.WhereClause != nil {
			return nil // a partial unique index does not make the columns a key
		}
		t, ok := s.Tables[relName(ix.Relation)]
		if !ok {
			return nil // a relation the schema does not model, see ALTER TABLE
		}
		var cols []string
		for _, p := range ix.IndexParams {
			e := p.GetIndexElem()
			if e == nil || e.Name == "" {
				return nil // expression index: no plain columns to pin
			}
			cols = append(cols, e.Name)
		}
		name := ix.Idxname
		if name == "" {
			name = defaultName(t.Name, cols, "idx")
		}
		t.UniqueKeys = append(t.UniqueKeys, UniqueKey{Name: name, Columns: cols})
	case n.GetRenameStmt() != nil:
		s.rename(n.GetRenameStmt())
	case n.GetAlterObjectSchemaStmt() != nil:
		s.setSchema(n.GetAlterObjectSchemaStmt())
	case n.GetDropStmt() != nil:
		s.drop(n.GetDropStmt())
	case n.GetCreateFunctionStmt() != nil:
		return s.createFunction(n.GetCreateFunctionStmt())
	case n.GetCreateTrigStmt() != nil:
		return s.createTrigger(n.GetCreateTrigStmt())
	case n.GetViewStmt() != nil:
		v := n.GetViewStmt()
		name := relName(v.View)
		view := &View{Name: name}
		if v.Query != nil {
			a := &analyzer{params: numberParams(v.Query), readCount: map[string]int{}, writeCount: map[string]int{}, writeOps: map[string]op{}}
			a.visit(v.Query.ProtoReflect(), nil)
			view.Reads = keys(a.readCount)
			for _, x := range a.volatile {
				view.Volatile = append(view.Volatile, x.What)
			}
			view.calls = a.calls
		}
		s.Views[name] = view
	case n.GetCreateTableAsStmt() != nil:
		c := n.GetCreateTableAsStmt()
		if c.Into == nil || c.Into.Rel == nil {
			return nil
		}
		name := relName(c.Into.Rel)
		t := &Table{Name: name, MatView: c.Objtype == pg.ObjectType_OBJECT_MATVIEW, file: file, line: line}
		t.Columns = strs(c.Into.ColNames)
		t.columnsPartial = true // the query's output columns are not tracked
		s.Tables[name] = t
	}
	return nil
}

func (s *Schema) createTable(cs *pg.CreateStmt, file string, line int) error {
	name := relName(cs.Relation)
	if _, dup := s.Tables[name]; dup {
		if cs.IfNotExists {
			return nil
		}
		return fmt.Errorf("table %s defined twice", name)
	}
	t := &Table{Name: name, file: file, line: line}
	t.columnsPartial = len(cs.InhRelations) > 0 || cs.Partbound != nil || cs.OfTypename != nil
	for _, p := range cs.InhRelations {
		if rv := p.GetRangeVar(); rv != nil {
			t.Parents = append(t.Parents, relName(rv))
		}
	}
	for _, e := range cs.TableElts {
		switch {
		case e.GetTableLikeClause() != nil:
			t.columnsPartial = true
		case e.GetColumnDef() != nil:
			t.addColumn(e.GetColumnDef())
		case e.GetConstraint() != nil:
			t.addConstraint(e.GetConstraint(), nil)
		}
	}
	for _, c := range cs.Constraints {
		if con := c.GetConstraint(); con != nil {
			t.addConstraint(con, nil)
		}
	}
	s.Tables[name] = t
	return nil
}

func (t *Table) addColumn(cd *pg.ColumnDef) {
	t.Columns = append(t.Columns, cd.Colname)
	for _, c := range cd.Constraints {
		if con := c.GetConstraint(); con != nil {
			if con.Contype == pg.ConstrType_CONSTR_GENERATED {
				t.Generated = append(t.Generated, cd.Colname)
			}
			t.addConstraint(con, []string{cd.Colname})
		}
	}
}

// addConstraint records a PRIMARY KEY, UNIQUE or FOREIGN KEY constraint;
// col is the column for a column constraint.
func (t *Table) addConstraint(c *pg.Constraint, col []string) {
	switch c.Contype {
	case pg.ConstrType_CONSTR_PRIMARY:
		cols := col
		if cols == nil {
			cols = strs(c.Keys)
		}
		name := c.Conname
		if name == "" {
			name = t.baseName() + "_pkey"
		}
		t.PrimaryKey = &UniqueKey{Name: name, Columns: cols}
	case pg.ConstrType_CONSTR_UNIQUE:
		cols := col
		if cols == nil {
			cols = strs(c.Keys)
		}
		if len(cols) == 0 {
			return // UNIQUE USING INDEX and the like
		}
		name := c.Conname
		if name == "" {
			name = defaultName(t.Name, cols, "key")
		}
		t.UniqueKeys = append(t.UniqueKeys, UniqueKey{Name: name, Columns: cols})
	case pg.ConstrType_CONSTR_FOREIGN:
		cols := col
		if cols == nil {
			cols = strs(c.FkAttrs)
		}
		name := c.Conname
		if name == "" {
			name = defaultName(t.Name, cols, "fkey")
		}
		t.ForeignKeys = append(t.ForeignKeys, ForeignKey{
			Name:       name,
			Columns:    cols,
			RefTable:   relName(c.Pktable),
			RefColumns: strs(c.PkAttrs),
			OnDelete:   fkAction(c.FkDelAction),
			OnUpdate:   fkAction(c.FkUpdAction),
		})
	}
}

// defaultName mimics PostgreSQL's generated constraint names closely enough
// for ON CONFLICT ON CONSTRAINT and DROP CONSTRAINT lookups.
func defaultName(table string, cols []string, suffix string) string {
	if i := strings.LastIndexByte(table, '.'); i >= 0 {
		table = table[i+1:] // generated names never carry the schema
	}
	n := table + "_" + strings.Join(cols, "_") + "_" + suffix
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// baseName is the table name without its schema.
func (t *Table) baseName() string {
	if i := strings.LastIndexByte(t.Name, '.'); i >= 0 {
		return t.Name[i+1:]
	}
	return t.Name
}

func (t *Table) dropConstraint(name string) {
	if t.PrimaryKey != nil && t.PrimaryKey.Name == name {
		t.PrimaryKey = nil
	}
	t.UniqueKeys = slices.DeleteFunc(t.UniqueKeys, func(k UniqueKey) bool { return k.Name == name })
	t.ForeignKeys = slices.DeleteFunc(t.ForeignKeys, func(k ForeignKey) bool { return k.Name == name })
}

func (t *Table) dropColumn(name string) {
	t.Columns = slices.DeleteFunc(t.Columns, func(c string) bool { return c == name })
	// PostgreSQL drops constraints that use the column.
	if t.PrimaryKey != nil && slices.Contains(t.PrimaryKey.Columns, name) {
		t.PrimaryKey = nil
	}
	t.UniqueKeys = slices.DeleteFunc(t.UniqueKeys, func(k UniqueKey) bool { return slices.Contains(k.Columns, name) })
	t.ForeignKeys = slices.DeleteFunc(t.ForeignKeys, func(k ForeignKey) bool { return slices.Contains(k.Columns, name) })
}

func fkAction(c string) FKAction {
	switch c {
	case "c":
		return Cascade
	case "n":
		return SetNull
	case "d":
		return SetDefault
	}
	return NoAction // "a" NO ACTION, "r" RESTRICT, "" unspecified
}

// Keys lists the table's primary key first, then its unique keys.
func (t *Table) Keys() []UniqueKey {
	var out []UniqueKey
	if t.PrimaryKey != nil {
		out = append(out, *t.PrimaryKey)
	}
	return append(out, t.UniqueKeys...)
}

// Write operations, as a bit set, for cascade tracking.
type op uint8

const (
	opInsert op = 1 << iota
	opUpdate
	opDelete
	opTruncate
	opAll = opInsert | opUpdate | opDelete | opTruncate
)

// CascadeClosure returns the given tables plus every table whose rows a write
// to them can change through foreign-key actions (ON DELETE CASCADE / SET
// NULL / SET DEFAULT, ON UPDATE CASCADE / SET NULL / SET DEFAULT) and
// inheritance (a write to a child shows in its parent, a write through a
// parent reaches its children), transitively, sorted. It assumes each write
// may be an update or a delete of any column and so over-approximates; it
// never misses a table. Unknown names are passed through.
func (s *Schema) CascadeClosure(writes []string) []string {
	seed := map[string]op{}
	for _, w := range writes {
		seed[w] = opUpdate | opDelete
	}
	return keysOf(s.closure(seed, false))
}

// closure propagates write operations through foreign keys and inheritance.
// It returns every reached table with the operations that reach it and
// whether it was reached through an edge (not only as a seed).
// truncCascade marks seeds truncated WITH CASCADE.
func (s *Schema) closure(seed map[string]op, truncCascade bool) map[string]bool {
	ops := map[[2]string]op{} // (table, direction) -> operations seen
	viaEdge := map[string]bool{}
	// Inheritance is followed away from where a change came from: up to
	// parents (the changed rows show there) and down to children (a write
	// through a parent reaches their rows, except INSERT). Going back the
	// other way would only find the same rows again.
	const both, up, down = "both", "up", "down"
	type item struct {
		t, dir string
		op     op
	}
	var queue []item
	push := func(t, dir string, o op, edge bool) {
		if edge {
			viaEdge[t] = true
		} else if _, ok := viaEdge[t]; !ok {
			viaEdge[t] = false
		}
		k := [2]string{t, dir}
		if ops[k]&o == o {
			return
		}
		ops[k] |= o
		queue = append(queue, item{t, dir, o})
	}
	for _, t := range keysOf(seed) {
		push(t, both, seed[t], false)
	}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if tb, ok := s.Tables[it.t]; ok && it.dir != down {
			for _, p := range tb.Parents {
				push(p, up, it.op, true)
			}
		}
		for _, un := range keysOf(s.Tables) {
			u := s.Tables[un]
			if it.dir != up && slices.Contains(u.Parents, it.t) {
				if o := it.op &^ opInsert; o != 0 {
					push(un, down, o, true)
				}
			}
			for _, fk := range u.ForeignKeys {
				if fk.RefTable != it.t {
					continue
				}
				var o op
				if it.op&opDelete != 0 {
					switch fk.OnDelete {
					case Cascade:
						o |= opDelete
					case SetNull, SetDefault:
						o |= opUpdate
					}
				}
				if it.op&opUpdate != 0 && fk.OnUpdate != NoAction {
					o |= opUpdate // CASCADE, SET NULL and SET DEFAULT all update referencing rows
				}
				if it.op&opTruncate != 0 && truncCascade {
					o |= opTruncate
				}
				if o != 0 {
					push(un, both, o, true)
				}
			}
		}
	}
	return viaEdge
}
