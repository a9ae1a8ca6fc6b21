package db_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
)

// cachedTypes are the result types the repository may put in the cache.
// TestCodecCoversEveryResultType keeps the list complete.
var cachedTypes = []any{
	db.Agent{}, db.AgentTool{}, db.ApiKey{}, db.AuditLog{}, db.Execution{}, db.ExecutionEvent{},
	db.Playbook{}, db.PlaybookStep{}, db.Task{}, db.Tool{}, db.User{}, db.Workflow{}, db.WorkflowStep{},
	db.WorkflowStepDependency{}, db.DatalayerAudit{},
	db.ListAgentToolsRow{}, db.InsertAuditLogRow{}, db.ExecutionStatsByAgentRow{},
	db.CountTasksByStatusPerAgentRow{}, db.GetLiveAPIKeyByPrefixRow{}, db.GetWorkflowWithStepsRow{},
}

// TestCodecRoundTripsEveryResultType fills every field of every result type
// with a non-zero value (times with nanoseconds, jsonb, arrays, nullable
// pointers) and checks the cache codec gives back an equal value, with and
// without compression.
func TestCodecRoundTripsEveryResultType(t *testing.T) {
	for _, threshold := range []int{-1, 1} {
		codec := cache.NewCodec(threshold)
		for _, v := range cachedTypes {
			typ := reflect.TypeOf(v)
			t.Run(fmt.Sprintf("%s/compress=%v", typ.Name(), threshold > 0), func(t *testing.T) {
				in := reflect.New(typ)
				fill(t, in.Elem(), typ.Name())
				data, err := codec.Marshal(in.Interface())
				if err != nil {
					t.Fatal(err)
				}
				out := reflect.New(typ)
				if err := codec.Unmarshal(data, out.Interface()); err != nil {
					t.Fatal(err)
				}
				if !equal(in.Elem(), out.Elem()) {
					a, _ := json.Marshal(in.Interface())
					b, _ := json.Marshal(out.Interface())
					t.Fatalf("round trip changed the value:\n in  %s\n out %s", a, b)
				}
			})
		}
	}
}

var stamp = time.Date(2026, 11, 25, 18, 30, 42, 123456789, time.UTC)

func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(stamp))
		return
	case reflect.TypeOf(json.RawMessage{}):
		v.Set(reflect.ValueOf(json.RawMessage(`{"model":"gpt","temperature":0.25,"tags":["a","b"]}`)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v-" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(path)) + 3)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(12.375)
	case reflect.Array: // uuid.UUID
		for i := range v.Len() {
			fill(t, v.Index(i), path)
			v.Index(i).SetUint(uint64(i*17 + 1))
		}
	case reflect.Uint8:
		v.SetUint(7)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	default:
		t.Fatalf("%s: no filler for %s", path, v.Type())
	}
}

// equal is reflect.DeepEqual except that times compare by instant.
func equal(a, b reflect.Value) bool {
	if a.Type() == reflect.TypeOf(time.Time{}) {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() && !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// TestCodecCoversEveryResultType fails when sqlc emits a model or row type
// the round-trip test does not list.
func TestCodecCoversEveryResultType(t *testing.T) {
	files, err := filepath.Glob("*.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				ts, ok := s.(*ast.TypeSpec)
				if !ok {
					continue
				}
				if _, ok := ts.Type.(*ast.StructType); !ok {
					continue
				}
				n := ts.Name.Name
				if (filepath.Base(f) == "models.gen.go" && !strings.HasPrefix(n, "Null")) || strings.HasSuffix(n, "Row") {
					want = append(want, n)
				}
			}
		}
	}
	var have []string
	for _, v := range cachedTypes {
		have = append(have, reflect.TypeOf(v).Name())
	}
	for _, n := range want {
		if !slices.Contains(have, n) {
			t.Errorf("result type %s is not in cachedTypes", n)
		}
	}
}
