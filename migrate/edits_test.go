package migrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/agentical/datalayer/migrate"
)

var showEdits = flag.Bool("edits.show", false, "TestSchemaEdits: log every generated file")

// editsBase is the schema every edit starts from.
const editsBase = `CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL,
  full_name text NOT NULL,
  phone text,
  notes text,
  legacy_code text,
  city text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL,
  status order_status NOT NULL DEFAULT 'new',
  amount_cents bigint NOT NULL,
  note varchar(200),
  kind text NOT NULL DEFAULT 'web',
  CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) REFERENCES customers (id)
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE TABLE audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  msg text NOT NULL
);
CREATE TABLE scratch (id bigint PRIMARY KEY, v text);
`

// editsSeed fills the base schema: a few thousand rows.
const editsSeed = `INSERT INTO customers (email, full_name, phone, notes, legacy_code, city)
  SELECT 'user' || i || '@example.com', 'User ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE '+1-555-' || i END,
         'note ' || i, (i * 7)::text, 'city' || (i % 50)
  FROM generate_series(1, 2000) i;
INSERT INTO orders (customer_id, status, amount_cents, note, kind)
  SELECT 1 + (i % 2000), (ARRAY['new', 'paid', 'shipped'])[1 + i % 3]::order_status, i * 100, 'order ' || i, CASE WHEN i % 4 = 0 THEN 'store' ELSE 'web' END
  FROM generate_series(1, 3000) i;
INSERT INTO audit (msg) SELECT 'event ' || i FROM generate_series(1, 500) i;
INSERT INTO scratch SELECT i, 'v' || i FROM generate_series(1, 100) i;
`

