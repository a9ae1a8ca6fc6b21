package migrate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentical/datalayer/migrate"
)

const baseSchema = `CREATE TYPE user_role AS ENUM ('admin', 'member');
CREATE TABLE users (
    id    bigint GENERATED ALWAYS AS IDENTITY,
    email text NOT NULL,
    role  user_role NOT NULL DEFAULT 'member',
    CONSTRAINT users_pkey PRIMARY KEY (id)
);
`

const postsSchema = `CREATE TABLE posts (
    id        bigint GENERATED ALWAYS AS IDENTITY,
    author_id bigint NOT NULL,
    title     text NOT NULL,
    CONSTRAINT posts_pkey PRIMARY KEY (id)
);
`

// TestDiffSteps walks a schema through the common changes and checks the
// SQL each diff writes. The clock is frozen, so every diff happens "within
// the same second": versions must still be distinct and increasing.
//
// The zero-downtime policy is off here (one plain file per step); the
// policy's files are checked by TestSchemaEdits.
func TestDiffSteps(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	m := p.migrator(migrate.Config{Diff: migrate.DiffPolicy{Unsafe: true}})

	steps := []struct {
		name   string
		schema map[string]string
		want   string
	}{
		{"initial", map[string]string{"01_users.sql": baseSchema},
			`-- Create enum type "user_role"
CREATE TYPE "user_role" AS ENUM ('admin', 'member');
-- Create "users" table
CREATE TABLE "users" ("id" bigint NOT NULL GENERATED ALWAYS AS IDENTITY, "email" text NOT NULL, "role" "user_role" NOT NULL DEFAULT 'member', PRIMARY KEY ("id"));
`},
		{"add_column", map[string]string{"01_users.sql": strings.Replace(baseSchema, "email text NOT NULL,", "email text NOT NULL,\n    nickname text NULL,", 1)},
			`-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "nickname" text NULL;
`},
		{"add_index", map[string]string{"01_users.sql": strings.Replace(baseSchema, "email text NOT NULL,", "email text NOT NULL,\n    nickname text NULL,", 1) +
			"CREATE INDEX users_nickname_idx ON users (nickname);\n"},
			`-- Create index "users_nickname_idx" to table: "users"
CREATE INDEX "users_nickname_idx" ON "users" ("nickname");
`},
		{"enum_value", map[string]string{"01_users.sql": strings.Replace(strings.Replace(baseSchema, "'member');", "'member', 'owner');", 1), "email text NOT NULL,", "email text NOT NULL,\n    nickname text NULL,", 1) +
			"CREATE INDEX users_nickname_idx ON users (nickname);\n"},
			`-- Add value to enum type: "user_role"
ALTER TYPE "user_role" ADD VALUE 'owner' AFTER 'member';
`},
	}
	withEnum := strings.Replace(strings.Replace(baseSchema, "'member');", "'member', 'owner');", 1), "email text NOT NULL,", "email text NOT NULL,\n    nickname text NULL,", 1) +
		"CREATE INDEX users_nickname_idx ON users (nickname);\n"
	steps = append(steps,
		struct {
			name   string
			schema map[string]string
			want   string
		}{"posts", map[string]string{"01_users.sql": withEnum, "02_posts.sql": postsSchema},
			`-- Create "posts" table
CREATE TABLE "posts" ("id" bigint NOT NULL GENERATED ALWAYS AS IDENTITY, "author_id" bigint NOT NULL, "title" text NOT NULL, PRIMARY KEY ("id"));
`},
		struct {
			name   string
			schema map[string]string
			want   string
		}{"add_fk", map[string]string{"01_users.sql": withEnum, "02_posts.sql": strings.Replace(postsSchema, "CONSTRAINT posts_pkey PRIMARY KEY (id)",
			"CONSTRAINT posts_pkey PRIMARY KEY (id),\n    CONSTRAINT posts_author_fkey FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE CASCADE", 1)},
			`-- Modify "posts" table
ALTER TABLE "posts" ADD CONSTRAINT "posts_author_fkey" FOREIGN KEY ("author_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
`},
		struct {
			name   string
			schema map[string]string
			want   string
		}{"drop_column", map[string]string{"01_users.sql": strings.Replace(withEnum, "    nickname text NULL,\n", "", 1) + "", "02_posts.sql": strings.Replace(postsSchema, "CONSTRAINT posts_pkey PRIMARY KEY (id)",
			"CONSTRAINT posts_pkey PRIMARY KEY (id),\n    CONSTRAINT posts_author_fkey FOREIGN KEY (author_id) REFERENCES users (id) ON DELETE CASCADE", 1)},
			""},
	)
	// Dropping the column must also drop its index from schema/.
	steps[len(steps)-1].schema["01_users.sql"] = strings.Replace(steps[len(steps)-1].schema["01_users.sql"], "CREATE INDEX users_nickname_idx ON users (nickname);\n", "", 1)
	steps[len(steps)-1].want = `-- Modify "users" table
ALTER TABLE "users" DROP COLUMN "nickname";
`

	var versions []string
	for _, s := range steps {
		p.setSchema(t, s.schema)
		res, err := m.Diff(ctx, s.name)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !strings.HasSuffix(res.File, "_"+s.name+".sql") {
			t.Errorf("%s: file %s", s.name, res.File)
		}
		if got := p.read(t, res.File); got != s.want {
			t.Errorf("%s: wrote\n%s\nwant\n%s", s.name, got, s.want)
		}
		versions = append(versions, strings.SplitN(res.File, "_", 2)[0])
	}
	// All diffs ran "in the same second": versions count up from it.
	want := []string{"20250301120000", "20250301120001", "20250301120002", "20250301120003", "20250301120004", "20250301120005", "20250301120006"}
	if strings.Join(versions, ",") != strings.Join(want, ",") {
		t.Errorf("versions %v, want %v", versions, want)
	}
	// atlas.sum covers every file, in the Atlas CLI's format.
	sum := p.read(t, "atlas.sum")
	lines := strings.Split(strings.TrimSpace(sum), "\n")
	if len(lines) != len(steps)+1 || !strings.HasPrefix(lines[0], "h1:") {
		t.Errorf("atlas.sum:\n%s", sum)
	}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, want[i]+"_"+steps[i].name+".sql h1:") {
			t.Errorf("atlas.sum line %d: %q", i+2, l)
		}
	}
	// In sync now: no file, Check passes.
	if _, err := m.Diff(ctx, "nothing"); !errors.Is(err, migrate.ErrNoChanges) {
		t.Fatalf("diff without changes: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(p.dir, "*.sql")); len(files) != len(steps) {
		t.Errorf("%d files after a no-change diff, want %d", len(files), len(steps))
	}
	if _, err := m.Check(ctx); err != nil {
		t.Fatalf("check in sync: %v", err)
	}
}

