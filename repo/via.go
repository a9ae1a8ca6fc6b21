package repo

import (
	"bytes"
	"context"
	"sync"

	"github.com/agentical/datalayer/cache"
)

// ReadVia serves m, a lookup of one row by one unique key, through p, a
// cached lookup of the same row by its one argument, the value at pArg of
// m.Result, returning the same columns
// (generated when the generator proves both are plain key lookups of one
// table): an entity cache. An in-process index remembers, per argument
// tuple of m, the key of the row it named last time (m.Result's values; also
// learnt from p's own loads); the row is then read with p, through p's
// cache, and served only if it still carries m's key values (m.Key). A key
// is unique, so that row is the one m would return. Anything else (an
// unknown key, a row that moved to other key values, not found, a
// transaction, no cache) runs m itself (Read). Statistics count the call
// under m either way.
//
// So reads by the secondary key share the primary key's entry: they are
// hits whenever reads by id keep that row cached, and a write by id to one
// row drops one entry for both.
func ReadVia[T any](ctx context.Context, rt *Runtime, tx *Tx, m *Method, args []any, load func(ctx context.Context) (T, error),
	p *Method, pArg int, viaLoad func(ctx context.Context, k any) (T, error)) (T, error) {
	if tx != nil || rt.cache == nil || m.Cache == nil || p.Cache == nil || m.Result == nil || m.Key == nil {
		return Read(ctx, rt, tx, m, args, load)
	}
	ix := rt.viaIndexOf(m)
	var kb [128]byte
	akey := cache.AppendArgs(kb[:0], args...)
	if k, ok := ix.get(akey); ok && pArg >= 0 && pArg < len(k) {
		id := k[pArg]
		v, err := read(ctx, rt, nil, p, m, []any{id}, func(ctx context.Context) (T, error) { return viaLoad(ctx, id) })
		if err == nil {
			var vb [128]byte
			if bytes.Equal(cache.AppendArgs(vb[:0], m.Key(v)...), akey) {
				return v, nil
			}
		} else if !rt.notFound(err) {
			return v, err
		}
		ix.del(akey) // the row moved away from this key, or is gone
	}
	v, err := Read(ctx, rt, tx, m, args, load)
	if err == nil {
		ix.put(string(akey), m.Result(v))
	}
	return v, err
}

// viaIndex maps argument bytes of a Via-served method to the Result
// values of the row they named. Bounded: cleared when full.
type viaIndex struct {
	mu sync.RWMutex
	m  map[string][]any
}

const viaIndexMax = 1 << 16

func (ix *viaIndex) get(akey []byte) ([]any, bool) {
	ix.mu.RLock()
	k, ok := ix.m[string(akey)]
	ix.mu.RUnlock()
	return k, ok
}

func (ix *viaIndex) put(akey string, k []any) {
	ix.mu.Lock()
	if len(ix.m) >= viaIndexMax {
		clear(ix.m)
	}
	ix.m[akey] = k
	ix.mu.Unlock()
}

func (ix *viaIndex) del(akey []byte) {
	ix.mu.Lock()
	delete(ix.m, string(akey))
	ix.mu.Unlock()
}

// viaIndexOf returns m's index.
func (rt *Runtime) viaIndexOf(m *Method) *viaIndex {
	if ix, ok := rt.vias.Load(m); ok {
		return ix.(*viaIndex)
	}
	ix, _ := rt.vias.LoadOrStore(m, &viaIndex{m: map[string][]any{}})
	return ix.(*viaIndex)
}

// feed indexes a row m loaded (outside a transaction) for the Via-served
// methods that read through m.
func (rt *Runtime) feed(m *Method, v any) {
	for _, r := range m.Feeds {
		if r.Key == nil || r.Result == nil {
			continue
		}
		var kb [128]byte
		rt.viaIndexOf(r).put(string(cache.AppendArgs(kb[:0], r.Key(v)...)), r.Result(v))
	}
}
