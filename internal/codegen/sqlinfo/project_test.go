package sqlinfo_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// moduleRoot walks up from the package directory to the directory with go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// readSQLDir reads dir's *.sql files (relative to the module root) with the
// package's own reader.
func readSQLDir(t testing.TB, root, dir string) map[string][]byte {
	t.Helper()
	files, err := sqlinfo.ReadSQLFiles(os.DirFS(root), dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestProjectQueries runs the analyser over the module's own schema/ and
// queries/: every query must parse and resolve without error.
func TestProjectQueries(t *testing.T) {
	root := moduleRoot(t)
	schema, err := sqlinfo.LoadSchema(readSQLDir(t, root, "schema"))
	if err != nil {
		t.Fatalf("LoadSchema:\n%v", err)
	}
	files := readSQLDir(t, root, "queries")
	total := 0
	byName := map[string]sqlinfo.Analysis{}
	for name, src := range files {
		qs, err := sqlinfo.ParseQueryFile(name, src)
		if err != nil {
			t.Errorf("ParseQueryFile:\n%v", err)
		}
		as, err := schema.AnalyzeAll(qs)
		if err != nil {
			t.Errorf("Analyze:\n%v", err)
		}
		for _, a := range as {
			total++
			q := a.Query
			cache := ""
			if q.Directives.Cache != nil {
				cache = " cached"
			}
			t.Logf("%s %s%s reads=%v writes=%v invalidates=%v readKeys=%v writeKeys=%v returnedKeys=%v volatile=%v",
				q.Name, q.Cmd, cache, a.Reads, a.Writes, a.Invalidates, a.ReadKeys, a.WriteKeys, a.ReturnedKeys, q.Info.Volatile)
			if q.Directives.Cache != nil && len(a.Reads) == 0 {
				t.Errorf("%s is cached but reads no table", q.Name)
			}
			if q.IsWrite() && len(a.Invalidates) == 0 {
				t.Errorf("%s writes but invalidates nothing", q.Name)
			}
			if !q.IsWrite() && len(a.Invalidates) != 0 {
				t.Errorf("%s reads but invalidates %v", q.Name, a.Invalidates)
			}
			for _, k := range append(slices.Clone(a.ReadKeys), a.WriteKeys...) {
				for _, p := range k.ParamIndexes {
					if p < 1 || p > q.Info.Params {
						t.Errorf("%s: key %v names $%d, query has %d params", q.Name, k, p, q.Info.Params)
					}
				}
			}
			byName[q.Name] = a
		}
	}
	if total == 0 {
		t.Fatal("no queries analysed")
	}
	// Spot checks on the queries the benchmarks and cascade tests use.
	spot := []struct{ name, what, got, want string }{
		{"GetAgent", "read keys", fmt.Sprint(byName["GetAgent"].ReadKeys), "[agents(id=$1)]"},
		{"DeleteAgent", "write keys", fmt.Sprint(byName["DeleteAgent"].WriteKeys), "[agents(id=$1)]"},
		{"DeleteAgent", "invalidates", fmt.Sprint(byName["DeleteAgent"].Invalidates), "[agent_tools agents executions tasks workflow_steps]"},
		{"CountTasksByStatusPerAgent", "reads", fmt.Sprint(byName["CountTasksByStatusPerAgent"].Reads), "[agents tasks]"},
	}
	for _, c := range spot {
		if _, ok := byName[c.name]; !ok {
			t.Errorf("query %s not found in queries/", c.name)
			continue
		}
		if c.got != c.want {
			t.Errorf("%s %s = %s, want %s", c.name, c.what, c.got, c.want)
		}
	}
	t.Logf("%d queries analysed", total)
}

// sqlcConsts returns the SQL constants sqlc generated in dir, by query name.
func sqlcConsts(t testing.TB, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil || !strings.HasPrefix(s, "-- name: ") {
						continue
					}
					first, rest, _ := strings.Cut(s, "\n")
					out[strings.Fields(strings.TrimPrefix(first, "-- name: "))[0]] = rest
				}
			}
		}
	}
	return out
}

// TestProjectParamNumbering checks that numbering sqlc's named parameters in
// the query files gives the same keys as analysing the SQL sqlc emitted into
// db/, where every parameter is already $n.
func TestProjectParamNumbering(t *testing.T) {
	root := moduleRoot(t)
	schema, err := sqlinfo.LoadSchema(readSQLDir(t, root, "schema"))
	if err != nil {
		t.Fatal(err)
	}
	emitted := sqlcConsts(t, filepath.Join(root, "db"))
	if len(emitted) == 0 {
		t.Fatal("no sqlc output in db/: run go generate ./... first")
	}
	checked := 0
	for name, src := range readSQLDir(t, root, "queries") {
		qs, err := sqlinfo.ParseQueryFile(name, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Cmd == sqlinfo.CmdCopyFrom {
				continue // sqlc emits no SQL text for COPY
			}
			sql, ok := emitted[q.Name]
			if !ok {
				t.Errorf("%s: not found in db/ (stale generated code?)", q.Name)
				continue
			}
			fromFile, err := schema.Analyze(q)
			if err != nil {
				t.Fatal(err)
			}
			info, err := sqlinfo.AnalyzeSQL(sql)
			if err != nil {
				t.Fatalf("%s: emitted SQL: %v", q.Name, err)
			}
			q2 := q
			q2.SQL, q2.Info = sql, info
			fromEmitted, err := schema.Analyze(q2)
			if err != nil {
				t.Fatal(err)
			}
			if q.Info.Params != info.Params {
				t.Errorf("%s: %d params from the query file, %d in sqlc's SQL", q.Name, q.Info.Params, info.Params)
			}
			same := func(a, b []sqlinfo.Key) bool {
				return slices.EqualFunc(a, b, func(x, y sqlinfo.Key) bool { return x.String() == y.String() })
			}
			if !same(fromFile.ReadKeys, fromEmitted.ReadKeys) || !same(fromFile.WriteKeys, fromEmitted.WriteKeys) {
				t.Errorf("%s: keys differ: file read %v write %v; emitted read %v write %v", q.Name,
					fromFile.ReadKeys, fromFile.WriteKeys, fromEmitted.ReadKeys, fromEmitted.WriteKeys)
			}
			if !slices.Equal(fromFile.Reads, fromEmitted.Reads) || !slices.Equal(fromFile.Invalidates, fromEmitted.Invalidates) {
				t.Errorf("%s: tables differ between file and emitted SQL", q.Name)
			}
			checked++
		}
	}
	t.Logf("%d queries cross-checked against sqlc's output", checked)
}
