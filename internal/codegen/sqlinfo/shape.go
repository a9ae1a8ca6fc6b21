package sqlinfo

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// The shape of the top-level statement: just enough to find equality pins
// of columns to parameters once a schema says which columns form keys.

type stmtKind int

const (
	kindOther stmtKind = iota
	kindSelect
	kindInsert
	kindUpdate
	kindDelete
)

type fromItem struct {
	table string // normalised relation name; "" for subqueries, functions, CTEs
	name  string // how columns qualify it: alias, else relation name
}

type pin struct {
	qual, col string
	param     int
	only      map[string]bool // item names the pin may bind to; nil = any
}

type shape struct {
	kind  stmtKind
	items []fromItem // for UPDATE/DELETE/INSERT items[0] is the target
	pins  []pin

	setCols []string // UPDATE SET / ON CONFLICT DO UPDATE SET columns

	insCols      []string // explicit INSERT column list
	insVals      []int    // param number per value of the single VALUES row, 0 = not a param
	conflict     pg.OnConflictAction
	conflictCols []string // ON CONFLICT (cols)
	conflictName string   // ON CONFLICT ON CONSTRAINT name
	conflictBad  bool     // expression or partial-index inference: no usable key

	returning []retCol // RETURNING list of a write
	// outputs: a single-item SELECT's target list, one entry per output
	// column ("" col for anything but a plain column of the item).
	outputs []retCol
	// onlyPins: a SELECT whose WHERE is nothing but "column = parameter"
	// conjuncts, without LIMIT, OFFSET, locking, HAVING or WITH.
	onlyPins bool
}

// retCol is one RETURNING item: a target column under an output name, or *.
type retCol struct {
	out, col string
	star     bool
}

func (a *analyzer) shapeOf(root *pg.Node) *shape {
	s := &shape{}
	switch {
	case root.GetSelectStmt() != nil:
		st := root.GetSelectStmt()
		if st.Op > pg.SetOperation_SETOP_NONE {
			return s // UNION & co: no keys, reads are table-wide
		}
		s.kind = kindSelect
		for _, f := range st.FromClause {
			a.fromItems(f, s)
		}
		a.pinsFrom(st.WhereClause, nil, s)
		if len(s.items) == 1 && len(st.GroupClause) == 0 && st.DistinctClause == nil {
			s.outputs = outputs(st.TargetList, s.items[0].name)
			s.onlyPins = st.WhereClause != nil && st.LimitCount == nil && st.LimitOffset == nil &&
				len(st.LockingClause) == 0 && st.HavingClause == nil && st.WithClause == nil &&
				len(st.WindowClause) == 0 && a.onlyPins(st.WhereClause)
		}
	case root.GetUpdateStmt() != nil:
		st := root.GetUpdateStmt()
		s.kind = kindUpdate
		s.items = append(s.items, targetItem(st.Relation))
		s.setCols = resNames(st.TargetList)
		for _, f := range st.FromClause {
			a.fromItems(f, s)
		}
		a.pinsFrom(st.WhereClause, nil, s)
		s.returning = returning(st.ReturningList, s.items[0].name)
	case root.GetDeleteStmt() != nil:
		st := root.GetDeleteStmt()
		s.kind = kindDelete
		s.items = append(s.items, targetItem(st.Relation))
		for _, f := range st.UsingClause {
			a.fromItems(f, s)
		}
		a.pinsFrom(st.WhereClause, nil, s)
		s.returning = returning(st.ReturningList, s.items[0].name)
	case root.GetInsertStmt() != nil:
		st := root.GetInsertStmt()
		s.kind = kindInsert
		s.items = append(s.items, targetItem(st.Relation))
		s.insCols = resNames(st.Cols)
		s.returning = returning(st.ReturningList, s.items[0].name)
		if sel := st.SelectStmt.GetSelectStmt(); sel != nil && len(sel.ValuesLists) == 1 && len(sel.FromClause) == 0 {
			for _, v := range sel.ValuesLists[0].GetList().GetItems() {
				s.insVals = append(s.insVals, a.paramIndex(v))
			}
		}
		if oc := st.OnConflictClause; oc != nil {
			s.conflict = oc.Action
			s.setCols = resNames(oc.TargetList)
			if inf := oc.Infer; inf != nil {
				s.conflictName = inf.Conname
				if inf.WhereClause != nil {
					s.conflictBad = true
				}
				for _, e := range inf.IndexElems {
					ie := e.GetIndexElem()
					if ie == nil || ie.Name == "" {
						s.conflictBad = true
						continue
					}
					s.conflictCols = append(s.conflictCols, ie.Name)
				}
			}
		}
	}
	return s
}