func TestCheckReportsMissingSQL(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	m := p.migrator(migrate.Config{})
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema})
	if _, err := m.Diff(ctx, "initial"); err != nil {
		t.Fatal(err)
	}
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema + "CREATE INDEX users_email_idx ON users (email);\n"})
	res, err := m.Check(ctx)
	if !errors.Is(err, migrate.ErrDrift) {
		t.Fatalf("check: %v, want ErrDrift", err)
	}
	if !strings.Contains(res.SQL, `CREATE INDEX CONCURRENTLY "users_email_idx" ON "users" ("email");`) || !strings.Contains(err.Error(), "users_email_idx") {
		t.Errorf("missing SQL not reported: %q / %v", res.SQL, err)
	}
	if files, _ := filepath.Glob(filepath.Join(p.dir, "*.sql")); len(files) != 1 {
		t.Errorf("check wrote files: %v", files)
	}
}

// TestDiffRejectsUnsupportedObjects: objects the library ignores must stop
// the diff by name, including the DEFAULT nextval(...) on a standalone
// sequence that would otherwise read back as bigserial.
func TestDiffRejectsUnsupportedObjects(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		sql  string
		want []string
	}{
		"nextval": {`CREATE SEQUENCE order_no_seq;
CREATE TABLE orders (id bigint NOT NULL DEFAULT nextval('order_no_seq'), PRIMARY KEY (id));`, []string{"standalone sequence public.order_no_seq (", "/10_objects.sql)"}},
		"view and function": {`CREATE TABLE t (id int PRIMARY KEY);
CREATE VIEW t_view AS SELECT id FROM t;
CREATE MATERIALIZED VIEW t_mat AS SELECT id FROM t;
CREATE FUNCTION t_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM t $$;`,
			[]string{"view public.t_view", "materialized view public.t_mat", "function public.t_count"}},
		"trigger domain composite": {`CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
CREATE TYPE pair AS (a int, b int);
CREATE TABLE t (id int PRIMARY KEY, e email);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();`,
			[]string{"domain public.email", "composite type public.pair", "trigger t_touch on t", "function public.touch"}},
		"partitions and schemas": {`CREATE SCHEMA other;
CREATE TABLE m (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');`,
			[]string{"schema other", "partitioned table public.m", "partition public.m_2025"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := newProject(t)
			p.setSchema(t, map[string]string{"10_objects.sql": c.sql})
			_, err := p.migrator(migrate.Config{}).Diff(ctx, "x")
			if !errors.Is(err, migrate.ErrUnsupported) {
				t.Fatalf("diff: %v, want ErrUnsupported", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %q:\n%v", w, err)
				}
			}
			if files, _ := filepath.Glob(filepath.Join(p.dir, "*")); len(files) != 0 {
				t.Errorf("diff wrote %v", files)
			}
		})
	}
}

