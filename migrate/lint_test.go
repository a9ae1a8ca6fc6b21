package migrate_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentical/datalayer/migrate"
)

var update = flag.Bool("update", false, "rewrite golden files")

const lintBase = `CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, legacy text, code varchar(10));
CREATE UNIQUE INDEX users_code_idx ON users (code);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint, CONSTRAINT posts_user_fkey FOREIGN KEY (user_id) REFERENCES users (id));
CREATE TABLE scratch (id int);
`

// Every finding below is preceded by SET lock_timeout unless the case is
// about it, so each fixture fires exactly the codes it lists.
const lt = "SET LOCAL lock_timeout = '5s';\n"

func lintCodes(r *migrate.LintReport) []string {
	var codes []string
	for _, f := range r.Files {
		for _, x := range f.Findings {
			codes = append(codes, x.Code)
		}
	}
	slices.Sort(codes)
	return slices.Compact(codes)
}

// TestLintRules runs every rule on a fixture that must fire it (and only
// the codes listed), plus the safe variant that must not.
func TestLintRules(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.addMigration(t, v1+"_base.sql", lintBase)
	m := p.migrator(migrate.Config{})
	cases := []struct {
		name, sql string
		want      []string
	}{
		{"drop table", lt + "DROP TABLE scratch;", []string{"DS102"}},
		{"drop column", lt + "ALTER TABLE users DROP COLUMN legacy;", []string{"DS103"}},
		{"not null without default", lt + "ALTER TABLE users ADD COLUMN age bigint NOT NULL;", []string{"DL108", "MF103"}},
		{"not null with default", lt + "ALTER TABLE users ADD COLUMN age bigint NOT NULL DEFAULT 0;", nil},
		{"rename column", lt + "ALTER TABLE users RENAME COLUMN email TO mail;", []string{"BC102"}},
		{"rename table", lt + "ALTER TABLE scratch RENAME TO scratch2;", []string{"BC101"}},
		{"drop foreign key", lt + "ALTER TABLE posts DROP CONSTRAINT posts_user_fkey;", []string{"CD101"}},
		{"index not concurrent", lt + "CREATE INDEX users_email_idx ON users (email);", []string{"DL101"}},
		{"index concurrent", "-- atlas:txmode none\n\nSET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nRESET lock_timeout;", nil},
		{"session timeout leaks", "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN age bigint;", []string{"DL113"}},
		{"concurrent index in transaction", lt + "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);", []string{"DL103"}},
		{"drop index", "-- atlas:txmode none\n\nDROP INDEX users_code_idx;", []string{"DL102"}},
		{"unique constraint", lt + "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);", []string{"DL106", "MF101"}},
		{"unique using index", lt + "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_code_idx;", nil},
		{"set not null", lt + "ALTER TABLE users ALTER COLUMN legacy SET NOT NULL;", []string{"DL107", "MF104"}},
		{"not valid and validate together", lt + "ALTER TABLE users ADD CONSTRAINT c CHECK (email <> '') NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT c;", []string{"DL105"}},
		{"volatile default", lt + "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", []string{"DL109"}},
		{"inline reference", lt + "ALTER TABLE posts ADD COLUMN editor_id bigint REFERENCES users (id);", []string{"DL114"}},
		{"cast can fail", lt + "ALTER TABLE users ALTER COLUMN legacy TYPE bigint USING legacy::bigint;", []string{"DL110", "DL111"}},
		{"varchar shrink", lt + "ALTER TABLE users ALTER COLUMN code TYPE varchar(5);", []string{"DL110", "DL111", "DL201"}},
		{"types", "CREATE TABLE t2 (a serial, b varchar(3), c timestamp, d char(2), e int);", []string{"DL201", "DL202", "DL203", "DL204", "DL205"}},
		{"index on new table", "CREATE TABLE fresh (id bigint);\nCREATE INDEX fresh_idx ON fresh (id);", nil},
		{"type rewrite", lt + "ALTER TABLE users ALTER COLUMN id TYPE numeric;", []string{"DL110"}},
		{"type widening", lt + "ALTER TABLE users ALTER COLUMN code TYPE varchar(20);", []string{"DL201"}},
		{"constraint validated", lt + "ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email <> '');", []string{"DL104"}},
		{"constraint not valid", lt + "ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email <> '') NOT VALID;", nil},
		{"no lock_timeout", "ALTER TABLE users ADD COLUMN age bigint;", []string{"DL112"}},
		{"rename as drop and add", lt + "ALTER TABLE users DROP COLUMN legacy, ADD COLUMN old_notes text;", []string{"BC102", "RN101"}},
		{"failing statement", lt + "ALTER TABLE nope ADD COLUMN x int;", []string{"LT100"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := v2 + "_case.sql"
			p.addMigration(t, name, c.sql+"\n")
			defer func() {
				os.Remove(filepath.Join(p.dir, name))
				m.Hash()
			}()
			rep, err := m.Lint(ctx, migrate.LintOptions{Latest: 1})
			if err != nil && !errors.Is(err, migrate.ErrLintFailed) {
				t.Fatal(err)
			}
			if len(rep.Files) != 1 || rep.Files[0].Name != name {
				t.Fatalf("linted %+v", rep.Files)
			}
			got := lintCodes(rep)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				var b bytes.Buffer
				rep.Write(&b, migrate.FormatText)
				t.Errorf("codes %v, want %v\n%s", got, c.want, b.String())
			}
			// Policy: DS, DL1xx, RN and LT fail the run; MF, BC, CD and DL2xx warn.
			wantFail := slices.ContainsFunc(c.want, func(code string) bool {
				return strings.HasPrefix(code, "DS") || strings.HasPrefix(code, "DL1") || strings.HasPrefix(code, "RN") || strings.HasPrefix(code, "LT")
			})
			if errors.Is(err, migrate.ErrLintFailed) != wantFail || rep.Failed() != wantFail {
				t.Errorf("failed=%v (err %v), want %v", rep.Failed(), err, wantFail)
			}
		})
	}
}

