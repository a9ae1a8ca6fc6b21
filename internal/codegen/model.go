package codegen

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// method is everything a template needs to wrap one Querier method.
type method struct {
	Name    string
	Cmd     string
	DBArg   bool   // the Queries method takes the connection after ctx
	Source  string // "queries/agents.sql:12"
	Doc     []string
	Params  []goField
	Results []string
	// ArgExprs are Go expressions for the query's parameters in $n order:
	// they key the cache and give the values of row-level dependencies.
	ArgExprs []string
	// CopyExpr is the generated deep copy of the result for the typed
	// in-process tier (a func literal), or "" to copy by reflection.
	CopyExpr string

	Write    bool
	Batch    bool
	CopyFrom bool
	Cache    *sqlinfo.CacheSpec
	Timeout  time.Duration
	Retry    int
	Policy   string
	Audit    bool // -- @audit

	Deps    []dep
	Effects []effect
	// Shape hashes the query's SQL and its result type's fields: a changed
	// query caches under new keys even when the schema did not change.
	Shape string
	// RetExprs are Go expressions over the result i giving the values of
	// returned keys.
	RetExprs []string
	// outExprs maps the read table's columns to Go expressions over the
	// result i (single-table :one reads); ResExprs are those a Dep's Links
	// use, in order.
	outExprs map[string]string
	ResExprs []string
	// A key lookup (sqlinfo.Analysis.KeyLookup) of a table whose rows
	// another cached key lookup reads by a key this one links to is served
	// through it (Via, an entity cache): KeyExprs give this method's own
	// arguments from a result, ViaParam the other method's one parameter.
	keyLookup *sqlinfo.Key
	outputs   []string
	outTypes  map[string]string
	Via       *method
	Feeds     []string // methods served through this one (Via)
	KeyExprs  []string
	ViaIndex  int // which of Result's values is Via's argument
	// googleUUID: "uuid" in the sqlc package is github.com/google/uuid
	// (overrides may map uuid to another package of the same name).
	googleUUID bool
}

// dep is one dependency of a cached read: a whole table, or the rows of a
// table pinned by a primary or unique key whose values are parameters.
type dep struct {
	Table  string
	Key    []string
	Params []int // 0-based indexes into ArgExprs, parallel to Key
	// Links: other keys of Table that writes name rows by and the result
	// carries (Params index ResExprs): the cached value depends on its own
	// row by those keys instead of on every write by them.
	Links []keyRef
}

// effect is what a successful write invalidates: with Keys, only the rows
// with those key values (plus every non-keyed read of the table); without,
// the whole table.
type effect struct {
	Table string
	// Insert marks a statement that only adds rows (INSERT without ON
	// CONFLICT DO UPDATE): entries of existing rows stay valid.
	Insert    bool
	Keys      []keyRef
	Returned  []keyRef   // keys read from the returned row; Params index RetExprs
	OtherKeys [][]string // keyed reads of Table by other columns, invalidated whole
}

type keyRef struct {
	Columns []string
	Params  []int // 0-based indexes into ArgExprs
}

// ResultType is T for methods returning (T, error).
func (m *method) ResultType() string {
	if len(m.Results) == 2 {
		return m.Results[0]
	}
	return ""
}

// Signature renders the parameter list after ctx.
func (m *method) Signature() string {
	var b strings.Builder
	b.WriteString("ctx context.Context")
	for _, p := range m.Params {
		fmt.Fprintf(&b, ", %s %s", p.Name, p.Type)
	}
	return b.String()
}

// Call renders the arguments passed on to Queries (the receiver is q).
func (m *method) Call() string {
	if m.DBArg {
		return "ctx, q.conn" + m.Args()
	}
	return "ctx" + m.Args()
}

// Args renders the query's own arguments, each after ", ".
func (m *method) Args() string {
	var b strings.Builder
	for _, p := range m.Params {
		b.WriteString(", " + p.Name)
	}
	return b.String()
}

// ResultList renders the result list.
func (m *method) ResultList() string {
	if len(m.Results) == 1 {
		return m.Results[0]
	}
	return "(" + strings.Join(m.Results, ", ") + ")"
}

