package sqlinfo

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Info is what one statement's SQL says without a schema.
type Info struct {
	// Reads are the tables (or views) the statement reads, CTE names
	// removed, normalised ("public.x" and "x" are both "x"), sorted. The target
	// of a write is not listed unless it is also read elsewhere.
	Reads []string
	// Writes are the tables the statement inserts into, updates, deletes
	// from, merges into or truncates, including from data-modifying CTEs.
	Writes []string
	// Volatile names what makes the result change without any table write:
	// volatile functions, CURRENT_TIMESTAMP and friends, 'now'::timestamp
	// literals and row-locking clauses (FOR UPDATE ...). In order of appearance.
	Volatile []Volatile
	// Params is the highest parameter number ($n) after numbering sqlc's named
	// parameters the way sqlc does (sqlc.arg, sqlc.narg, sqlc.slice, @name).
	Params int

	shape        *shape
	readCount    map[string]int
	writeCount   map[string]int
	writeOps     map[string]op
	truncCascade bool
	calls        []call
}

// call is a function call that may resolve to a user-defined function.
type call struct {
	name   string
	offset int
}

// Volatile is one reason a statement's result is not a function of table
// contents.
type Volatile struct {
	What   string // e.g. "now()", "FOR UPDATE"
	Offset int    // byte offset in the statement text
}

// AnalyzeSQL analyses one statement, for instance the SQL text sqlc emitted
// (named parameters already rewritten to $n), which is the most faithful input
// for parameter numbers. Errors carry no file name.
func AnalyzeSQL(sql string) (Info, error) {
	info, err := analyzeSQL(sql)
	if err != nil {
		return info, &Error{File: "<sql>", Line: 1 + lineOf(sql, err.pos), Msg: err.msg}
	}
	return info, nil
}

type sqlErr struct {
	pos int
	msg string
}

func analyzeSQL(sql string) (info Info, serr *sqlErr) {
	defer func() {
		// pg_query has been robust in fuzzing, but a panic in the walker on
		// some unforeseen tree must become an error, never a crashed generator.
		if r := recover(); r != nil {
			serr = &sqlErr{0, fmt.Sprintf("internal error analysing SQL: %v", r)}
		}
	}()
	tree, err := pg.Parse(sql)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			pos := pe.Cursorpos - 1 // 1-based character position
			return info, &sqlErr{byteOffset(sql, pos), "syntax error: " + pe.Message}
		}
		return info, &sqlErr{0, "syntax error: " + err.Error()}
	}
	if n := len(tree.Stmts); n != 1 {
		if n == 0 {
			return info, &sqlErr{0, "no statement"}
		}
		return info, &sqlErr{int(tree.Stmts[1].StmtLocation), fmt.Sprintf("holds %d statements, and sqlc's generated code runs only the first: give each statement its own \"-- name:\" query", n)}
	}
	root := tree.Stmts[0].Stmt
	a := &analyzer{
		params:     numberParams(root),
		readCount:  map[string]int{},
		writeCount: map[string]int{},
		writeOps:   map[string]op{},
	}
	a.visit(root.ProtoReflect(), nil)
	info.Reads = keys(a.readCount)
	info.Writes = keys(a.writeCount)
	info.Volatile = a.volatile
	info.Params = a.params.max
	info.readCount = a.readCount
	info.writeCount = a.writeCount
	info.writeOps = a.writeOps
	info.truncCascade = a.truncCascade
	info.calls = a.calls
	info.shape = a.shapeOf(root)
	return info, nil
}

// byteOffset converts a character (rune) index to a byte offset.
func byteOffset(s string, chars int) int {
	if chars <= 0 {
		return 0
	}
	n := 0
	for i := range s {
		if n == chars {
			return i
		}
		n++
	}
	return len(s)
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// eachChild calls fn for every message-typed field of m in field-number order,
// which matches the order of the C structs and so sqlc's own AST walk.
func eachChild(m protoreflect.Message, fn func(name protoreflect.Name, c protoreflect.Message)) {
	if _, ok := m.Interface().(*pg.Node); ok {
		// Node is a oneof over ~270 node types: ask which one is set
		// instead of probing every field (which made the walk 15x slower
		// than the parse).
		if fd := m.WhichOneof(nodeOneof); fd != nil {
			fn(fd.Name(), m.Get(fd).Message())
		}
		return
	}
	fds := m.Descriptor().Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if fd.Kind() != protoreflect.MessageKind {
			continue
		}
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				fn(fd.Name(), l.Get(j).Message())
			}
			continue
		}
		if m.Has(fd) {
			fn(fd.Name(), m.Get(fd).Message())
		}
	}
}

