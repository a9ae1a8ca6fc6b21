package sqlinfo

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Analysis is a query combined with the schema: what a cached read depends
// on and what a successful write must invalidate.
type Analysis struct {
	Query Query

	// Reads are the base tables (and materialized views) the result depends
	// on: views expanded, sorted.
	Reads []string
	// Outside are the Reads the schema does not define: system catalogs
	// (pg_catalog, information_schema) or tables created elsewhere. No write
	// the generator sees changes them, so caching such a read needs
	// volatile-ok.
	Outside []string
	// Writes are the tables the SQL writes, including inside SQL functions
	// from the schema that it calls.
	Writes []string
	// Volatile is Query.Info.Volatile plus calls to schema functions that are
	// VOLATILE, or STABLE with a body whose table reads cannot be seen.
	Volatile []Volatile
	// Triggers on written tables ("table.trigger"): rows they write in other
	// tables are only invalidated when @invalidates names those tables.
	Triggers []string
	// Invalidates are all tables whose cached reads a successful execution
	// must invalidate: Writes, @invalidates tables, and what foreign-key
	// actions and inheritance reach from them. Empty for pure reads.
	Invalidates []string

	// ReadKeys: for each read table the statement pins to one row by
	// equality of a whole primary or unique key to parameters, every such key
	// (primary key first). A cached entry depends on that table only through
	// the row with those key values; tables without a ReadKey are table-wide.
	ReadKeys []Key
	// WriteKeys: for each written table whose changed rows are identified by
	// a whole key equal to parameters, every such key. A table in
	// Invalidates without a WriteKey is changed table-wide.
	WriteKeys []Key
	// ReturnedKeys: keys of the written table whose values the statement
	// returns for every row it changes (INSERT/UPDATE/DELETE ... RETURNING
	// with the key columns or *), under the result column names in
	// ResultColumns. They identify the changed rows at run time when no
	// parameter does, typically an INSERT with a database-generated id.
	// Only given when sqlc hands every changed row back: :many and
	// :batchmany, or :one and :batchone when at most one row changes (a
	// single-row INSERT, or a write pinned by a key). The same conditions as
	// for WriteKeys apply.
	ReturnedKeys []Key
	// InsertOnly: the statement only adds rows to its one written table (an
	// INSERT without ON CONFLICT DO UPDATE, nothing else writing it), so
	// entries of existing rows stay valid.
	InsertOnly bool
	// Outputs: for a SELECT from exactly one table, the table column each
	// output column is ("" for an expression), in output order; nil when
	// unknown. The generator uses it to read key values from results.
	Outputs []string
	// KeyLookup: the SELECT reads one table by equality of exactly one
	// whole key to parameters and nothing else (no other condition, limit
	// or lock): its result is "the row with that key", whatever key
	// finds it.
	KeyLookup *Key
}

// Key is a primary or unique key of Table pinned to parameters:
// Columns[i] = $ParamIndexes[i] (1-based, sqlc's numbering).
type Key struct {
	Table         string
	Name          string // constraint or index name
	Columns       []string
	ParamIndexes  []int    // nil for ReturnedKeys
	ResultColumns []string // ReturnedKeys only: result column of each key column
	Primary       bool
}

// SameKey reports whether k and o pin the same key of the same table, so
// their parameter values can be compared to decide whether a write touches
// a cached row.
func (k Key) SameKey(o Key) bool {
	return k.Table == o.Table && slices.Equal(k.Columns, o.Columns)
}

// AnalyzeAll analyses every query, collecting all errors.
func (s *Schema) AnalyzeAll(qs []Query) ([]Analysis, error) {
	var ec errs
	out := make([]Analysis, 0, len(qs))
	for _, q := range qs {
		a, err := s.Analyze(q)
		if err != nil {
			ec.merge(err)
			continue
		}
		out = append(out, a)
	}
	return out, ec.err()
}