// TestDiffKeepsHandWrittenFiles: a view in a hand-written migration is
// replayed with the rest and does not show up as a change.
func TestDiffKeepsHandWrittenFiles(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	m := p.migrator(migrate.Config{})
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema})
	if _, err := m.Diff(ctx, "initial"); err != nil {
		t.Fatal(err)
	}
	p.addMigration(t, "20250301120001_user_emails_view.sql", "CREATE VIEW user_emails AS SELECT id, email FROM users;\n")
	if _, err := m.Diff(ctx, "again"); !errors.Is(err, migrate.ErrNoChanges) {
		t.Fatalf("diff after hand-written view: %v", err)
	}
	// A schema change still diffs on top of it, with the next version.
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema + "CREATE INDEX users_email_idx ON users (email);\n"})
	res, err := m.Diff(ctx, "idx")
	if err != nil {
		t.Fatal(err)
	}
	if res.File != "20250301120002_idx_indexes.sql" {
		t.Errorf("file %s", res.File)
	}
	// Hand-written objects the library ignores (a trigger function whose body
	// holds semicolons) hash, apply and lint like generated files.
	p.addMigration(t, "20250301120003_touch.sql", `CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.email := lower(NEW.email);
  RETURN NEW;
END;
$$;
CREATE TRIGGER users_touch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION touch();
`)
	if _, err := m.Diff(ctx, "none"); !errors.Is(err, migrate.ErrNoChanges) {
		t.Fatalf("diff after hand-written trigger: %v", err)
	}
	db, _ := targetDB(t, p.server)
	if res, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil || len(res.Files) != 4 {
		t.Fatalf("apply: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO users (email) VALUES ('MiXeD@Example.com')"); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM users WHERE email = 'mixed@example.com'"); n != 1 {
		t.Error("trigger from the hand-written file did not run")
	}
	rep, err := m.Lint(ctx, migrate.LintOptions{Latest: 1})
	if !errors.Is(err, migrate.ErrLintFailed) || len(rep.Files) != 1 || len(rep.Files[0].Findings) != 1 || rep.Files[0].Findings[0].Code != "DL112" {
		t.Fatalf("lint of the hand-written file: %v %+v", err, rep)
	}
}

func TestDiffRefusesEditedDirectory(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	m := p.migrator(migrate.Config{})
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema})
	res, err := m.Diff(ctx, "initial")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(p.dir, res.File), p.read(t, res.File)+"-- edited\n")
	if _, err := m.Diff(ctx, "x"); !errors.Is(err, migrate.ErrChecksum) {
		t.Fatalf("diff on edited dir: %v, want ErrChecksum", err)
	}
	_ = os.Remove
}

// TestDiffSchemaErrorsNameFileAndLine: a syntax error in schema/ names the
// file and the line of the error, not only the statement; an unsupported
// object is blamed on the file that creates it, even when another file
// mentions its name.
func TestDiffSchemaErrorsNameFileAndLine(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.setSchema(t, map[string]string{
		"01_users.sql": baseSchema,
		"02_posts.sql": "-- posts\nCREATE TABLE posts (\n    id bigint PRIMARY KEY,\n    title text NOT NULL,\n    body text NOT NUL\n);\n",
	})
	_, err := p.migrator(migrate.Config{}).Diff(ctx, "x")
	var se *migrate.StmtError
	if !errors.As(err, &se) || !strings.HasSuffix(se.Path, "02_posts.sql") || se.Line != 5 {
		t.Fatalf("error %v (%+v), want 02_posts.sql line 5", err, se)
	}
	if !strings.Contains(err.Error(), "02_posts.sql:5: ") {
		t.Errorf("message %q lacks file:line", err)
	}
	p.setSchema(t, map[string]string{
		"01_users.sql": baseSchema + "-- users_count is defined in 03_views.sql\n",
		"02_posts.sql": postsSchema,
		"03_views.sql": "CREATE VIEW users_count AS SELECT count(*) FROM users;\n",
	})
	_, err = p.migrator(migrate.Config{}).Diff(ctx, "x")
	if !errors.Is(err, migrate.ErrUnsupported) || !strings.Contains(err.Error(), "view public.users_count (") || strings.Contains(err.Error(), "01_users.sql") {
		t.Fatalf("unsupported object blamed on the wrong file: %v", err)
	}
}