var nodeOneof = (&pg.Node{}).ProtoReflect().Descriptor().Oneofs().ByName("node")

// paramNumbers maps sqlc named-parameter nodes to the $n sqlc gives them:
// explicit $n keep their number, each new name takes the lowest free number
// in walk order, a repeated name reuses its number.
type paramNumbers struct {
	byNode map[any]int
	max    int
}

func numberParams(root *pg.Node) paramNumbers {
	used := map[int]bool{}
	type named struct {
		node any
		name string
	}
	var order []named
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		switch x := m.Interface().(type) {
		case *pg.ParamRef:
			used[int(x.Number)] = true
			return
		case *pg.FuncCall:
			if name, ok := sqlcParamFunc(x); ok {
				order = append(order, named{x, name})
				return
			}
		case *pg.A_Expr:
			if name, ok := atParam(x); ok {
				order = append(order, named{x, name})
				return
			}
		}
		eachChild(m, func(_ protoreflect.Name, c protoreflect.Message) { walk(c) })
	}
	walk(root.ProtoReflect())
	p := paramNumbers{byNode: map[any]int{}}
	for n := range used {
		p.max = max(p.max, n)
	}
	byName := map[string]int{}
	next := 1
	for _, o := range order {
		n, ok := byName[o.name]
		if !ok {
			for used[next] {
				next++
			}
			n = next
			used[n] = true
			byName[o.name] = n
		}
		p.byNode[o.node] = n
		p.max = max(p.max, n)
	}
	return p
}

func strs(nodes []*pg.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			out = append(out, s.Sval)
		}
	}
	return out
}

// sqlcParamFunc recognises sqlc.arg(x), sqlc.narg(x) and sqlc.slice(x).
func sqlcParamFunc(f *pg.FuncCall) (string, bool) {
	name := strs(f.Funcname)
	if len(name) != 2 || name[0] != "sqlc" || len(f.Args) != 1 {
		return "", false
	}
	switch name[1] {
	case "arg", "narg", "slice":
	default:
		return "", false
	}
	a := f.Args[0]
	if c := a.GetColumnRef(); c != nil {
		return strings.Join(strs(c.Fields), "."), true
	}
	if k := a.GetAConst(); k != nil && k.GetSval() != nil {
		return k.GetSval().Sval, true
	}
	return "", false
}

// atParam recognises sqlc's @name shorthand, which PostgreSQL parses as the
// prefix operator @ applied to a column reference (possibly cast).
func atParam(e *pg.A_Expr) (string, bool) {
	if e.Lexpr != nil || e.Rexpr == nil {
		return "", false
	}
	if n := strs(e.Name); len(n) != 1 || n[0] != "@" {
		return "", false
	}
	r := e.Rexpr
	if tc := r.GetTypeCast(); tc != nil {
		r = tc.Arg
	}
	if c := r.GetColumnRef(); c != nil {
		return strings.Join(strs(c.Fields), "."), true
	}
	return "", false
}

type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) has(n string) bool {
	for ; s != nil; s = s.parent {
		if s.names[n] {
			return true
		}
	}
	return false
}

type analyzer struct {
	params       paramNumbers
	readCount    map[string]int
	writeCount   map[string]int
	writeOps     map[string]op
	truncCascade bool
	volatile     []Volatile
	calls        []call
	top          *scope // CTE scope of the top-level statement
	topSet       bool
}

func relName(rv *pg.RangeVar) string {
	if rv.Schemaname == "" || rv.Schemaname == "public" {
		return rv.Relname
	}
	return rv.Schemaname + "." + rv.Relname
}

