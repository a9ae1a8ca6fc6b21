package repo

import (
	"reflect"
	"sync"
)

// copyFuncs holds, per result type, the deep copy the typed in-process tier
// hands every caller (reflect.Type -> func(T) T).
var copyFuncs sync.Map

// RegisterCopy registers f as the copy function of T: it returns a copy of
// a cached value in which every slice, map and pointer it reaches is
// copied too, so the caller may change the result freely. Generated code
// (repo_copy.gen.go) registers one per result type from init; types without
// one are copied by reflection.
func RegisterCopy[T any](f func(T) T) { copyFuncs.Store(reflect.TypeFor[T](), f) }

func copyFunc[T any]() func(T) T {
	if f, ok := copyFuncs.Load(reflect.TypeFor[T]()); ok {
		fn, _ := f.(func(T) T)
		return fn
	}
	return nil
}
