package cache

import (
	"math/big"
	"reflect"
	"sync"
	"time"
)

// copyPlan deep-copies values of one type so a decoded value can be handed
// out many times without callers sharing memory. nil fn: a plain assignment
// is already a deep copy (no reachable mutable memory).
type copyPlan struct {
	fn func(dst, src reflect.Value)
}

// copier builds and caches copy plans per type. Types it cannot copy safely
// (interfaces, channels, funcs, unexported reference fields other than
// time.Time's location) have no plan: values of those types are decoded on
// every hit instead.
type copier struct {
	mu    sync.RWMutex
	plans map[reflect.Type]*copyPlan // nil entry: unsupported
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	bigIntType = reflect.TypeFor[*big.Int]()
)

func (c *copier) plan(t reflect.Type) (*copyPlan, bool) {
	c.mu.RLock()
	p, ok := c.plans[t]
	c.mu.RUnlock()
	if ok {
		return p, p != nil
	}
	p, supported := buildPlan(t, map[reflect.Type]bool{})
	if !supported {
		p = nil
	}
	c.mu.Lock()
	if c.plans == nil {
		c.plans = make(map[reflect.Type]*copyPlan)
	}
	c.plans[t] = p
	c.mu.Unlock()
	return p, p != nil
}

// buildPlan returns the plan for t; ok false if t cannot be deep-copied.
func buildPlan(t reflect.Type, visiting map[reflect.Type]bool) (*copyPlan, bool) {
	if visiting[t] {
		return nil, false // recursive types: decode instead
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return &copyPlan{}, true
	}
	if t == timeType {
		return &copyPlan{}, true // its *Location is never mutated
	}
	if t == bigIntType {
		return &copyPlan{fn: func(dst, src reflect.Value) {
			if src.IsNil() {
				dst.SetZero()
				return
			}
			dst.Set(reflect.ValueOf(new(big.Int).Set(src.Interface().(*big.Int))))
		}}, true
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind() {
	case reflect.Array:
		ep, ok := buildPlan(t.Elem(), visiting)
		if !ok {
			return nil, false
		}
		if ep.fn == nil {
			return &copyPlan{}, true
		}
		return &copyPlan{fn: func(dst, src reflect.Value) {
			for i := range src.Len() {
				dst.Index(i).Set(src.Index(i))
				ep.fn(dst.Index(i), src.Index(i))
			}
		}}, true
	case reflect.Slice:
		ep, ok := buildPlan(t.Elem(), visiting)
		if !ok {
			return nil, false
		}
		return &copyPlan{fn: func(dst, src reflect.Value) {
			if src.IsNil() {
				dst.SetZero()
				return
			}
			n := reflect.MakeSlice(t, src.Len(), src.Len())
			if ep.fn == nil {
				reflect.Copy(n, src)
			} else {
				for i := range src.Len() {
					n.Index(i).Set(src.Index(i)) // shallow first: struct plans only fix reference fields
					ep.fn(n.Index(i), src.Index(i))
				}
			}
			dst.Set(n)
		}}, true
	case reflect.Map:
		kp, ok := buildPlan(t.Key(), visiting)
		if !ok || kp.fn != nil {
			return nil, false
		}
		vp, ok := buildPlan(t.Elem(), visiting)
		if !ok {
			return nil, false
		}
		return &copyPlan{fn: func(dst, src reflect.Value) {
			if src.IsNil() {
				dst.SetZero()
				return
			}
			n := reflect.MakeMapWithSize(t, src.Len())
			it := src.MapRange()
			for it.Next() {
				v := it.Value()
				if vp.fn != nil {
					nv := reflect.New(t.Elem()).Elem()
					nv.Set(v)
					vp.fn(nv, v)
					v = nv
				}
				n.SetMapIndex(it.Key(), v)
			}
			dst.Set(n)
		}}, true
	case reflect.Pointer:
		ep, ok := buildPlan(t.Elem(), visiting)
		if !ok {
			return nil, false
		}
		return &copyPlan{fn: func(dst, src reflect.Value) {
			if src.IsNil() {
				dst.SetZero()
				return
			}
			n := reflect.New(t.Elem())
			n.Elem().Set(src.Elem())
			if ep.fn != nil {
				ep.fn(n.Elem(), src.Elem())
			}
			dst.Set(n)
		}}, true
	case reflect.Struct:
		type fieldPlan struct {
			i  int
			fn func(dst, src reflect.Value)
		}
		var fields []fieldPlan
		for i := range t.NumField() {
			f := t.Field(i)
			fp, ok := buildPlan(f.Type, visiting)
			if !ok {
				return nil, false
			}
			if fp.fn == nil {
				continue
			}
			if !f.IsExported() {
				return nil, false // cannot reach it to copy
			}
			fields = append(fields, fieldPlan{i, fp.fn})
		}
		if len(fields) == 0 {
			return &copyPlan{}, true
		}
		return &copyPlan{fn: func(dst, src reflect.Value) {
			// dst already holds a shallow copy of src (the caller assigns
			// the whole struct first); replace the reference fields.
			for _, f := range fields {
				f.fn(dst.Field(f.i), src.Field(f.i))
			}
		}}, true
	}
	return nil, false // interface, chan, func, unsafe pointer
}

// deepCopy returns a copy of v sharing no mutable memory with it, or false
// if T has no plan.
func deepCopy[T any](c *copier, v T) (T, bool) {
	p, ok := c.plan(reflect.TypeFor[T]())
	if !ok {
		return v, false
	}
	if p.fn == nil {
		return v, true
	}
	out := v // shallow
	p.fn(reflect.ValueOf(&out).Elem(), reflect.ValueOf(&v).Elem())
	return out, true
}
