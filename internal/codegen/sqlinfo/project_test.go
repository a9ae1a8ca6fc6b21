package sqlinfo_test

import (
	"os"
	"path/filepath"
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

// readSQLDir reads every *.sql file of dir; it fails the test when there is none.
func readSQLDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no *.sql files in %s", dir)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestProjectQueries runs the analyser over the module's own schema/ and
// queries/: every query must parse and resolve without error.
func TestProjectQueries(t *testing.T) {
	root := moduleRoot(t)
	schema, err := sqlinfo.LoadSchema(readSQLDir(t, filepath.Join(root, "schema")))
	if err != nil {
		t.Fatalf("LoadSchema:\n%v", err)
	}
	files := readSQLDir(t, filepath.Join(root, "queries"))
	total := 0
	for name, src := range files {
		qs, err := sqlinfo.ParseQueryFile("queries/"+name, src)
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
			t.Logf("%s %s%s reads=%v writes=%v invalidates=%v readKeys=%v writeKeys=%v volatile=%v",
				q.Name, q.Cmd, cache, a.Reads, a.Writes, a.Invalidates, a.ReadKeys, a.WriteKeys, q.Info.Volatile)
			if q.Directives.Cache != nil && len(a.Reads) == 0 {
				t.Errorf("%s is cached but reads no table", q.Name)
			}
		}
	}
	if total == 0 {
		t.Fatal("no queries analysed")
	}
	t.Logf("%d queries analysed", total)
}