func targetItem(rv *pg.RangeVar) fromItem {
	it := fromItem{table: relName(rv), name: rv.Relname}
	if rv.Alias != nil {
		it.name = rv.Alias.Aliasname
	}
	return it
}

func resNames(list []*pg.Node) []string {
	var out []string
	for _, n := range list {
		if rt := n.GetResTarget(); rt != nil && rt.Name != "" {
			out = append(out, rt.Name)
		}
	}
	return out
}

// fromItems adds the relations of one FROM entry and the pins its join
// conditions imply, returning the item names it added. An outer join's
// condition restricts only the rows of its nullable side.
func (a *analyzer) fromItems(n *pg.Node, s *shape) []string {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		it := targetItem(rv)
		if a.isCTE(rv, a.top) {
			it.table = ""
		}
		s.items = append(s.items, it)
		return []string{it.name}
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		ln := a.fromItems(j.Larg, s)
		rn := a.fromItems(j.Rarg, s)
		if j.Quals != nil && !j.IsNatural && len(j.UsingClause) == 0 {
			switch j.Jointype {
			case pg.JoinType_JOIN_INNER:
				a.pinsFrom(j.Quals, nil, s)
			case pg.JoinType_JOIN_LEFT:
				a.pinsFrom(j.Quals, set(rn), s)
			case pg.JoinType_JOIN_RIGHT:
				a.pinsFrom(j.Quals, set(ln), s)
			}
		}
		return append(ln, rn...)
	case n.GetRangeSubselect() != nil:
		name := ""
		if al := n.GetRangeSubselect().Alias; al != nil {
			name = al.Aliasname
		}
		s.items = append(s.items, fromItem{name: name})
		return []string{name}
	case n.GetRangeFunction() != nil:
		name := ""
		if al := n.GetRangeFunction().Alias; al != nil {
			name = al.Aliasname
		}
		s.items = append(s.items, fromItem{name: name})
		return []string{name}
	}
	s.items = append(s.items, fromItem{})
	return nil
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func conjuncts(n *pg.Node, out []*pg.Node) []*pg.Node {
	if n == nil {
		return out
	}
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		for _, x := range b.Args {
			out = conjuncts(x, out)
		}
		return out
	}
	return append(out, n)
}

// pinsFrom records "column = parameter" conjuncts of expr (either order,
// casts on the parameter allowed, row comparisons (a, b) = ($1, $2) too).
func (a *analyzer) pinsFrom(expr *pg.Node, only map[string]bool, s *shape) {
	for _, c := range conjuncts(expr, nil) {
		e := c.GetAExpr()
		if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP {
			continue
		}
		if n := strs(e.Name); len(n) != 1 || n[0] != "=" {
			continue
		}
		l, r := e.Lexpr, e.Rexpr
		lr, rr := l.GetRowExpr(), r.GetRowExpr()
		if lr != nil && rr != nil && len(lr.Args) == len(rr.Args) {
			for i := range lr.Args {
				a.pinPair(lr.Args[i], rr.Args[i], only, s)
			}
			continue
		}
		a.pinPair(l, r, only, s)
	}
}