// TestDiffRenames: a rename candidate is refused until confirmed, by flag,
// schema comment or prompt; --no-rename writes the drop and add.
func TestDiffRenames(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	m := p.migrator(migrate.Config{})
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema})
	if _, err := m.Diff(ctx, "initial"); err != nil {
		t.Fatal(err)
	}
	renamed := strings.Replace(baseSchema, "email text NOT NULL", "mail text NOT NULL", 1)
	p.setSchema(t, map[string]string{"01_users.sql": renamed})
	if _, err := m.Diff(ctx, "r"); !errors.Is(err, migrate.ErrRenameUnconfirmed) || !strings.Contains(err.Error(), "users.email=mail") {
		t.Fatalf("unconfirmed: %v", err)
	}
	var asked []string
	res, err := m.DiffWith(ctx, migrate.DiffOptions{Name: "r", Confirm: func(q string) (bool, error) { asked = append(asked, q); return false, nil }})
	if err != nil || len(asked) != 1 || !strings.Contains(res.SQL, `DROP COLUMN "email"`) || !strings.Contains(res.SQL, `ADD COLUMN "mail"`) {
		t.Fatalf("prompt answered no: %v %v\n%s", err, asked, res.SQL)
	}
	if idx := strings.Index(res.SQL, `ADD COLUMN "mail"`); idx > strings.Index(res.SQL, `DROP COLUMN "email"`) {
		t.Errorf("drop before add:\n%s", res.SQL)
	}
	// Undo that file and confirm by schema comment instead.
	os.Remove(filepath.Join(p.dir, res.File))
	m.Hash()
	p.setSchema(t, map[string]string{"01_users.sql": "-- migrate:rename users.email=mail\n" + renamed})
	res, err = m.Diff(ctx, "r")
	if err != nil || !strings.Contains(res.SQL, `ALTER TABLE "users" RENAME COLUMN "email" TO "mail";`) || strings.Contains(res.SQL, "DROP") {
		t.Fatalf("comment rename: %v\n%v", err, res)
	}
	// With two candidates for one dropped column, confirming one settles both.
	os.Remove(filepath.Join(p.dir, res.File))
	m.Hash()
	p.setSchema(t, map[string]string{"01_users.sql": strings.Replace(renamed, "mail text NOT NULL,", "alias text NOT NULL,\n    mail text NOT NULL,", 1)})
	res, err = m.DiffWith(ctx, migrate.DiffOptions{Name: "r", Renames: []string{"users.email=mail"}})
	if err != nil || !strings.Contains(res.SQL, `RENAME COLUMN "email" TO "mail"`) || !strings.Contains(res.SQL, `ADD COLUMN "alias"`) {
		t.Fatalf("two candidates: %v\n%v", err, res)
	}
	// A --rename flag that matches nothing is an error.
	p.setSchema(t, map[string]string{"01_users.sql": renamed + "CREATE TABLE extra (id bigint PRIMARY KEY);\n"})
	if _, err := m.DiffWith(ctx, migrate.DiffOptions{Name: "x", Renames: []string{"nope=extra"}}); err == nil || !strings.Contains(err.Error(), "--rename nope=extra") {
		t.Fatalf("unmatched --rename: %v", err)
	}
}

// TestDiffCacheDev: cached replays and schema loads follow atlas.sum and
// schema/, so a cached Check never reports a stale result.
func TestDiffCacheDev(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	fresh := func() *migrate.Migrator { return p.migrator(migrate.Config{CacheDev: true}) }
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema})
	if _, err := fresh().Diff(ctx, "initial"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // built, then reused by another Migrator (another process)
		if _, err := fresh().Check(ctx); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	p.setSchema(t, map[string]string{"01_users.sql": baseSchema + "CREATE TABLE t (id bigint PRIMARY KEY);\n"})
	if _, err := fresh().Check(ctx); !errors.Is(err, migrate.ErrDrift) {
		t.Fatalf("check after a schema change: %v", err)
	}
	if _, err := fresh().Diff(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh().Check(ctx); err != nil {
		t.Fatalf("check after the new file: %v", err)
	}
}

// TestDiffPolicyFromProject: atlas.hcl's diff block sets the policy.
func TestDiffPolicyFromProject(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "atlas.hcl")
	writeFile(t, path, "diff {\n  zero_downtime = false\n  lock_timeout = \"2s\"\n}\nenv \"local\" {\n  src = \"file://schema\"\n}\n")
	proj, err := migrate.LoadProject(path, "local", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := proj.Config(migrate.Config{}).Diff; got != (migrate.DiffPolicy{Unsafe: true, LockTimeout: "2s"}) {
		t.Errorf("policy %+v", got)
	}
	writeFile(t, path, "diff {\n  lock_timeout = \"soon\"\n}\n")
	if _, err := migrate.LoadProject(path, "", nil); err == nil || !strings.Contains(err.Error(), "diff.lock_timeout") {
		t.Errorf("bad lock_timeout: %v", err)
	}
}