func buildMethod(gp *goPackage, gm goMethod, q sqlinfo.Query, schema *sqlinfo.Schema) (*method, sqlinfo.ErrorList) {
	at := func(line int, format string, args ...any) *sqlinfo.Error {
		return &sqlinfo.Error{File: q.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	var errs sqlinfo.ErrorList
	m := &method{
		Name:     gm.Name,
		Cmd:      q.Cmd,
		DBArg:    gm.DBArg,
		Source:   fmt.Sprintf("%s:%d", q.File, q.Line),
		Doc:      gm.Doc,
		Params:   gm.Params,
		Results:  gm.Results,
		Batch:    strings.HasPrefix(q.Cmd, ":batch"),
		CopyFrom: q.Cmd == sqlinfo.CmdCopyFrom,
		Cache:    q.Directives.Cache,
		Timeout:  q.Directives.Timeout,
		Retry:    q.Directives.RetryAttempts,
		Policy:   q.Directives.Policy,
		Audit:    q.Directives.Audit,
	}
	m.Shape = shapeOf(gp, gm, q)
	an, err := schema.Analyze(q)
	if err != nil {
		var l sqlinfo.ErrorList
		if errors.As(err, &l) {
			return nil, append(errs, l...)
		}
		var e *sqlinfo.Error
		if errors.As(err, &e) {
			return nil, append(errs, e)
		}
		return nil, append(errs, at(q.Line, "%s: %v", q.Name, err))
	}
	m.Write = q.IsWrite()
	if m.Cache != nil && len(an.Writes) > 0 && len(q.Info.Writes) == 0 && !sqlinfo.IsWriteCmd(q.Cmd) {
		// sqlinfo refuses @cache on SQL that writes; this is a write
		// inside a function the query calls.
		errs = append(errs, at(m.Cache.Line, "@cache on %s, which writes %s (through a function it calls): only reads can be cached", q.Name, strings.Join(an.Writes, ", ")))
	}
	m.Write = m.Write || len(an.Writes) > 0

	if !m.CopyFrom && !m.Batch && len(gm.Params) == 1 {
		p := gm.Params[0]
		if fields, ok := gp.Structs[p.Type]; ok && strings.HasSuffix(p.Type, "Params") {
			for _, f := range fields {
				m.ArgExprs = append(m.ArgExprs, p.Name+"."+f.Name)
			}
		} else {
			m.ArgExprs = []string{p.Name}
		}
	} else if !m.CopyFrom && !m.Batch {
		for _, p := range gm.Params {
			m.ArgExprs = append(m.ArgExprs, p.Name)
		}
	}
	// Row-level keys need one Go value per $n; anything else (copyfrom,
	// batches, sqlc.slice expansions) is handled table-wide.
	perRow := len(m.ArgExprs) == q.Info.Params && !m.CopyFrom && !m.Batch

	if m.Cache != nil {
		for _, t := range an.Reads {
			d := dep{Table: t}
			if perRow {
				for _, k := range an.ReadKeys {
					if k.Table == t {
						d.Key, d.Params = k.Columns, zeroBased(k.ParamIndexes)
						break
					}
				}
			}
			m.Deps = append(m.Deps, d)
		}
	}
	m.googleUUID = gp.Imports["uuid"] == "github.com/google/uuid"
	if m.Cache != nil && q.Cmd == sqlinfo.CmdOne && an.KeyLookup != nil && len(m.ArgExprs) == len(an.KeyLookup.Columns) {
		m.keyLookup, m.outputs = an.KeyLookup, an.Outputs
	}
	if m.Cache != nil && q.Cmd == sqlinfo.CmdOne && len(an.Outputs) > 0 && len(gm.Results) == 2 {
		fields, isStruct := gp.Structs[gm.Results[0]]
		switch {
		case isStruct && len(fields) == len(an.Outputs):
			m.outExprs, m.outTypes = map[string]string{}, map[string]string{}
			for i, c := range an.Outputs {
				if _, dup := m.outExprs[c]; c != "" && !dup {
					m.outExprs[c] = "i." + fields[i].Name
					m.outTypes[c] = fields[i].Type
				}
			}
		case !isStruct && len(an.Outputs) == 1 && an.Outputs[0] != "":
			m.outExprs = map[string]string{an.Outputs[0]: "i"}
		}
	}
	if m.Write {
		for _, t := range an.Invalidates {
			e := effect{Table: t, Insert: an.InsertOnly && an.Writes[0] == t}
			if perRow {
				for _, k := range an.WriteKeys {
					if k.Table == t {
						e.Keys = append(e.Keys, keyRef{Columns: k.Columns, Params: zeroBased(k.ParamIndexes)})
					}
				}
			}
			if e.Insert && q.Cmd == sqlinfo.CmdOne {
				for _, k := range an.ReturnedKeys {
					if k.Table != t {
						continue
					}
					ref := keyRef{Columns: k.Columns}
					for _, rc := range k.ResultColumns {
						expr, ok := resultExpr(gp, gm, gp.SQL[gm.Name], rc)
						if !ok {
							ref.Params = nil
							break
						}
						ref.Params = append(ref.Params, len(m.RetExprs))
						m.RetExprs = append(m.RetExprs, expr)
					}
					if len(ref.Params) == len(k.Columns) {
						e.Returned = append(e.Returned, ref)
					}
				}
			}
			m.Effects = append(m.Effects, e)
		}
	}
	return m, errs
}

func zeroBased(ps []int) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p - 1
	}
	return out
}

