package codegen_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/codegen"
	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden regenerates every project under testdata (and this module's
// own db package) and compares with the committed output. The bookstore
// output also compiles and runs its own integration tests, so a golden file
// cannot drift into code that merely looks right.
func TestGolden(t *testing.T) {
	cases := map[string]string{
		"bookstore": "testdata/bookstore/sqlc.yaml",
		"agentical": "../../sqlc.yaml",
		"authors":   "testdata/examples/authors/sqlc.yaml",
		"booktest":  "testdata/examples/booktest/sqlc.json",
		"ondeck":    "testdata/examples/ondeck/sqlc.json",
		"jets":      "testdata/examples/jets/sqlc.json",
		"dbarg":     "testdata/dbarg/sqlc.yaml",
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			abs, err := filepath.Abs(cfg)
			if err != nil {
				t.Fatal(err)
			}
			files, err := codegen.Generate(codegen.Options{SqlcConfig: abs, Version: "v0.1.0"})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if len(files) == 0 || len(files) > 2 { // the repository and, if any cached read needs them, its copy functions
				t.Fatalf("got %d files, want 1 or 2", len(files))
			}
			for _, f := range files {
				if *update {
					if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(f.Path)
				if err != nil {
					t.Fatalf("%v (run go test ./internal/codegen -update)", err)
				}
				if d := diff(string(want), string(f.Content)); d != "" {
					t.Errorf("%s is out of date (go test ./internal/codegen -update):\n%s", f.Path, d)
				}
			}
		})
	}
}

// diff returns a unified-style excerpt around the first differing line.
func diff(want, got string) string {
	if want == got {
		return ""
	}
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	from := max(0, i-3)
	fmt.Fprintf(&b, "@@ line %d @@\n", i+1)
	for j := from; j < i; j++ {
		fmt.Fprintf(&b, " %s\n", w[j])
	}
	for j := i; j < min(len(w), i+5); j++ {
		fmt.Fprintf(&b, "-%s\n", w[j])
	}
	for j := i; j < min(len(g), i+5); j++ {
		fmt.Fprintf(&b, "+%s\n", g[j])
	}
	return b.String()
}