// edit is one schema change a developer makes, and what must follow.
type edit struct {
	name    string
	apply   func(string) string // schema edit
	renames []string            // --rename flags
	// afterDiff edits the generated files the way the developer would (a
	// backfill for a split); it returns the statement to insert before the
	// first DROP of the main file.
	backfill string
	// tables maps each base table to its name afterwards ("" dropped).
	tables map[string]string
	// lint is the exact multiset of codes lint reports on the new files.
	lint []string
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("edit does not apply: " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

func chain(fs ...func(string) string) func(string) string {
	return func(s string) string {
		for _, f := range fs {
			s = f(s)
		}
		return s
	}
}

func appendSQL(sql string) func(string) string { return func(s string) string { return s + sql } }

var schemaEdits = []edit{
	{name: "add_nullable_column", apply: replace("  city text,\n", "  city text,\n  nickname text,\n")},
	{name: "add_column_with_default", apply: replace("  kind text NOT NULL DEFAULT 'web',\n", "  kind text NOT NULL DEFAULT 'web',\n  priority bigint NOT NULL DEFAULT 0,\n")},
	{name: "add_column_volatile_default", apply: replace("  city text,\n", "  city text,\n  token uuid NOT NULL DEFAULT gen_random_uuid(),\n"), lint: []string{"MF104"}},
	{name: "add_column_default_now", apply: replace("  msg text NOT NULL\n", "  msg text NOT NULL,\n  at timestamptz NOT NULL DEFAULT now()\n")},
	{name: "drop_column", apply: replace("  notes text,\n", ""), lint: []string{"DS103"}},
	{name: "drop_table", apply: replace("CREATE TABLE scratch (id bigint PRIMARY KEY, v text);\n", ""), tables: map[string]string{"scratch": ""}, lint: []string{"DS102"}},
	{name: "rename_column_flag", apply: replace("  full_name text NOT NULL,\n", "  display_name text NOT NULL,\n"), renames: []string{"customers.full_name=display_name"}, lint: []string{"BC102"}},
	{name: "rename_column_comment", apply: replace("  note varchar(200),\n", "  memo varchar(200), -- migrate:rename orders.note=memo\n"), lint: []string{"BC102"}},
	{name: "rename_table", apply: replace("CREATE TABLE audit (", "CREATE TABLE audit_log ("), renames: []string{"audit=audit_log"},
		tables: map[string]string{"audit": "audit_log"}, lint: []string{"BC101"}},
	{name: "rename_table_and_indexes", apply: chain(replace("CREATE TABLE orders (", "CREATE TABLE purchases ("), replace("orders_customer_fkey", "purchases_customer_fkey"),
		replace("CREATE INDEX orders_customer_idx ON orders", "CREATE INDEX purchases_customer_idx ON purchases")), renames: []string{"orders=purchases"},
		tables: map[string]string{"orders": "purchases"}, lint: []string{"BC101"}},
	{name: "rename_index", apply: replace("CREATE INDEX orders_customer_idx", "CREATE INDEX orders_customer_id_idx")},
	{name: "widen_varchar", apply: replace("  note varchar(200),\n", "  note varchar(500),\n"), lint: []string{"DL201"}},
	{name: "varchar_to_text", apply: replace("  note varchar(200),\n", "  note text,\n")},
	{name: "text_to_bigint_using", apply: replace("  legacy_code text,\n", "  legacy_code bigint,\n"), lint: []string{"DL110", "DL111"}},
	{name: "bigint_to_numeric", apply: replace("  amount_cents bigint NOT NULL,\n", "  amount_cents numeric(14,0) NOT NULL,\n"), lint: []string{"DL110"}},
	{name: "text_to_enum", apply: chain(replace("CREATE TABLE orders (", "CREATE TYPE order_kind AS ENUM ('web', 'store');\nCREATE TABLE orders ("),
		replace("  kind text NOT NULL DEFAULT 'web',\n", "  kind order_kind NOT NULL DEFAULT 'web',\n")), lint: []string{"DL110", "DL111"}},
	{name: "add_index", apply: appendSQL("CREATE INDEX customers_city_idx ON customers (city);\n")},
	{name: "add_unique_constraint", apply: replace("  created_at timestamptz NOT NULL DEFAULT now()\n);", "  created_at timestamptz NOT NULL DEFAULT now(),\n  CONSTRAINT customers_email_key UNIQUE (email)\n);"), lint: []string{"MF101"}},
	{name: "add_unique_expression_index", apply: appendSQL("CREATE UNIQUE INDEX customers_email_lower_idx ON customers (lower(email));\n")},
	{name: "drop_index", apply: replace("CREATE INDEX orders_customer_idx ON orders (customer_id);\n", "")},
	{name: "add_foreign_key_column", apply: replace("  msg text NOT NULL\n", "  msg text NOT NULL,\n  customer_id bigint REFERENCES customers (id)\n")},
	{name: "add_check", apply: replace("  CONSTRAINT orders_customer_fkey", "  CONSTRAINT orders_amount_positive CHECK (amount_cents >= 0),\n  CONSTRAINT orders_customer_fkey")},
	{name: "set_not_null", apply: replace("  city text,\n", "  city text NOT NULL,\n"), lint: []string{"MF104"}},
	{name: "drop_not_null", apply: replace("  email text NOT NULL,\n", "  email text,\n"), lint: []string{"DL116"}},
	{name: "enum_add_value", apply: replace("('new', 'paid', 'shipped')", "('new', 'paid', 'shipped', 'refunded')")},
	{name: "new_enum_column", apply: chain(replace("CREATE TABLE orders (", "CREATE TYPE priority_level AS ENUM ('low', 'normal', 'high');\nCREATE TABLE orders ("),
		replace("  kind text NOT NULL DEFAULT 'web',\n", "  kind text NOT NULL DEFAULT 'web',\n  level priority_level NOT NULL DEFAULT 'normal',\n"))},
	{name: "split_table", apply: chain(replace("  phone text,\n", ""), appendSQL("CREATE TABLE customer_phones (\n  customer_id bigint PRIMARY KEY REFERENCES customers (id),\n  phone text NOT NULL\n);\n")),
		backfill: "INSERT INTO customer_phones (customer_id, phone) SELECT id, phone FROM customers WHERE phone IS NOT NULL", lint: []string{"DS103"}},
	{name: "new_table", apply: appendSQL("CREATE TABLE tags (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  name text NOT NULL UNIQUE\n);\nCREATE INDEX tags_name_lower_idx ON tags (lower(name));\n")},
	{name: "new_table_legacy_types", apply: appendSQL("CREATE TABLE legacy (id serial PRIMARY KEY, code varchar(10), at timestamp, flag char(1), n integer);\n"),
		lint: []string{"DL201", "DL202", "DL202", "DL203", "DL204", "DL205"}},
}

// squawkRules maps each squawk rule to the codes of ours that cover it.
var squawkRules = map[string][]string{
	"require-concurrent-index-creation":            {"DL101"},
	"require-concurrent-index-deletion":            {"DL102"},
	"ban-concurrent-index-creation-in-transaction": {"DL103"},
	"adding-foreign-key-constraint":                {"DL104", "DL114"},
	"constraint-missing-not-valid":                 {"DL104", "DL105"},
	"disallowed-unique-constraint":                 {"DL106"},
	"adding-primary-key-constraint":                {"DL106"},
	"adding-not-nullable-field":                    {"DL107"},
	"adding-required-field":                        {"DL108"},
	"adding-field-with-default":                    {"DL109"},
	"changing-column-type":                         {"DL110"},
	"require-lock-timeout":                         {"DL112"},
	"transaction-nesting":                          {"DL115"},
	"ban-drop-not-null":                            {"DL116"},
	"ban-truncate-cascade":                         {"DL117"},
	"prefer-text-field":                            {"DL201"},
	"prefer-bigint-over-int":                       {"DL202"},
	"prefer-bigint-over-smallint":                  {"DL202"},
	"prefer-identity":                              {"DL203"},
	"prefer-timestamp-tz":                          {"DL204"},
	"ban-char-field":                               {"DL205"},
	"require-enum-value-ordering":                  {"DL206"},
	"renaming-column":                              {"BC102"},
	"renaming-table":                               {"BC101"},
	"ban-drop-column":                              {"DS103"},
	"ban-drop-table":                               {"DS102"},
	"ban-drop-database":                            {"DS101"},
}

// squawkDeliberate lists squawk findings we do not report, and why.
var squawkDeliberate = map[string]string{
	"require-statement-timeout":              "we bound lock waits (lock_timeout), not run time: a statement_timeout would abort a VALIDATE or a CONCURRENTLY build that blocks nobody",
	"changing-column-type/binary-compatible": "widening varchar or varchar to text changes only the catalog: no rewrite, so no DL110",
	"prefer-robust-stmts":                    "apply records progress per statement in txmode none files, resumes at the failed one and drops the INVALID index a failed concurrent build leaves; IF NOT EXISTS would keep that invalid index",
}

type squawkFinding struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Rule string `json:"rule_name"`
}

func runSquawk(t *testing.T, path string, inTx bool) []squawkFinding {
	t.Helper()
	bin, err := exec.LookPath("squawk")
	if err != nil {
		t.Fatalf("squawk is not installed: npm install -g squawk-cli@2.66.0 (CI: .ci/install.d/squawk.sh)")
	}
	args := []string{"--pg-version=15", "--reporter", "json"}
	if inTx {
		args = append(args, "--assume-in-transaction")
	}
	cmd := exec.Command(bin, append(args, path)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run() // exits 1 when it finds something
	var fs []squawkFinding
	if err := json.Unmarshal(out.Bytes(), &fs); err != nil {
		t.Fatalf("squawk %s: %v\n%s\n%s", path, err, out.String(), errb.String())
	}
	return fs
}

// seeded creates a database with the base migrations applied and the seed
// rows, to be used as a template.
func seeded(t *testing.T, p *project, m *migrate.Migrator) string {
	t.Helper()
	ctx := context.Background()
	db, _ := targetDB(t, p.server)
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, editsSeed); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return name
}

func rowCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	out := map[string]int{}
	for _, n := range names {
		out[n] = queryInt(t, db, fmt.Sprintf("SELECT count(*) FROM %q", n))
	}
	return out
}