// Analyze resolves a parsed query against the schema: tables it does not
// define (system catalogs) are listed in Outside and make @cache an error
// without volatile-ok, views are expanded, keys are detected and the invalidation set is computed.
func (s *Schema) Analyze(q Query) (Analysis, error) {
	var ec errs
	an := Analysis{Query: q, Writes: slices.Clone(q.Info.Writes)}

	reads := map[string]bool{}
	for _, r := range q.Info.Reads {
		s.expand(r, reads, map[string]bool{})
	}
	// Tables read through views or functions are read a second, unpinned
	// time: they can have no read key.
	indirect := map[string]bool{}
	for _, r := range q.Info.Reads {
		if _, isView := s.Views[r]; isView {
			s.expand(r, indirect, map[string]bool{})
		}
	}
	fnWrites := map[string]bool{}
	fnVol := s.functionEffects(&q, reads, indirect, fnWrites, &ec)
	an.Reads = keysOf(reads)
	for _, r := range an.Reads {
		if _, ok := s.Tables[r]; !ok {
			an.Outside = append(an.Outside, r)
		}
	}
	an.Volatile = append(slices.Clone(q.Info.Volatile), fnVol...)
	if c := q.Directives.Cache; c != nil && !c.VolatileOK && len(fnVol) > 0 {
		ec.add(q.File, c.Line, "@cache on %s, which uses %s (line %d); add volatile-ok (or @cache-unsafe) if a cached value is acceptable",
			q.Name, fnVol[0].What, q.SQLLine+lineOf(q.SQL, fnVol[0].Offset))
	}
	// One refusal per query: a volatile one (here or in ParseQueryFile)
	// makes the two below redundant.
	refused := len(an.Volatile) > 0 || q.IsWrite()
	if c := q.Directives.Cache; c != nil && !c.VolatileOK && !refused && len(an.Outside) > 0 {
		ec.add(q.File, c.Line, "@cache on %s, which reads %s, not a table of the schema (a system catalog, or created outside the schema files): no write the generator sees invalidates it; add volatile-ok to @cache if expiry by TTL alone is acceptable",
			q.Name, an.Outside[0])
	}
	if c := q.Directives.Cache; c != nil && !c.VolatileOK && !refused && len(an.Reads) == 0 && len(q.Info.Reads) == 0 && !q.IsWrite() {
		ec.add(q.File, c.Line, "@cache on %s, which reads no table: no write would ever invalidate it; add volatile-ok if only the TTL should expire it", q.Name)
	}
	for _, w := range q.Info.Writes {
		if t, ok := s.Tables[w]; ok {
			for _, tr := range t.Triggers {
				an.Triggers = append(an.Triggers, w+"."+tr.Name)
			}
		}
	}

	seed := map[string]op{}
	for _, w := range q.Info.Writes {
		if _, ok := s.Tables[w]; !ok {
			// A write through a view changes its base tables; a table the
			// schema does not define is invalidated by its name alone.
			base := map[string]bool{}
			s.expand(w, base, map[string]bool{})
			for b := range base {
				seed[b] |= opAll
			}
			continue
		}
		seed[w] |= q.Info.writeOps[w]
	}
	for _, w := range q.Directives.Invalidates {
		if _, ok := s.Tables[w]; !ok {
			ec.add(q.File, q.Line, "@invalidates names unknown table %s", w)
			continue
		}
		seed[w] |= opAll
	}
	for _, w := range keysOf(fnWrites) {
		// Tables written inside a called SQL function: any operation.
		if _, ok := s.Tables[w]; ok {
			seed[w] |= opAll
			an.Writes = append(an.Writes, w)
		}
	}
	an.Writes = sortedUnique(an.Writes)
	if err := ec.err(); err != nil {
		return an, err
	}
	reached := s.closure(seed, q.Info.truncCascade)
	an.Invalidates = keysOf(reached)

	sh := q.Info.shape
	if sh == nil {
		return an, nil
	}
	switch sh.kind {
	case kindSelect:
		an.ReadKeys = s.readKeys(q, sh, indirect)
		an.Outputs = s.selectOutputs(q, sh)
		if an.Outputs != nil && sh.onlyPins && len(sh.pins) > 0 {
			// A lookup of one row by exactly one whole key, nothing else.
			for _, k := range an.ReadKeys {
				if len(k.Columns) == len(sh.pins) {
					k := k
					an.KeyLookup = &k
					break
				}
			}
		}
	case kindUpdate, kindDelete, kindInsert:
		t := sh.items[0].table
		// Keys only when this statement is the only write to the table and
		// nothing else (cascade, trigger, inheritance) changes it too.
		if q.Info.writeCount[t] == 1 && !reached[t] && !fnWrites[t] && !slices.Contains(q.Directives.Invalidates, t) {
			an.InsertOnly = sh.kind == kindInsert && sh.conflict != pg.OnConflictAction_ONCONFLICT_UPDATE && len(an.Writes) == 1
			an.WriteKeys = s.writeKeys(sh)
			an.ReturnedKeys = s.returnedKeys(sh)
			switch q.Cmd {
			case CmdMany, CmdBatchMany: // every returned row reaches the caller
			case CmdOne, CmdBatchOne:
				// sqlc reads only the first row: usable only when the
				// statement changes at most one row.
				single := (sh.kind == kindInsert && len(sh.insVals) > 0) || len(an.WriteKeys) > 0
				if !single {
					an.ReturnedKeys = nil
				}
			default:
				an.ReturnedKeys = nil // sqlc discards the rows
			}
		}
	}
	return an, nil
}