func TestLintPolicyFromProject(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	hcl := filepath.Join(p.root, "atlas.hcl")
	writeFile(t, hcl, `lint {
  destructive { error = false }
  skip = ["DL112"]
}
env "test" {
  src = "file://`+p.schemaDir+`"
  dev = getenv("MY_DEV")
  url = getenv("MY_URL")
  migration {
    dir = "file://`+p.dir+`"
    lock_timeout = "3s"
  }
  lint {
    latest = 2
    data_depend { error = true }
  }
}
`)
	env := map[string]string{"MY_DEV": p.server, "MY_URL": "postgres://app:s3cret@db/app"}
	proj, err := migrate.LoadProject(hcl, "test", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if proj.DevURL != p.server || proj.URL != env["MY_URL"] || proj.Dir != p.dir || proj.SchemaDir != p.schemaDir ||
		proj.LockTimeout.String() != "3s" || proj.LintLatest != 2 {
		t.Fatalf("project: %+v", proj)
	}
	if _, err := migrate.LoadProject(hcl, "prod", nil); !errors.Is(err, migrate.ErrEnvNotFound) {
		t.Fatalf("unknown env: %v", err)
	}
	cfg := proj.Config(migrate.Config{})
	cfg.Now = p.clock.Now
	m := migrate.New(cfg)
	t.Cleanup(func() { m.Close(ctx) })
	p.addMigration(t, v1+"_base.sql", lintBase)
	p.addMigration(t, v2+"_drop.sql", "ALTER TABLE users DROP COLUMN legacy;\nALTER TABLE users ADD COLUMN age bigint NOT NULL;\n")
	rep, err := m.Lint(ctx, migrate.LintOptions{Latest: 1})
	if !errors.Is(err, migrate.ErrLintFailed) {
		t.Fatalf("lint: %v", err)
	}
	sev := map[string]migrate.Severity{}
	for _, x := range rep.Files[0].Findings {
		sev[x.Code] = x.Severity
	}
	// destructive downgraded, data_depend upgraded, DL112 skipped, DL108 default (error).
	want := map[string]migrate.Severity{"DS103": "warning", "MF103": "error", "DL108": "error"}
	if len(sev) != len(want) {
		t.Errorf("findings %v, want %v", sev, want)
	}
	for c, s := range want {
		if sev[c] != s {
			t.Errorf("%s severity %q, want %q (all: %v)", c, sev[c], s, sev)
		}
	}
}

// TestLintMarkdownGolden pins the pull-request comment. Run with -update
// to rewrite testdata/lint_report.md after an intended change.
func TestLintMarkdownGolden(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.addMigration(t, v1+"_base.sql", lintBase)
	p.addMigration(t, v2+"_clean.sql", "CREATE TABLE audit (id bigint PRIMARY KEY);\n")
	p.addMigration(t, v3+"_risky.sql", "ALTER TABLE users DROP COLUMN legacy, ADD COLUMN notes text;\nCREATE INDEX users_email_idx ON users (email);\nALTER TABLE users ADD COLUMN age bigint NOT NULL;\n")
	m := p.migrator(migrate.Config{})
	rep, err := m.Lint(ctx, migrate.LintOptions{Latest: 2})
	if !errors.Is(err, migrate.ErrLintFailed) {
		t.Fatalf("lint: %v", err)
	}
	var got bytes.Buffer
	if err := rep.Write(&got, migrate.FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "lint_report.md")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestLintMarkdownGolden -update)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("markdown report differs from %s (-update rewrites it):\n--- got\n%s\n--- want\n%s", golden, got.String(), want)
	}
	// The other formats carry the same findings.
	var js, txt bytes.Buffer
	rep.Write(&js, migrate.FormatJSON)
	rep.Write(&txt, migrate.FormatText)
	for _, code := range []string{"RN101", "DL101", "DL108", "DL112", "MF103"} {
		if !strings.Contains(js.String(), `"code": "`+code+`"`) || !strings.Contains(txt.String(), code) {
			t.Errorf("%s missing from json or text", code)
		}
	}
}

