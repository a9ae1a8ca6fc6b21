package sqlinfo

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Function is a user-defined function from the schema. Calls to it in a
// query are resolved by name (overloads merged conservatively).
type Function struct {
	Name       string
	Volatility string // "volatile" (PostgreSQL's default), "stable" or "immutable"
	Language   string
	// Reads and Writes of a LANGUAGE sql body; BodyKnown is false for other
	// languages, whose table use cannot be seen.
	Reads, Writes []string
	BodyKnown     bool
}

// Trigger is a CREATE TRIGGER on a table. Rows it writes elsewhere are
// invisible to the analysis; @invalidates declares them.
type Trigger struct {
	Name     string
	Function string
}

func funcName(parts []string) string {
	if len(parts) == 2 && (parts[0] == "public" || parts[0] == "pg_catalog") {
		return parts[1]
	}
	return strings.Join(parts, ".")
}

func (s *Schema) createFunction(cf *pg.CreateFunctionStmt) error {
	if cf.IsProcedure {
		return nil // procedures cannot be called from a query
	}
	f := &Function{Name: funcName(strs(cf.Funcname)), Volatility: "volatile"}
	var body []string
	for _, o := range cf.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		switch d.Defname {
		case "volatility":
			if sv := d.Arg.GetString_(); sv != nil {
				f.Volatility = sv.Sval
			}
		case "language":
			if sv := d.Arg.GetString_(); sv != nil {
				f.Language = strings.ToLower(sv.Sval)
			}
		case "as":
			if l := d.Arg.GetList(); l != nil {
				body = strs(l.Items)
			}
		}
	}
	if f.Language == "sql" {
		reads, writes := map[string]int{}, map[string]int{}
		known := true
		if cf.SqlBody != nil { // BEGIN ATOMIC ... END or RETURN expr
			r, w := tablesOf(cf.SqlBody)
			merge(reads, r)
			merge(writes, w)
		} else if len(body) > 0 {
			tree, err := pg.Parse(body[0])
			if err != nil {
				known = false
			} else {
				for _, st := range tree.Stmts {
					r, w := tablesOf(st.Stmt)
					merge(reads, r)
					merge(writes, w)
				}
			}
		}
		f.Reads, f.Writes, f.BodyKnown = keys(reads), keys(writes), known
	}
	if old, ok := s.Functions[f.Name]; ok {
		// Overloads: keep the union and the weakest guarantee.
		f.Reads = sortedUnique(append(f.Reads, old.Reads...))
		f.Writes = sortedUnique(append(f.Writes, old.Writes...))
		f.BodyKnown = f.BodyKnown && old.BodyKnown
		rank := map[string]int{"immutable": 0, "stable": 1, "volatile": 2}
		if rank[old.Volatility] > rank[f.Volatility] {
			f.Volatility = old.Volatility
		}
	}
	s.Functions[f.Name] = f
	return nil
}

func merge(dst map[string]int, src []string) {
	for _, t := range src {
		dst[t]++
	}
}

// tablesOf lists the relations a parsed statement reads and writes.
func tablesOf(n *pg.Node) (reads, writes []string) {
	a := &analyzer{params: numberParams(n), readCount: map[string]int{}, writeCount: map[string]int{}, writeOps: map[string]op{}}
	a.visit(n.ProtoReflect(), nil)
	return keys(a.readCount), keys(a.writeCount)
}

func (s *Schema) createTrigger(ct *pg.CreateTrigStmt) error {
	if ct.Relation == nil {
		return nil
	}
	t, ok := s.Tables[relName(ct.Relation)]
	if !ok {
		return nil // triggers on views (INSTEAD OF) do not matter here
	}
	t.Triggers = append(t.Triggers, Trigger{Name: ct.Trigname, Function: funcName(strs(ct.Funcname))})
	return nil
}

// functionEffects resolves a query's calls to schema functions: tables their
// SQL bodies read (added to the read set) and reasons the result is not
// cacheable without an override.
// Tables the functions read are also added to indirect, tables they write
// to writes.
func (s *Schema) functionEffects(q *Query, reads, indirect, writes map[string]bool, ec *errs) []Volatile {
	var vol []Volatile
	seen := map[string]bool{}
	calls := slices.Clone(q.Info.calls)
	// Views read by the query: their volatile expressions and function
	// calls count as the query's (at the query's first line).
	viewSeen := map[string]bool{}
	var walkView func(name string)
	walkView = func(name string) {
		v, ok := s.Views[name]
		if !ok || viewSeen[name] {
			return
		}
		viewSeen[name] = true
		for _, w := range v.Volatile {
			vol = append(vol, Volatile{What: w + " in view " + name, Offset: -1})
		}
		for _, c := range v.calls {
			calls = append(calls, call{c.name, -1})
		}
		for _, r := range v.Reads {
			walkView(r)
		}
	}
	for _, r := range q.Info.Reads {
		walkView(r)
	}
	for _, c := range calls {
		f, ok := s.Functions[c.name]
		if !ok || seen[c.name] {
			continue
		}
		seen[c.name] = true
		switch {
		case f.Volatility == "volatile":
			vol = append(vol, Volatile{What: f.Name + "() (VOLATILE function)", Offset: c.offset})
		case !f.BodyKnown && f.Volatility != "immutable":
			vol = append(vol, Volatile{What: f.Name + "() (STABLE " + f.Language + " function: tables it reads are unknown)", Offset: c.offset})
		}
		for _, w := range f.Writes {
			writes[w] = true
		}
		for _, r := range f.Reads {
			s.expand(r, indirect, map[string]bool{})
			s.expand(r, reads, map[string]bool{})
		}
	}
	slices.SortStableFunc(vol, func(a, b Volatile) int { return a.Offset - b.Offset })

	return vol
}