// TestSchemaEdits is the done-when suite: for each edit, diff writes the
// files, they apply on a seeded database keeping every row, the database
// then matches schema/, lint reports exactly the expected codes, and every
// squawk finding is one of ours or a listed deliberate difference.
func TestSchemaEdits(t *testing.T) {
	ctx := context.Background()
	base := newProject(t)
	base.setSchema(t, map[string]string{"01_schema.sql": editsBase})
	bm := base.migrator(migrate.Config{})
	if _, err := bm.Diff(ctx, "base"); err != nil {
		t.Fatal(err)
	}
	tmpl := seeded(t, base, bm)
	admin, err := migrate.Open(base.server)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var mu sync.Mutex
	table := map[string]string{}
	t.Cleanup(func() {
		var b strings.Builder
		b.WriteString("| edit | files | applies | rows kept | lint | squawk |\n|---|---|---|---|---|---|\n")
		for _, e := range schemaEdits {
			b.WriteString(table[e.name])
		}
		t.Logf("schema edits:\n%s", b.String())
	})
	t.Run("edits", func(t *testing.T) {
		for _, e := range schemaEdits {
			t.Run(e.name, func(t *testing.T) {
				t.Parallel()
				row := "| " + e.name + " | "
				defer func() {
					mu.Lock()
					table[e.name] = row + "\n"
					mu.Unlock()
				}()
				p := newProject(t)
				p.clock = base.clock
				entries, _ := os.ReadDir(base.dir)
				for _, de := range entries {
					b, _ := os.ReadFile(filepath.Join(base.dir, de.Name()))
					writeFile(t, filepath.Join(p.dir, de.Name()), string(b))
				}
				p.setSchema(t, map[string]string{"01_schema.sql": e.apply(editsBase)})
				m := p.migrator(migrate.Config{})
				res, err := m.DiffWith(ctx, migrate.DiffOptions{Name: e.name, Renames: e.renames})
				if err != nil {
					row += "diff failed |"
					t.Fatalf("diff: %v", err)
				}
				if e.backfill != "" {
					f := filepath.Join(p.dir, res.Files[0].Name)
					content := p.read(t, res.Files[0].Name)
					i := strings.Index(content, "ALTER TABLE \"customers\" DROP COLUMN")
					if i < 0 {
						t.Fatalf("no DROP COLUMN in\n%s", content)
					}
					// Creates come before drops: the backfill fits between them.
					content = content[:strings.LastIndex(content[:i], "--")] + "-- Backfill (hand-written)\n" + e.backfill + ";\n" + content[strings.LastIndex(content[:i], "--"):]
					writeFile(t, f, content)
					if err := m.Hash(); err != nil {
						t.Fatal(err)
					}
				}
				var names []string
				for _, f := range res.Files {
					names = append(names, f.Name[15:])
				}
				row += strings.Join(names, "<br>") + " | "

				// Apply on a copy of the seeded database.
				dbName := "edit_" + strings.ReplaceAll(e.name, "-", "_")
				if _, err := admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", dbName, tmpl)); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)") })
				db, err := migrate.Open(replaceDB(t, p.server, dbName))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				before := rowCounts(t, db)
				phones := queryInt(t, db, "SELECT count(*) FROM customers WHERE phone IS NOT NULL")
				if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
					row += "FAILED | | | |"
					t.Fatalf("apply: %v", err)
				}
				row += "yes | "
				after := rowCounts(t, db)
				kept := true
				for tbl, n := range before {
					to := tbl
					if r, ok := e.tables[tbl]; ok {
						to = r
					}
					if to == "" {
						continue
					}
					if after[to] != n {
						kept = false
						t.Errorf("table %s: %d rows before, %s has %d after", tbl, n, to, after[to])
					}
				}
				if e.backfill != "" && after["customer_phones"] != phones {
					kept = false
					t.Errorf("split: %d phones moved", after["customer_phones"])
				}
				row += map[bool]string{true: "yes", false: "NO"}[kept] + " | "
				if _, err := m.CheckDatabase(ctx, db); err != nil {
					t.Errorf("database after apply: %v", err)
				}
				for old, to := range e.tables {
					if to != "" && queryInt(t, db, "SELECT count(*) FROM pg_indexes WHERE indexname = $1", to+"_pkey") != 1 {
						t.Errorf("renamed table %s -> %s: primary key index not renamed", old, to)
					}
				}
				if _, err := m.Check(ctx); err != nil {
					t.Errorf("diff --check after the edit: %v", err)
				}

				// Lint the new files: exactly the expected codes.
				rep, err := m.Lint(ctx, migrate.LintOptions{Latest: len(res.Files)})
				if err != nil && !errors.Is(err, migrate.ErrLintFailed) {
					t.Fatal(err)
				}
				var got []string
				ours := map[string]map[string]bool{} // file -> codes
				for _, f := range rep.Files {
					ours[f.Name] = map[string]bool{}
					for _, x := range f.Findings {
						got = append(got, x.Code)
						ours[f.Name][x.Code] = true
					}
				}
				// Diff reports the same DL findings when it writes the files.
				var fromDiff, dlLint []string
				for _, x := range res.Findings {
					fromDiff = append(fromDiff, x.Code)
				}
				for _, c := range got {
					if strings.HasPrefix(c, "DL") {
						dlLint = append(dlLint, c)
					}
				}
				slices.Sort(fromDiff)
				slices.Sort(dlLint)
				if !slices.Equal(fromDiff, dlLint) {
					t.Errorf("diff findings %v, lint DL findings %v", fromDiff, dlLint)
				}
				slices.Sort(got)
				want := slices.Clone(e.lint)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					var b bytes.Buffer
					rep.Write(&b, migrate.FormatText)
					t.Errorf("lint codes %v, want %v\n%s", got, want, b.String())
				}
				row += strings.Join(got, " ") + " | "

				// squawk on the same files.
				var sq []string
				for _, f := range res.Files {
					path := filepath.Join(p.dir, f.Name)
					inTx := !strings.HasPrefix(p.read(t, f.Name), "-- atlas:txmode none")
					for _, s := range runSquawk(t, path, inTx) {
						switch {
						case s.Rule == "changing-column-type" && !ours[f.Name]["DL110"]:
							sq = append(sq, s.Rule+" (deliberate: binary compatible)")
						case squawkDeliberate[s.Rule] != "":
							sq = append(sq, s.Rule+" (deliberate)")
						case slices.ContainsFunc(squawkRules[s.Rule], func(c string) bool { return ours[f.Name][c] }):
							sq = append(sq, s.Rule)
						default:
							sq = append(sq, s.Rule+" (UNMATCHED)")
							t.Errorf("squawk %s:%d %s has no matching finding of ours (%v)", f.Name, s.Line+1, s.Rule, ours[f.Name])
						}
					}
				}
				slices.Sort(sq)
				row += strings.Join(slices.Compact(sq), ", ") + " |"
				if t.Failed() || *showEdits {
					for _, f := range res.Files {
						t.Logf("%s:\n%s", f.Name, p.read(t, f.Name))
					}
				}
			})
		}
	})
}