func (a *analyzer) isCTE(rv *pg.RangeVar, sc *scope) bool {
	return rv.Schemaname == "" && sc.has(rv.Relname)
}

func (a *analyzer) with(wc *pg.WithClause, sc *scope) *scope {
	if wc == nil {
		return sc
	}
	ns := &scope{names: map[string]bool{}, parent: sc}
	// The first WITH seen is the top-level statement's: record its scope
	// before the CTE bodies (visited next) can claim the top slot.
	a.setTop(ns)
	if wc.Recursive {
		for _, c := range wc.Ctes {
			ns.names[c.GetCommonTableExpr().GetCtename()] = true
		}
	}
	for _, c := range wc.Ctes {
		cte := c.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		if cte.Ctequery != nil {
			a.visit(cte.Ctequery.ProtoReflect(), ns)
		}
		// A non-recursive CTE is visible only to the CTEs after it.
		ns.names[cte.Ctename] = true
	}
	return ns
}

func (a *analyzer) setTop(sc *scope) {
	if !a.topSet {
		a.top, a.topSet = sc, true
	}
}

func (a *analyzer) write(rv *pg.RangeVar, o op) {
	if rv != nil {
		n := relName(rv)
		a.writeCount[n]++
		a.writeOps[n] |= o
	}
}

// children visits the message fields of m except those named in skip.
func (a *analyzer) children(m protoreflect.Message, sc *scope, skip ...protoreflect.Name) {
	eachChild(m, func(name protoreflect.Name, c protoreflect.Message) {
		if slices.Contains(skip, name) {
			return
		}
		a.visit(c, sc)
	})
}

func (a *analyzer) visit(m protoreflect.Message, sc *scope) {
	switch x := m.Interface().(type) {
	case *pg.SelectStmt:
		sc = a.with(x.WithClause, sc)
		a.setTop(sc)
		a.children(m, sc, "with_clause")
		return
	case *pg.InsertStmt:
		sc = a.with(x.WithClause, sc)
		a.setTop(sc)
		o := opInsert
		if x.OnConflictClause != nil && x.OnConflictClause.Action == pg.OnConflictAction_ONCONFLICT_UPDATE {
			o |= opUpdate
		}
		a.write(x.Relation, o)
		a.children(m, sc, "with_clause", "relation")
		return
	case *pg.UpdateStmt:
		sc = a.with(x.WithClause, sc)
		a.setTop(sc)
		a.write(x.Relation, opUpdate)
		a.children(m, sc, "with_clause", "relation")
		return
	case *pg.DeleteStmt:
		sc = a.with(x.WithClause, sc)
		a.setTop(sc)
		a.write(x.Relation, opDelete)
		a.children(m, sc, "with_clause", "relation")
		return
	case *pg.MergeStmt:
		sc = a.with(x.WithClause, sc)
		a.setTop(sc)
		a.write(x.Relation, opInsert|opUpdate|opDelete)
		a.children(m, sc, "with_clause", "relation")
		return
	case *pg.TruncateStmt:
		for _, r := range x.Relations {
			a.write(r.GetRangeVar(), opTruncate)
		}
		if x.Behavior == pg.DropBehavior_DROP_CASCADE {
			a.truncCascade = true
		}
		return
	case *pg.RefreshMatViewStmt:
		a.write(x.Relation, opAll)
		return
	case *pg.IntoClause:
		a.write(x.Rel, opInsert) // SELECT ... INTO creates and fills a table
		return
	case *pg.RangeVar:
		if !a.isCTE(x, sc) {
			a.readCount[relName(x)]++
		}
		return
	case *pg.LockingClause:
		a.volatile = append(a.volatile, Volatile{What: lockName(x.Strength), Offset: -1})
		return // LockedRels name aliases, not tables
	case *pg.FuncCall:
		if _, ok := sqlcParamFunc(x); ok {
			return
		}
		if name := strs(x.Funcname); len(name) > 0 {
			fn := name[len(name)-1]
			if volatileFuncs[fn] && (len(name) == 1 || name[0] == "pg_catalog" || name[0] == "public") {
				a.volatile = append(a.volatile, Volatile{What: fn + "()", Offset: int(x.Location)})
			} else {
				a.calls = append(a.calls, call{funcName(name), int(x.Location)})
			}
		}
	case *pg.SQLValueFunction:
		if w := volatileSVF(x.Op); w != "" {
			a.volatile = append(a.volatile, Volatile{What: w, Offset: int(x.Location)})
		}
	case *pg.TypeCast:
		if w := volatileLiteral(x); w != "" {
			a.volatile = append(a.volatile, Volatile{What: w, Offset: int(x.Location)})
		}
	}
	a.children(m, sc)
}