func TestLintGitBase(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	git := func(args ...string) {
		t.Helper()
		cmd := execCommand("git", args...)
		cmd.Dir = p.root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	git("config", "user.email", "t@example.com")
	git("config", "user.name", "t")
	p.addMigration(t, v1+"_base.sql", lintBase)
	git("add", ".")
	git("commit", "-qm", "base")
	p.addMigration(t, v2+"_new.sql", "SET LOCAL lock_timeout = '5s';\nDROP TABLE scratch;\n")
	m := p.migrator(migrate.Config{})
	rep, err := m.Lint(ctx, migrate.LintOptions{GitBase: "main"})
	if !errors.Is(err, migrate.ErrLintFailed) {
		t.Fatalf("lint: %v", err)
	}
	if len(rep.Files) != 1 || rep.Files[0].Name != v2+"_new.sql" || strings.Join(lintCodes(rep), ",") != "DS102" {
		t.Fatalf("report: %+v", rep.Files)
	}
}

// TestLintAgainst: with a real database, lint reports the data that would
// make a file fail, and table sizes on lock findings.
func TestLintAgainst(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.addMigration(t, v1+"_base.sql", `CREATE TABLE users (id bigint PRIMARY KEY, email text, code varchar(20), n text);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint);
`)
	m := p.migrator(migrate.Config{})
	target, _ := targetDB(t, p.server)
	if _, err := m.Apply(ctx, target, migrate.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.ExecContext(ctx, `INSERT INTO users SELECT i, CASE WHEN i = 7 THEN NULL ELSE 'u' || (i % 90) || '@x' END, repeat('c', 5 + i % 10), CASE WHEN i = 3 THEN 'abc' ELSE i::text END FROM generate_series(1, 100) i;
INSERT INTO posts SELECT i, CASE WHEN i = 5 THEN 999 ELSE i END FROM generate_series(1, 10) i;`); err != nil {
		t.Fatal(err)
	}
	p.addMigration(t, v2+"_risky.sql", lt+`ALTER TABLE users ALTER COLUMN code TYPE varchar(8);
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
ALTER TABLE users ALTER COLUMN n TYPE bigint USING n::bigint;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE users ADD CONSTRAINT users_code_check CHECK (length(code) < 14) NOT VALID;
ALTER TABLE posts ADD CONSTRAINT posts_user_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
`)
	rep, err := m.Lint(ctx, migrate.LintOptions{Latest: 1, Against: target})
	if !errors.Is(err, migrate.ErrLintFailed) {
		t.Fatalf("lint: %v", err)
	}
	got := map[string]string{}
	for _, x := range rep.Files[0].Findings {
		got[x.Code] = x.Text
	}
	for code, want := range map[string]string{
		"DL301": "longer than 8 characters",
		"DL302": "1 row(s) of \"users\" have \"email\" NULL",
		"DL303": "invalid input syntax for type bigint",
		"DL304": "appear more than once",
		"DL305": "violate CHECK \"users_code_check\"",
		"DL306": "1 row(s) of \"posts\" reference no row of \"users\"",
		"DL107": "~100 rows",
	} {
		if !strings.Contains(got[code], want) {
			var b bytes.Buffer
			rep.Write(&b, migrate.FormatText)
			t.Errorf("%s: %q does not say %q\n%s", code, got[code], want, b.String())
		}
	}
	// Without a database, none of the data codes.
	rep, _ = m.Lint(ctx, migrate.LintOptions{Latest: 1})
	for _, x := range rep.Files[0].Findings {
		if strings.HasPrefix(x.Code, "DL3") {
			t.Errorf("data finding without --against: %+v", x)
		}
	}
}