// expand adds r, or the base relations of view r, to out. A name the
// schema does not define (a system catalog, information_schema) is added as
// it is, and expand reports false.
func (s *Schema) expand(r string, out, seen map[string]bool) bool {
	if _, ok := s.Tables[r]; ok {
		out[r] = true
		return true
	}
	v, ok := s.Views[r]
	if !ok {
		out[r] = true
		return false
	}
	if seen[r] {
		return true
	}
	seen[r] = true
	all := true
	for _, x := range v.Reads {
		all = s.expand(x, out, seen) && all
	}
	return all
}

// resolve finds the item a pinned column belongs to, or -1.
func (s *Schema) resolve(p pin, items []fromItem) int {
	if p.qual != "" {
		found := -1
		for i, it := range items {
			if it.name == p.qual {
				if found >= 0 {
					return -1
				}
				found = i
			}
		}
		return found
	}
	// Unqualified: the one real table that has the column. PostgreSQL
	// rejects ambiguous references, so a valid query has at most one; a
	// view, subquery, CTE or function could expose the column too, so give
	// up when there is one.
	found := -1
	for i, it := range items {
		t, ok := s.Tables[it.table]
		if !ok {
			return -1
		}
		if slices.Contains(t.Columns, p.col) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// pinned maps each column of item i to the first parameter it is pinned to.
func (s *Schema) pinned(sh *shape, i int) map[string]int {
	m := map[string]int{}
	for _, p := range sh.pins {
		if p.only != nil && !p.only[sh.items[i].name] {
			continue
		}
		if s.resolve(p, sh.items) != i {
			continue
		}
		if _, dup := m[p.col]; !dup {
			m[p.col] = p.param
		}
	}
	return m
}

func coveredKeys(t *Table, pinned map[string]int, skip func(UniqueKey) bool) []Key {
	var out []Key
	for i, k := range t.Keys() {
		if skip != nil && skip(k) {
			continue
		}
		params := make([]int, 0, len(k.Columns))
		for _, c := range k.Columns {
			p, ok := pinned[c]
			if !ok {
				break
			}
			params = append(params, p)
		}
		if len(params) != len(k.Columns) {
			continue
		}
		out = append(out, Key{Table: t.Name, Name: k.Name, Columns: slices.Clone(k.Columns),
			ParamIndexes: params, Primary: i == 0 && t.PrimaryKey != nil})
	}
	return out
}

func (s *Schema) readKeys(q Query, sh *shape, indirect map[string]bool) []Key {
	var out []Key
	for i, it := range sh.items {
		t, ok := s.Tables[it.table]
		if it.table == "" || !ok || q.Info.readCount[it.table] != 1 || indirect[it.table] {
			continue // CTE, subquery, view, or a table read more than once or indirectly
		}
		out = append(out, coveredKeys(t, s.pinned(sh, i), nil)...)
	}
	return out
}

func (s *Schema) writeKeys(sh *shape) []Key {
	t, ok := s.Tables[sh.items[0].table]
	if !ok {
		return nil
	}
	// A write that assigns key columns moves rows to other key values.
	touches := func(k UniqueKey) bool { return touchesKey(t, sh, k) }
	switch sh.kind {
	case kindUpdate, kindDelete:
		return coveredKeys(t, s.pinned(sh, 0), touches)
	case kindInsert:
		if len(sh.insVals) == 0 {
			return nil // INSERT ... SELECT or several rows
		}
		cols := sh.insCols
		if len(cols) == 0 {
			if t.columnsPartial {
				return nil
			}
			cols = t.Columns
		}
		if len(sh.insVals) > len(cols) {
			return nil
		}
		pinned := map[string]int{}
		for i, p := range sh.insVals {
			if p > 0 {
				pinned[cols[i]] = p
			}
		}
		switch sh.conflict {
		case pg.OnConflictAction_ONCONFLICT_UPDATE:
			// The changed row is the conflicting one: only the conflict
			// target identifies it.
			if sh.conflictBad {
				return nil
			}
			target := func(k UniqueKey) bool {
				if sh.conflictName != "" {
					return k.Name != sh.conflictName
				}
				a, b := slices.Clone(k.Columns), slices.Clone(sh.conflictCols)
				slices.Sort(a)
				slices.Sort(b)
				return !slices.Equal(a, b)
			}
			return coveredKeys(t, pinned, func(k UniqueKey) bool { return target(k) || touches(k) })
		default:
			// Plain insert or DO NOTHING: the only possible change is the
			// new row, which carries every pinned key.
			return coveredKeys(t, pinned, nil)
		}
	}
	return nil
}

func (s *Schema) returnedKeys(sh *shape) []Key {
	t, ok := s.Tables[sh.items[0].table]
	if !ok || len(sh.returning) == 0 {
		return nil
	}
	out := map[string]string{} // target column -> result column
	for _, r := range sh.returning {
		if r.star {
			if t.columnsPartial {
				return nil // cannot tell which columns * returns
			}
			for _, c := range t.Columns {
				if _, dup := out[c]; !dup {
					out[c] = c
				}
			}
			continue
		}
		if !slices.Contains(t.Columns, r.col) {
			continue // a column of another FROM item, or unknown
		}
		if _, dup := out[r.col]; !dup {
			out[r.col] = r.out
		}
	}
	var keys []Key
	for i, k := range t.Keys() {
		if sh.kind != kindInsert && touchesKey(t, sh, k) {
			continue // RETURNING shows the new values; the old ones are lost
		}
		if sh.kind == kindInsert && sh.conflict == pg.OnConflictAction_ONCONFLICT_UPDATE && touchesKey(t, sh, k) {
			continue
		}
		var res []string
		for _, c := range k.Columns {
			if o, ok := out[c]; ok {
				res = append(res, o)
			}
		}
		if len(res) != len(k.Columns) {
			continue
		}
		keys = append(keys, Key{Table: t.Name, Name: k.Name, Columns: slices.Clone(k.Columns),
			ResultColumns: res, Primary: i == 0 && t.PrimaryKey != nil})
	}
	return keys
}

// touchesKey reports whether the write's SET list may change key k: it
// assigns a key column, or assigns anything while the key includes a
// generated column (computed from columns we do not trace).
func touchesKey(t *Table, sh *shape, k UniqueKey) bool {
	for _, c := range k.Columns {
		if slices.Contains(sh.setCols, c) {
			return true
		}
		if len(sh.setCols) > 0 && slices.Contains(t.Generated, c) {
			return true
		}
	}
	return false
}

// String renders a key as table(col=$n, ...), for messages and tests.
func (k Key) String() string {
	var b strings.Builder
	b.WriteString(k.Table)
	b.WriteByte('(')
	for i, c := range k.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
		if k.ParamIndexes != nil {
			b.WriteString("=$")
			b.WriteString(strconv.Itoa(k.ParamIndexes[i]))
		} else if k.ResultColumns != nil {
			b.WriteString("=row.")
			b.WriteString(k.ResultColumns[i])
		}
	}
	b.WriteByte(')')
	return b.String()
}

// selectOutputs expands a single-table SELECT's target list to the table
// column of each output column.
func (s *Schema) selectOutputs(q Query, sh *shape) []string {
	if len(sh.outputs) == 0 || len(sh.items) != 1 {
		return nil
	}
	t, ok := s.Tables[sh.items[0].table]
	if !ok || q.Info.readCount[t.Name] != 1 {
		return nil
	}
	var out []string
	for _, o := range sh.outputs {
		switch {
		case o.star:
			if t.columnsPartial {
				return nil
			}
			out = append(out, t.Columns...)
		case o.col != "" && slices.Contains(t.Columns, o.col):
			out = append(out, o.col)
		default:
			out = append(out, "")
		}
	}
	return out
}
