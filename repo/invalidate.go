package repo

import (
	"slices"

	"github.com/agentical/datalayer/cache"
)

// invalidation is what one write changed, in the cache's terms.
type invalidation struct {
	tables []string
	rows   []cache.RowRef
}

// keyToken is the pseudo-table that every cached read keyed by cols on
// table depends on; writes keyed by other columns bump it.
func keyToken(table string, cols []string) string { return table + "|key:" + keyName(cols) }

// deps turns a cached read's dependencies into cache.Deps for args. The
// parts that do not depend on args are computed once per method.
func (rt *Runtime) deps(m *Method, args []any) cache.Deps {
	p := rt.readPlan(m)
	d := cache.Deps{Tables: p.tables, Link: p.link} // shared: the cache only reads them
	if len(p.rows) == 0 {
		return d
	}
	d.Rows = make([]cache.RowRef, 0, len(p.rows))
	for _, r := range p.rows {
		vals, ok := pick(args, r.params)
		if !ok {
			return slowDeps(m, args)
		}
		d.Rows = append(d.Rows, cache.Row(r.table, r.cols, vals...))
	}
	return d
}

// slowDeps is deps for arguments that do not match the descriptor (never
// for generated code): a dependency whose key values are missing falls back
// to the whole table.
func slowDeps(m *Method, args []any) cache.Deps {
	var d cache.Deps
	for _, dep := range m.Deps {
		vals, ok := pick(args, dep.Params)
		if len(dep.Key) == 0 || !ok {
			d.Tables = append(d.Tables, dep.Table)
			continue
		}
		d.Tables = append(d.Tables, keyToken(dep.Table, dep.Key))
		d.Rows = append(d.Rows, cache.Row(dep.Table, keyName(dep.Key), vals...))
	}
	return d
}

// readPlan is the argument-independent part of a method's dependencies.
type readPlan struct {
	tables []string // whole tables and key tokens
	rows   []rowPlan
	link   *cache.Link
}

type rowPlan struct {
	table, cols string
	params      []int
}

func (rt *Runtime) readPlan(m *Method) *readPlan {
	if p, ok := rt.plans.Load(m); ok {
		return p.(*readPlan)
	}
	p := &readPlan{}
	for _, dep := range m.Deps {
		if len(dep.Key) == 0 {
			p.tables = append(p.tables, dep.Table)
			continue
		}
		p.rows = append(p.rows, rowPlan{table: dep.Table, cols: keyName(dep.Key), params: dep.Params})
		if len(dep.Links) > 0 && m.Result != nil && p.link == nil {
			// Writes by the other keys bump the key token; the value found
			// depends on its own row by those keys instead, and only a
			// not-found result on the token.
			p.link = &cache.Link{Table: dep.Table, Absent: []string{keyToken(dep.Table, dep.Key)}, Rows: linkRows(dep.Table, dep.Links, m.Result)}
			continue
		}
		p.tables = append(p.tables, keyToken(dep.Table, dep.Key))
	}
	actual, _ := rt.plans.LoadOrStore(m, p)
	return actual.(*readPlan)
}

// invalidation computes what a successful write of m changed, from its
// arguments and the key values read from its result. Without args
// (batches, COPY) every effect is table-wide, or list-wide for inserts.
func (rt *Runtime) invalidation(m *Method, args, returned []any) invalidation {
	var inv invalidation
	for _, e := range m.Effects {
		var rows []cache.RowRef
		keyed := len(e.Keys) > 0
		for _, k := range e.Keys {
			vals, ok := pick(args, k.Params)
			if !ok {
				keyed = false
				rows = nil
				break
			}
			rows = append(rows, cache.Row(e.Table, keyName(k.Columns), vals...))
		}
		switch {
		case e.Insert:
			for _, k := range e.Returned {
				if vals, ok := pick(returned, k.Params); ok {
					rows = append(rows, cache.Row(e.Table, keyName(k.Columns), vals...))
				}
			}
			if len(rows) == 0 {
				// Bumps the table's list version only (and a marker row
				// nobody reads): existing rows' entries stay.
				rows = append(rows, cache.Row(e.Table, "+"))
			}
		case !keyed:
			inv.tables = append(inv.tables, e.Table)
			continue
		}
		inv.rows = append(inv.rows, rows...)
		for _, o := range e.OtherKeys {
			inv.tables = append(inv.tables, keyToken(e.Table, o))
		}
	}
	return inv
}

// linkRows names the rows of table a result came from by keys.
func linkRows(table string, keys []KeyRef, result func(any) []any) func(any) []cache.RowRef {
	return func(v any) []cache.RowRef {
		vals := result(v)
		rows := make([]cache.RowRef, 0, len(keys))
		for _, k := range keys {
			kv, ok := pick(vals, k.Params)
			if !ok {
				return nil
			}
			rows = append(rows, cache.Row(table, keyName(k.Columns), kv...))
		}
		return rows
	}
}

func pick(args []any, idx []int) ([]any, bool) {
	if len(idx) == 0 {
		return nil, false
	}
	vals := make([]any, len(idx))
	for i, p := range idx {
		if p < 0 || p >= len(args) {
			return nil, false
		}
		vals[i] = args[p]
	}
	return vals, true
}

// mergeInvalidations folds a transaction's invalidations into one, so a
// commit costs one round of bumps however many statements ran.
func mergeInvalidations(invs []invalidation) invalidation {
	var out invalidation
	for _, inv := range invs {
		out.tables = append(out.tables, inv.tables...)
		out.rows = append(out.rows, inv.rows...)
	}
	slices.Sort(out.tables)
	out.tables = slices.Compact(out.tables)
	return out
}
