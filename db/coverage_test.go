package db_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var queryNameRE = regexp.MustCompile(`(?m)^--\s*name:\s*(\w+)\s+:(\w+)`)

// queryNames lists the "-- name:" of every file in queries/.
func queryNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "queries", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no query files found (%v)", err)
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		noErr(t, err)
		for _, m := range queryNameRE.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// querierMethods lists the methods of the generated Querier interface.
func querierMethods(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "querier.gen.go", nil, 0)
	noErr(t, err)
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Querier" {
			return true
		}
		for _, m := range ts.Type.(*ast.InterfaceType).Methods.List {
			for _, id := range m.Names {
				out[id.Name] = true
			}
		}
		return false
	})
	return out
}

// calledMethods collects the names of every method called in the given test
// files (x.Name(...)).
func calledMethods(t *testing.T, files []string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]bool{}
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, 0)
		noErr(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
					out[sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	return out
}

// missingQueries returns the query names without a generated method or
// without a call from the tests.
func missingQueries(names []string, methods, called map[string]bool) (notGenerated, notCalled []string) {
	for _, n := range names {
		switch {
		case !methods[n]:
			notGenerated = append(notGenerated, n)
		case !called[n]:
			notCalled = append(notCalled, n)
		}
	}
	return notGenerated, notCalled
}

// TestEveryQueryIsTested fails when a query of queries/*.sql is not called by
// any integration test of this package (the benchmark and this file do not
// count), or when the generated code lacks it.
func TestEveryQueryIsTested(t *testing.T) {
	t.Parallel()
	names := queryNames(t)
	methods := querierMethods(t)
	files, err := filepath.Glob("*_test.go")
	noErr(t, err)
	files = slices.DeleteFunc(files, func(f string) bool {
		return f == "coverage_test.go" || f == "bench_test.go"
	})
	called := calledMethods(t, files)

	notGenerated, notCalled := missingQueries(names, methods, called)
	if len(notGenerated) > 0 {
		t.Errorf("queries without a generated method (run go generate): %s", strings.Join(notGenerated, ", "))
	}
	if len(notCalled) > 0 {
		t.Errorf("queries no test calls: %s", strings.Join(notCalled, ", "))
	}
	if len(names) != len(methods) {
		t.Errorf("%d queries in queries/ but %d Querier methods", len(names), len(methods))
	}
	if !t.Failed() {
		t.Logf("%d queries, all called from %d test files", len(names), len(files))
	}

	// The check itself must be able to fail.
	ng, nc := missingQueries([]string{"GetAgent", "NoSuchQuery", "DeleteAgent"}, methods, map[string]bool{"GetAgent": true})
	if !slices.Equal(ng, []string{"NoSuchQuery"}) || !slices.Equal(nc, []string{"DeleteAgent"}) {
		t.Errorf("self-check: notGenerated %v notCalled %v", ng, nc)
	}
}