// copyProject copies the bookstore project into a temporary directory so a
// test can break one of its inputs.
func copyProject(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs("testdata/bookstore")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDirectiveErrors(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     []string // each must appear in the error
	}{
		{
			name: "unknown directive",
			old:  "-- @cache ttl=5m\nSELECT * FROM books",
			new:  "-- @cahce ttl=5m\nSELECT * FROM books",
			want: []string{"queries/queries.sql:20:", "cahce"},
		},
		{
			name: "bad duration",
			old:  "-- @cache ttl=5m\nSELECT * FROM books",
			new:  "-- @cache ttl=5parsecs\nSELECT * FROM books",
			want: []string{"queries/queries.sql:20:", "5parsecs"},
		},
		{
			name: "cache on a write",
			old:  "-- @timeout 2s\nUPDATE books",
			new:  "-- @timeout 2s\n-- @cache ttl=1m\nUPDATE books",
			want: []string{"queries/queries.sql:29:", "SetPrice"},
		},
		{
			name: "cache on a volatile query",
			old:  "SELECT * FROM books WHERE isbn = $1;",
			new:  "SELECT * FROM books WHERE isbn = $1 AND published < now();",
			want: []string{"queries/queries.sql:", "now()"},
		},
		{
			name: "cache with row lock",
			old:  "SELECT * FROM books WHERE isbn = $1;",
			new:  "SELECT * FROM books WHERE isbn = $1 FOR UPDATE;",
			want: []string{"queries/queries.sql:", "FOR UPDATE"},
		},
		{
			name: "unknown table in invalidates",
			old:  "-- @timeout 2s\nUPDATE books",
			new:  "-- @timeout 2s\n-- @invalidates bookz\nUPDATE books",
			want: []string{"queries/queries.sql:", "bookz"},
		},
		{
			name: "bad retry",
			old:  "-- @retry attempts=2",
			new:  "-- @retry attempts=two",
			want: []string{"queries/queries.sql:", "two"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyProject(t)
			replaceIn(t, filepath.Join(dir, "queries/queries.sql"), c.old, c.new)
			files, err := codegen.Generate(codegen.Options{SqlcConfig: filepath.Join(dir, "sqlc.yaml")})
			if err == nil {
				t.Fatal("Generate succeeded, want an error")
			}
			if files != nil {
				t.Errorf("Generate returned %d files along with an error", len(files))
			}
			if !errors.Is(err, sqlinfo.ErrInvalid) {
				t.Errorf("error %v does not match sqlinfo.ErrInvalid", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestVolatileOverride(t *testing.T) {
	dir := copyProject(t)
	q := filepath.Join(dir, "queries/queries.sql")
	replaceIn(t, q, "-- @cache ttl=5m\nSELECT * FROM books WHERE isbn = $1;", "-- @cache ttl=5m volatile-ok\nSELECT * FROM books WHERE isbn = $1 AND published < now();")
	if _, err := codegen.Generate(codegen.Options{SqlcConfig: filepath.Join(dir, "sqlc.yaml")}); err != nil {
		t.Fatalf("volatile-ok should allow caching: %v", err)
	}
}

func TestAllErrorsReportedTogether(t *testing.T) {
	dir := copyProject(t)
	q := filepath.Join(dir, "queries/queries.sql")
	replaceIn(t, q, "-- @cache ttl=1m negative=10s", "-- @cache ttl=forever")
	replaceIn(t, q, "-- @retry attempts=2", "-- @retries 2")
	_, err := codegen.Generate(codegen.Options{SqlcConfig: filepath.Join(dir, "sqlc.yaml")})
	var l sqlinfo.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	if len(l) < 2 {
		t.Fatalf("want both problems reported, got %v", l)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := copyProject(t)
	cfg := filepath.Join(dir, "sqlc.yaml")
	replaceIn(t, cfg, "sql_package: pgx/v5", "sql_package: database/sql")
	_, err := codegen.Generate(codegen.Options{SqlcConfig: cfg})
	if err == nil || !strings.Contains(err.Error(), "pgx/v5") {
		t.Fatalf("want an error naming pgx/v5, got %v", err)
	}
}

// TestWriteReplacesAtomically checks Write leaves complete files and
// removes stale outputs of earlier runs.
func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "repo_old.gen.go")
	if err := os.WriteFile(stale, []byte("package x"), 0o644); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "queries.sql.go")
	if err := os.WriteFile(keep, []byte("package x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "repo_repository.gen.go")
	if err := codegen.Write([]codegen.File{{Path: out, Content: []byte("package x\n")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale output %s not removed", stale)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("sqlc output removed: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "package x\n" {
		t.Errorf("output = %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// TestShapeChangesWithQuery: editing a query's SQL (as sqlc emitted it)
// changes its Shape, so values cached by the old form are never read.
func TestShapeChangesWithQuery(t *testing.T) {
	shapeOf := func(dir string) string {
		t.Helper()
		files, err := codegen.Generate(codegen.Options{SqlcConfig: filepath.Join(dir, "sqlc.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		src := string(files[0].Content)
		i := strings.Index(src, "methodGetBook = repo.Method{")
		j := strings.Index(src[i:], "Shape:")
		return strings.Fields(src[i+j:])[1]
	}
	dir := copyProject(t)
	before := shapeOf(dir)
	replaceIn(t, filepath.Join(dir, "bookstore/queries.sql.go"), "SELECT isbn, author_id, title, price, published FROM books WHERE isbn = $1", "SELECT isbn, author_id, title, price, published FROM books WHERE isbn = $1 AND price >= 0")
	if after := shapeOf(dir); after == before {
		t.Fatalf("Shape %s unchanged after editing GetBook's SQL", before)
	}
}

// generateIn runs the generator on a project directory, collecting notes.
func generateIn(t *testing.T, cfg string) (string, []string, error) {
	t.Helper()
	var notes []string
	files, err := codegen.Generate(codegen.Options{SqlcConfig: cfg, Note: func(m string) { notes = append(notes, m) }})
	if err != nil {
		return "", notes, err
	}
	// The repository, and the copy functions when a cached read needs any.
	if len(files) == 0 || len(files) > 2 || !strings.HasSuffix(files[0].Path, "repo_repository.gen.go") {
		t.Fatalf("got %d files", len(files))
	}
	return string(files[0].Content), notes, nil
}

// TestNoTimeImportWithoutCache: a first run, before any @cache or @timeout,
// must not import time ("time" imported and not used).
func TestNoTimeImportWithoutCache(t *testing.T) {
	dir := copyProject(t)
	q := filepath.Join(dir, "queries/queries.sql")
	b, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "-- @") {
			kept = append(kept, l)
		}
	}
	if err := os.WriteFile(q, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	src, _, err := generateIn(t, filepath.Join(dir, "sqlc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(src, `"time"`) || regexp.MustCompile(`\btime\.`).MatchString(src) {
		t.Errorf("uncached repository uses package time:\n%s", src[:min(len(src), 800)])
	}
}

// TestConfigVersion1AndSkippedEntries: a version 1 JSON configuration with a
// MySQL and a pgx/v4 entry beside the pgx/v5 one is accepted; each skipped
// entry is noted once; build_tags reach the generated file.
func TestConfigVersion1AndSkippedEntries(t *testing.T) {
	dir := copyProject(t)
	cfg := filepath.Join(dir, "sqlc.json")
	err := os.WriteFile(cfg, []byte(`{
  "version": "1",
  "packages": [
    {"name": "bookstore", "path": "bookstore", "schema": "schema", "queries": "queries",
     "engine": "postgresql", "sql_package": "pgx/v5", "build_tags": "integration && !race"},
    {"name": "legacy", "path": "legacy", "schema": "schema", "queries": "queries", "sql_package": "pgx/v4"},
    {"name": "my", "path": "my", "schema": "mysql", "queries": "mysql", "engine": "mysql"}
  ]
}`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	src, notes, err := generateIn(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "pgx/v4") || !strings.Contains(notes[1], "mysql") {
		t.Errorf("notes = %q, want one for the pgx/v4 and one for the mysql entry", notes)
	}
	if !strings.HasPrefix(src, "//go:build integration && !race\n\n// Code generated") {
		t.Errorf("build tags not copied:\n%s", src[:200])
	}
}

// TestWithoutQuerierInterface: without emit_interface (no querier.go) the
// methods come from *Queries itself and the Querier assertion is left out.
func TestWithoutQuerierInterface(t *testing.T) {
	dir := copyProject(t)
	if err := os.Remove(filepath.Join(dir, "bookstore", "querier.go")); err != nil {
		t.Fatal(err)
	}
	src, _, err := generateIn(t, filepath.Join(dir, "sqlc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(src, "Querier") {
		t.Error("repository mentions Querier, which sqlc did not emit")
	}
	for _, m := range []string{"GetAuthor", "BooksByAuthor", "SetPrice", "AddReview"} {
		if !strings.Contains(src, "func (q *Repository) "+m+"(") {
			t.Errorf("method %s missing", m)
		}
	}
}

// TestTwoStatementsOneMessage: a query with two statements is refused once,
// without a second, misleading "no query" message about its method.
func TestTwoStatementsOneMessage(t *testing.T) {
	dir := copyProject(t)
	replaceIn(t, filepath.Join(dir, "queries/queries.sql"), "DELETE FROM authors WHERE id = $1;", "DELETE FROM authors WHERE id = $1; DELETE FROM books WHERE author_id = $1;")
	_, _, err := generateIn(t, filepath.Join(dir, "sqlc.yaml"))
	var l sqlinfo.ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("want an ErrorList, got %v", err)
	}
	if len(l) != 1 || !strings.Contains(l[0].Error(), "queries/queries.sql:12: query DeleteAuthor: holds 2 statements") {
		t.Fatalf("errors = %v, want only the two-statement refusal", err)
	}
}

// TestLockWording: @cache on FOR UPDATE is refused as a lock, not as a
// volatile function.
func TestLockWording(t *testing.T) {
	dir := copyProject(t)
	replaceIn(t, filepath.Join(dir, "queries/queries.sql"), "SELECT * FROM books WHERE isbn = $1;", "SELECT * FROM books WHERE isbn = $1 FOR UPDATE;")
	_, _, err := generateIn(t, filepath.Join(dir, "sqlc.yaml"))
	if err == nil || !strings.Contains(err.Error(), "@cache on GetBook, which locks the rows it reads (FOR UPDATE)") || strings.Contains(err.Error(), "volatile FOR") {
		t.Fatalf("got %v", err)
	}
}

// TestOrdinaryAtComments: "-- @" comments inside the SQL are ordinary
// comments; a known directive there is still reported as misplaced.
func TestOrdinaryAtComments(t *testing.T) {
	dir := copyProject(t)
	q := filepath.Join(dir, "queries/queries.sql")
	replaceIn(t, q, "SELECT * FROM books WHERE isbn = $1;", "SELECT * FROM books\n-- @todo: index on isbn\nWHERE isbn = $1;")
	if _, _, err := generateIn(t, filepath.Join(dir, "sqlc.yaml")); err != nil {
		t.Fatalf("ordinary -- @ comment refused: %v", err)
	}
	replaceIn(t, q, "-- @todo: index on isbn", "-- @timeout 1s")
	_, _, err := generateIn(t, filepath.Join(dir, "sqlc.yaml"))
	if err == nil || !strings.Contains(err.Error(), "directive inside or after the SQL of GetBook") {
		t.Fatalf("misplaced directive: got %v", err)
	}
}