// linkKeys tells every keyed write which other key column sets its table is
// read by: those entries cannot be addressed by the write's key and are
// invalidated as a whole. An insert only needs that for reads that cache
// not-found results: existing rows' entries cannot change.
func linkKeys(ms []*method) {
	type readKey struct {
		cols     []string
		negative bool
	}
	readKeys := map[string][]readKey{}
	for _, m := range ms {
		neg := m.Cache != nil && m.Cache.Negative > 0
		for _, d := range m.Deps {
			if len(d.Key) == 0 {
				continue
			}
			i := slices.IndexFunc(readKeys[d.Table], func(k readKey) bool { return slices.Equal(k.cols, d.Key) })
			if i < 0 {
				readKeys[d.Table] = append(readKeys[d.Table], readKey{cols: d.Key, negative: neg})
			} else if neg {
				readKeys[d.Table][i].negative = true
			}
		}
	}
	// Keys writes name rows by, per table: a keyed read whose result
	// carries all of them besides its own links to its row by them.
	writeKeys := map[string][][]string{}
	for _, m := range ms {
		for _, e := range m.Effects {
			for _, k := range append(slices.Clone(e.Keys), e.Returned...) {
				if !slices.ContainsFunc(writeKeys[e.Table], func(c []string) bool { return slices.Equal(c, k.Columns) }) {
					writeKeys[e.Table] = append(writeKeys[e.Table], k.Columns)
				}
			}
		}
	}
	for _, m := range ms {
		if m.outExprs == nil {
			continue
		}
		for i := range m.Deps {
			d := &m.Deps[i]
			if len(d.Key) == 0 {
				continue
			}
			var links []keyRef
			ok := true
			for _, cols := range writeKeys[d.Table] {
				if slices.Equal(cols, d.Key) {
					continue
				}
				ref := keyRef{Columns: cols}
				for _, c := range cols {
					expr, have := m.outExprs[c]
					if !have {
						ok = false
						break
					}
					ref.Params = append(ref.Params, len(m.ResExprs))
					m.ResExprs = append(m.ResExprs, expr)
				}
				if !ok {
					break
				}
				links = append(links, ref)
			}
			if !ok || len(links) == 0 {
				m.ResExprs = nil
				continue
			}
			slices.SortFunc(links, func(a, b keyRef) int {
				return strings.Compare(strings.Join(a.Columns, ","), strings.Join(b.Columns, ","))
			})
			d.Links = links
			break // the runtime links one dependency per read
		}
	}
	for _, m := range ms {
		chooseVia(m, ms)
	}
	for _, m := range ms {
		for i := range m.Effects {
			e := &m.Effects[i]
			if len(e.Keys) == 0 && !e.Insert {
				continue // table-wide: everything of the table goes anyway
			}
			known := append(slices.Clone(e.Keys), e.Returned...)
			for _, k := range readKeys[e.Table] {
				if slices.ContainsFunc(known, func(w keyRef) bool { return slices.Equal(w.Columns, k.cols) }) {
					continue
				}
				if e.Insert && !k.negative {
					continue
				}
				e.OtherKeys = append(e.OtherKeys, k.cols)
			}
			slices.SortFunc(e.OtherKeys, func(a, b []string) int { return strings.Compare(strings.Join(a, ","), strings.Join(b, ",")) })
		}
	}
}

// resultExpr returns the Go expression for result column col of a :one
// method's result i, from the RETURNING list sqlc emitted (it expands *):
// sqlc declares row struct fields in column order.
func resultExpr(gp *goPackage, gm goMethod, emitted, col string) (string, bool) {
	if len(gm.Results) != 2 {
		return "", false
	}
	cols := returningColumns(emitted)
	idx := slices.Index(cols, col)
	if idx < 0 {
		return "", false
	}
	fields, isStruct := gp.Structs[gm.Results[0]]
	if !isStruct {
		if len(cols) == 1 {
			return "i", true
		}
		return "", false
	}
	if len(fields) != len(cols) {
		return "", false
	}
	return "i." + fields[idx].Name, true
}