// volatileFuncs are built-in functions whose result differs between calls
// with the same arguments or within no table write (timestamps, random
// values, sequences, transaction ids, sleeping, advisory locks).
var volatileFuncs = map[string]bool{
	"now": true, "transaction_timestamp": true, "statement_timestamp": true,
	"clock_timestamp": true, "timeofday": true,
	"random": true, "random_normal": true, "setseed": true,
	"gen_random_uuid": true, "uuidv4": true, "uuidv7": true,
	"uuid_generate_v1": true, "uuid_generate_v1mc": true, "uuid_generate_v4": true,
	"nextval": true, "currval": true, "lastval": true, "setval": true,
	"txid_current": true, "pg_current_xact_id": true,
	"pg_sleep": true, "pg_sleep_for": true, "pg_sleep_until": true,
	"pg_advisory_lock": true, "pg_try_advisory_lock": true,
	"pg_advisory_xact_lock": true, "pg_try_advisory_xact_lock": true,
	"pg_advisory_lock_shared": true, "pg_try_advisory_lock_shared": true,
	"pg_advisory_xact_lock_shared": true, "pg_try_advisory_xact_lock_shared": true,
	"pg_advisory_unlock": true, "pg_advisory_unlock_shared": true, "pg_advisory_unlock_all": true,
	"pg_notify": true, "set_config": true,
}

func volatileSVF(op pg.SQLValueFunctionOp) string {
	switch op {
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return "CURRENT_DATE"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:
		return "CURRENT_TIME"
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return "CURRENT_TIMESTAMP"
	case pg.SQLValueFunctionOp_SVFOP_LOCALTIME, pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return "LOCALTIME"
	case pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return "LOCALTIMESTAMP"
	}
	return ""
}

// volatileLiteral catches 'now'::timestamptz and the like, which PostgreSQL
// evaluates when the statement runs.
func volatileLiteral(tc *pg.TypeCast) string {
	k := tc.GetArg().GetAConst()
	if k == nil || k.GetSval() == nil || tc.TypeName == nil {
		return ""
	}
	v := strings.ToLower(strings.TrimSpace(k.GetSval().Sval))
	switch v {
	case "now", "today", "tomorrow", "yesterday":
	default:
		return ""
	}
	t := strs(tc.TypeName.Names)
	if len(t) == 0 {
		return ""
	}
	switch t[len(t)-1] {
	case "timestamp", "timestamptz", "date", "time", "timetz":
		return fmt.Sprintf("'%s'::%s", v, t[len(t)-1])
	}
	return ""
}

func lockName(s pg.LockClauseStrength) string {
	switch s {
	case pg.LockClauseStrength_LCS_FORKEYSHARE:
		return "FOR KEY SHARE"
	case pg.LockClauseStrength_LCS_FORSHARE:
		return "FOR SHARE"
	case pg.LockClauseStrength_LCS_FORNOKEYUPDATE:
		return "FOR NO KEY UPDATE"
	default:
		return "FOR UPDATE"
	}
}

// normaliseName turns a user-written table name into the form the analyser
// uses: unquoted parts lower-cased, quotes removed, "public." dropped.
func normaliseName(s string) (string, bool) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) > 2 {
		return "", false
	}
	for i, p := range parts {
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = p[1 : len(p)-1]
		} else {
			if !identRE.MatchString(p) || strings.ContainsAny(p, ".-") {
				return "", false
			}
			p = strings.ToLower(p)
		}
		if p == "" {
			return "", false
		}
		parts[i] = p
	}
	if len(parts) == 2 && parts[0] == "public" {
		return parts[1], true
	}
	return strings.Join(parts, "."), true
}
