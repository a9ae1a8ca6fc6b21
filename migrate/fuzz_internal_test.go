package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	amigrate "ariga.io/atlas/sql/migrate"
)

// FuzzMigrationFile feeds arbitrary migration files to the parsing the
// migrator relies on (issue 11): the "-- atlas:txmode" directive and the
// PostgreSQL statement scanner (dollar quotes, comments, BEGIN ATOMIC). It
// must never panic, the mode is "file" or "none", and every statement found
// is text of the file, in order. Seeds: the project's migrations/.
func FuzzMigrationFile(f *testing.F) {
	files, _ := filepath.Glob("../migrations/*.sql")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
		"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT f();",
		"CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n",
		"/* block ; comment */ SELECT 1; -- trailing ; comment\nSELECT 'a;b';",
		"SELECT $tag$ ; $notag$ ; $tag$;",
		"-- atlas:txmode\n-- atlas:txmode none none\nSELECT 1",
		"SELECT 'unterminated ;",
		"$$",
		";;;",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lf := amigrate.NewLocalFile("20260101000000_fuzz.sql", data)
		if m := txMode(lf); m != "file" && m != "none" {
			t.Fatalf("txMode = %q", m)
		}
		stmts, err := scanStmts(lf)
		if err != nil {
			return // a clear error is fine; a panic is not
		}
		src := string(data)
		last := -1
		for _, s := range stmts {
			if s.Pos < 0 || s.Pos > len(src) || s.Pos < last {
				t.Fatalf("statement at %d (previous at %d) in %d bytes", s.Pos, last, len(src))
			}
			if !strings.Contains(src, strings.TrimSpace(s.Text)) {
				t.Fatalf("statement %q is not text of the file", s.Text)
			}
			last = s.Pos
		}
	})
}