// onlyPins reports whether every conjunct of expr is "column = parameter"
// (either order).
func (a *analyzer) onlyPins(expr *pg.Node) bool {
	for _, c := range conjuncts(expr, nil) {
		e := c.GetAExpr()
		if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP {
			return false
		}
		if n := strs(e.Name); len(n) != 1 || n[0] != "=" {
			return false
		}
		_, _, lc := colRef(e.Lexpr)
		_, _, rc := colRef(e.Rexpr)
		if !(lc && a.paramIndex(e.Rexpr) > 0) && !(rc && a.paramIndex(e.Lexpr) > 0) {
			return false
		}
	}
	return true
}

func (a *analyzer) pinPair(l, r *pg.Node, only map[string]bool, s *shape) {
	if q, c, ok := colRef(l); ok {
		if p := a.paramIndex(r); p > 0 {
			s.pins = append(s.pins, pin{q, c, p, only})
			return
		}
	}
	if q, c, ok := colRef(r); ok {
		if p := a.paramIndex(l); p > 0 {
			s.pins = append(s.pins, pin{q, c, p, only})
		}
	}
}

// colRef accepts col, rel.col and schema.rel.col; a cast on the column is
// not accepted because it can change what equality means.
func colRef(n *pg.Node) (qual, col string, ok bool) {
	c := n.GetColumnRef()
	if c == nil {
		return "", "", false
	}
	f := strs(c.Fields)
	if len(f) != len(c.Fields) {
		return "", "", false // a.* and the like
	}
	switch len(f) {
	case 1:
		return "", f[0], true
	case 2:
		return f[0], f[1], true
	case 3:
		return f[1], f[2], true
	}
	return "", "", false
}

// paramIndex is the $n an expression stands for, or 0.
func (a *analyzer) paramIndex(n *pg.Node) int {
	switch {
	case n == nil:
		return 0
	case n.GetParamRef() != nil:
		return int(n.GetParamRef().Number)
	case n.GetTypeCast() != nil:
		return a.paramIndex(n.GetTypeCast().Arg)
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall()
		if name := strs(f.Funcname); len(name) == 2 && name[1] == "slice" {
			return 0 // a list, never a single-row pin
		}
		return a.params.byNode[f]
	case n.GetAExpr() != nil:
		return a.params.byNode[n.GetAExpr()]
	}
	return 0
}

// returning lists the RETURNING items that are plain columns (qualified by
// the target's name or not) or a star.
func returning(list []*pg.Node, target string) []retCol {
	var out []retCol
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			continue
		}
		c := rt.Val.GetColumnRef()
		if c == nil || len(c.Fields) == 0 {
			continue
		}
		f := c.Fields
		if len(f) > 1 {
			q := strs(f[:len(f)-1])
			if len(q) != len(f)-1 || q[len(q)-1] != target {
				continue
			}
		}
		last := f[len(f)-1]
		if last.GetAStar() != nil {
			out = append(out, retCol{star: true})
			continue
		}
		if sv := last.GetString_(); sv != nil {
			name := rt.Name
			if name == "" {
				name = sv.Sval
			}
			out = append(out, retCol{out: name, col: sv.Sval})
		}
	}
	return out
}

// outputs lists a SELECT's output columns in order: plain columns of the
// one FROM item (qualified by its name or not) by column, a star as one
// entry to expand, anything else as an entry with no column.
func outputs(list []*pg.Node, item string) []retCol {
	out := make([]retCol, 0, len(list))
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			return nil
		}
		c := rt.Val.GetColumnRef()
		if c == nil || len(c.Fields) == 0 {
			out = append(out, retCol{out: rt.Name})
			continue
		}
		f := c.Fields
		if len(f) > 1 {
			q := strs(f[:len(f)-1])
			if len(q) != len(f)-1 || q[len(q)-1] != item {
				out = append(out, retCol{out: rt.Name})
				continue
			}
		}
		last := f[len(f)-1]
		if last.GetAStar() != nil {
			out = append(out, retCol{star: true})
			continue
		}
		sv := last.GetString_()
		if sv == nil {
			out = append(out, retCol{out: rt.Name})
			continue
		}
		name := rt.Name
		if name == "" {
			name = sv.Sval
		}
		out = append(out, retCol{out: name, col: sv.Sval})
	}
	return out
}
