package codegen

import (
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
	Source  string // "queries/agents.sql:12"
	Doc     []string
	Params  []goField
	Results []string
	// ArgExprs are Go expressions for the query's parameters in $n order:
	// they key the cache and give the values of row-level dependencies.
	ArgExprs []string

	Write    bool
	Batch    bool
	CopyFrom bool
	Cache    *sqlinfo.CacheSpec
	Timeout  time.Duration
	Retry    int
	Policy   string

	Deps    []dep
	Effects []effect
}

// dep is one dependency of a cached read: a whole table, or the rows of a
// table pinned by a primary or unique key whose values are parameters.
type dep struct {
	Table  string
	Key    []string
	Params []int // 0-based indexes into ArgExprs, parallel to Key
}

// effect is what a successful write invalidates: with Keys, only the rows
// with those key values (plus every non-keyed read of the table); without,
// the whole table.
type effect struct {
	Table     string
	Keys      []keyRef
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

// Call renders the arguments passed on to Queries.
func (m *method) Call() string {
	var b strings.Builder
	b.WriteString("ctx")
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
	}
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
	if m.Cache != nil && m.Write {
		errs = append(errs, at(m.Cache.Line, "%s: @cache on a query that writes (%s)", q.Name, strings.Join(an.Writes, ", ")))
	}

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
	if m.Write {
		for _, t := range an.Invalidates {
			e := effect{Table: t}
			if perRow {
				for _, k := range an.WriteKeys {
					if k.Table == t {
						e.Keys = append(e.Keys, keyRef{Columns: k.Columns, Params: zeroBased(k.ParamIndexes)})
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
// invalidated as a whole.
func linkKeys(ms []*method) {
	readKeys := map[string][][]string{}
	for _, m := range ms {
		for _, d := range m.Deps {
			if len(d.Key) > 0 && !slices.ContainsFunc(readKeys[d.Table], func(k []string) bool { return slices.Equal(k, d.Key) }) {
				readKeys[d.Table] = append(readKeys[d.Table], d.Key)
			}
		}
	}
	for _, m := range ms {
		for i := range m.Effects {
			e := &m.Effects[i]
			if len(e.Keys) == 0 {
				continue
			}
			for _, k := range readKeys[e.Table] {
				if !slices.ContainsFunc(e.Keys, func(w keyRef) bool { return slices.Equal(w.Columns, k) }) {
					e.OtherKeys = append(e.OtherKeys, k)
				}
			}
			slices.SortFunc(e.OtherKeys, func(a, b []string) int { return strings.Compare(strings.Join(a, ","), strings.Join(b, ",")) })
		}
	}
}