// returningColumns lists the output names of the last RETURNING clause.
func returningColumns(sql string) []string {
	u := strings.ToUpper(sql)
	i := strings.LastIndex(u, "RETURNING")
	if i < 0 {
		return nil
	}
	list := strings.TrimRight(strings.TrimSpace(sql[i+len("RETURNING"):]), ";")
	var out []string
	depth, start := 0, 0
	for j := 0; j <= len(list); j++ {
		if j < len(list) {
			switch list[j] {
			case '(':
				depth++
				continue
			case ')':
				depth--
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		item := strings.Fields(list[start:j])
		start = j + 1
		if len(item) == 0 {
			return nil
		}
		name := item[len(item)-1]
		if k := strings.LastIndex(name, "."); k >= 0 {
			name = name[k+1:]
		}
		out = append(out, strings.Trim(name, `"`))
	}
	return out
}

func shapeOf(gp *goPackage, gm goMethod, q sqlinfo.Query) string {
	h := sha256.New()
	sql := gp.SQL[gm.Name]
	if sql == "" {
		sql = q.SQL
	}
	fmt.Fprintf(h, "%s\x00%s\x00", sql, strings.Join(gm.Results, ","))
	if len(gm.Results) > 0 {
		elem := strings.TrimPrefix(gm.Results[0], "[]")
		for _, f := range gp.Structs[elem] {
			fmt.Fprintf(h, "%s %s\x00", f.Name, f.Type)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// chooseVia picks the cached read m is served through, if any: another
// key lookup of the same table returning the same columns as the same
// type, by one key m links to, taking that key's single column as its one
// parameter. m's own key columns must not be nullable (a NULL never equals
// a parameter, but would equal itself when the result is checked).
func chooseVia(m *method, ms []*method) {
	if m.keyLookup == nil || m.outTypes == nil || len(m.Deps) != 1 || len(m.Deps[0].Links) == 0 {
		return
	}
	k := m.keyLookup
	keyExprs := make([]string, len(m.ArgExprs))
	for j, c := range k.Columns {
		expr, ok := m.outExprs[c]
		p := k.ParamIndexes[j] - 1
		if !ok || p < 0 || p >= len(keyExprs) || keyExprs[p] != "" || nullable(m.outTypes[c]) {
			return
		}
		keyExprs[p] = expr
	}
	for _, p := range ms {
		if p == m || p.keyLookup == nil || p.keyLookup.Table != k.Table || p.ResultType() != m.ResultType() ||
			!slices.Equal(p.outputs, m.outputs) || len(p.Params) != 1 || len(p.keyLookup.Columns) != 1 || p.Cache == nil {
			continue
		}
		col := p.keyLookup.Columns[0]
		li := slices.IndexFunc(m.Deps[0].Links, func(l keyRef) bool { return len(l.Columns) == 1 && l.Columns[0] == col })
		if li < 0 || p.Params[0].Type != m.outTypes[col] || nullable(m.outTypes[col]) {
			continue
		}
		m.Via, m.KeyExprs, m.ViaIndex = p, keyExprs, m.Deps[0].Links[li].Params[0]
		p.Feeds = append(p.Feeds, m.Name)
		return
	}
}

// HitKey renders the typed tier key of the arguments when every one is a
// UUID or a string (the generated fast path, repo.Hit), else "".
func (m *method) HitKey(repoQual string) string {
	if m.Cache == nil || m.Via != nil || len(m.Params) == 0 || len(m.Params) != len(m.ArgExprs) {
		return ""
	}
	expr := "dlkb[:0]"
	for i, p := range m.Params {
		if m.ArgExprs[i] != p.Name {
			return ""
		}
		switch p.Type {
		case "uuid.UUID":
			if !m.googleUUID {
				return ""
			}
			expr = repoQual + "KeyUUID(" + expr + ", " + p.Name + ")"
		case "string":
			expr = repoQual + "KeyString(" + expr + ", " + p.Name + ")"
		default:
			return ""
		}
	}
	return expr
}

// ViaCall renders the call of the Via method's query with its one
// argument k0.
func (m *method) ViaCall() string {
	if m.Via.DBArg {
		return "ctx, q.conn, k0"
	}
	return "ctx, k0"
}

// nullable reports whether a Go type sqlc emits for a column can hold NULL.
func nullable(t string) bool {
	return t == "" || strings.HasPrefix(t, "*") || strings.HasPrefix(t, "pgtype.") || strings.HasPrefix(t, "sql.Null") ||
		strings.HasPrefix(t, "[]") || strings.HasPrefix(t, "interface") || t == "any" || strings.HasPrefix(t, "uuid.Null")
}
