package sqlinfo_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

var testSchema = map[string][]byte{
	"01_users.sql": []byte(`
CREATE SCHEMA audit;
CREATE TABLE users (
    id     bigint PRIMARY KEY,
    email  text NOT NULL UNIQUE,
    tenant text NOT NULL,
    slug   text NOT NULL,
    UNIQUE (tenant, slug)
);
CREATE TABLE audit.events (
    id      bigint PRIMARY KEY,
    user_id bigint DEFAULT 0 REFERENCES users (id) ON DELETE SET DEFAULT
);
CREATE TABLE restricted (id int PRIMARY KEY, user_id bigint REFERENCES users ON DELETE RESTRICT);
`),
	"02_agents.sql": []byte(`
CREATE TABLE agents (
    id       uuid PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name     text NOT NULL,
    status   text NOT NULL
);
CREATE UNIQUE INDEX agents_owner_name ON agents (owner_id, name);
CREATE UNIQUE INDEX agents_one_active ON agents (owner_id) WHERE status = 'active';
CREATE UNIQUE INDEX agents_lower_name ON agents (lower(name));
CREATE INDEX agents_status ON agents (status);
CREATE VIEW active_agents AS
    SELECT a.*, u.email FROM agents a JOIN users u ON u.id = a.owner_id WHERE status = 'active';
CREATE VIEW active_agent_names AS SELECT name FROM active_agents;
CREATE MATERIALIZED VIEW agent_counts AS SELECT owner_id, count(*) AS n FROM agents GROUP BY owner_id;
CREATE FUNCTION one() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TYPE mood AS ENUM ('ok');
COMMENT ON TABLE agents IS 'x';
`),
	"03_tasks.sql": []byte(`
CREATE TABLE tasks (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id  uuid REFERENCES agents ON DELETE SET NULL ON UPDATE CASCADE,
    parent_id bigint,
    title     text
);
ALTER TABLE tasks ADD CONSTRAINT tasks_parent_fk FOREIGN KEY (parent_id) REFERENCES tasks (id) ON DELETE CASCADE;
CREATE TABLE comments (id bigint PRIMARY KEY, task_id bigint NOT NULL, body text);
ALTER TABLE comments ADD CONSTRAINT comments_task_fk FOREIGN KEY (task_id) REFERENCES tasks (id) ON DELETE CASCADE;
CREATE TABLE tags (name text, note text);
ALTER TABLE tags ADD PRIMARY KEY (name);
ALTER TABLE tags ADD COLUMN code text CONSTRAINT tags_code_key UNIQUE;
ALTER TABLE tags ADD COLUMN legacy text UNIQUE;
ALTER TABLE tags DROP CONSTRAINT tags_legacy_key;
CREATE TABLE logs (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE logs_2026 PARTITION OF logs FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE old_logs () INHERITS (logs_2026);
`),
}

func loadTestSchema(t testing.TB) *sqlinfo.Schema {
	t.Helper()
	s, err := sqlinfo.LoadSchema(testSchema)
	if err != nil {
		t.Fatalf("LoadSchema: %v", err)
	}
	return s
}

func keyStrings(ks []sqlinfo.UniqueKey) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.Name+"("+strings.Join(k.Columns, ",")+")")
	}
	return strings.Join(out, " ")
}

func TestLoadSchema(t *testing.T) {
	s := loadTestSchema(t)
	want := map[string]string{
		"users":        "users_pkey(id) users_email_key(email) users_tenant_slug_key(tenant,slug)",
		"audit.events": "events_pkey(id)",
		"agents":       "agents_pkey(id) agents_owner_name(owner_id,name)",
		"tasks":        "tasks_pkey(id)",
		"tags":         "tags_pkey(name) tags_code_key(code)",
		"logs":         "",
		"agent_counts": "",
	}
	for table, keys := range want {
		tb, ok := s.Tables[table]
		if !ok {
			t.Errorf("table %s missing", table)
			continue
		}
		if got := keyStrings(tb.Keys()); got != keys {
			t.Errorf("%s keys = %q, want %q", table, got, keys)
		}
	}
	if got := strings.Join(s.Tables["tags"].Columns, ","); got != "name,note,code,legacy" {
		t.Errorf("tags columns = %q", got)
	}
	if !s.Tables["agent_counts"].MatView {
		t.Error("agent_counts not marked as materialized view")
	}
	if got := strings.Join(s.Tables["logs_2026"].Parents, ","); got != "logs" {
		t.Errorf("logs_2026 parents = %q", got)
	}
	if v := s.Views["active_agents"]; v == nil || strings.Join(v.Reads, ",") != "agents,users" {
		t.Errorf("view active_agents = %+v", v)
	}
	var fks []string
	for _, tn := range []string{"audit.events", "restricted", "agents", "tasks", "comments"} {
		for _, fk := range s.Tables[tn].ForeignKeys {
			fks = append(fks, fmt.Sprintf("%s(%s)->%s(%s) del=%v upd=%v", tn, strings.Join(fk.Columns, ","),
				fk.RefTable, strings.Join(fk.RefColumns, ","), fk.OnDelete, fk.OnUpdate))
		}
	}
	wantFKs := []string{
		"audit.events(user_id)->users(id) del=SET DEFAULT upd=NO ACTION",
		"restricted(user_id)->users(id) del=NO ACTION upd=NO ACTION",
		"agents(owner_id)->users(id) del=CASCADE upd=NO ACTION",
		"tasks(agent_id)->agents(id) del=SET NULL upd=CASCADE",
		"tasks(parent_id)->tasks(id) del=CASCADE upd=NO ACTION",
		"comments(task_id)->tasks(id) del=CASCADE upd=NO ACTION",
	}
	if strings.Join(fks, "\n") != strings.Join(wantFKs, "\n") {
		t.Errorf("foreign keys:\n%s\nwant:\n%s", strings.Join(fks, "\n"), strings.Join(wantFKs, "\n"))
	}
}

func TestLoadSchemaErrors(t *testing.T) {
	cases := []struct {
		files map[string][]byte
		want  []string
	}{
		{map[string][]byte{"a.sql": []byte("CREATE TABLE a (id int);\n\nCREATE TABLE b (id int REFERENCES nope);")},
			[]string{"a.sql:3: table b: foreign key b_id_fkey references unknown table nope"}},
		{map[string][]byte{"a.sql": []byte("CREATE TABLE a (id int);\nCREATE TABLE a (id int);")},
			[]string{"a.sql:2: table a defined twice"}},
		{map[string][]byte{"a.sql": []byte("CREATE TABLE a (id int);"), "b.sql": []byte("\nCREATE TABLE (;")},
			[]string{"b.sql:2: syntax error"}},
	}
	for _, c := range cases {
		_, err := sqlinfo.LoadSchema(c.files)
		var list sqlinfo.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("want ErrorList, got %v", err)
		}
		if len(list) != len(c.want) {
			t.Fatalf("got %v, want %v", err, c.want)
		}
		for i, w := range c.want {
			if !strings.HasPrefix(list[i].Error(), w) {
				t.Errorf("error = %q, want prefix %q", list[i], w)
			}
		}
	}
}

func TestCascadeClosure(t *testing.T) {
	s := loadTestSchema(t)
	cases := []struct{ in, want string }{
		{"users", "agents,audit.events,tasks,users"},
		{"agents", "agents,tasks"},
		{"tasks", "comments,tasks"},
		{"comments", "comments"},
		{"restricted", "restricted"},
		{"logs_2026", "logs,logs_2026,old_logs"},
		{"logs", "logs,logs_2026,old_logs"},
		{"tags,comments", "comments,tags"},
		{"unknown", "unknown"},
	}
	for _, c := range cases {
		if got := strings.Join(s.CascadeClosure(strings.Split(c.in, ",")), ","); got != c.want {
			t.Errorf("CascadeClosure(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// analyze parses one query and resolves it against the test schema.
func analyze(t *testing.T, s *sqlinfo.Schema, cmd, sql string) sqlinfo.Analysis {
	t.Helper()
	qs, err := sqlinfo.ParseQueryFile("q.sql", []byte("-- name: Q "+cmd+"\n"+sql))
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	a, err := s.Analyze(qs[0])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return a
}

func keysString(ks []sqlinfo.Key) string {
	var out []string
	for _, k := range ks {
		out = append(out, k.String())
	}
	return strings.Join(out, " ")
}

func TestReadKeys(t *testing.T) {
	s := loadTestSchema(t)
	cases := []struct{ sql, reads, keys string }{
		{"SELECT * FROM users WHERE id = $1", "users", "users(id=$1)"},
		{"SELECT * FROM public.users u WHERE u.id = $1", "users", "users(id=$1)"},
		{"SELECT * FROM users WHERE public.users.id = $1", "users", "users(id=$1)"},
		{"SELECT * FROM users WHERE $1 = id", "users", "users(id=$1)"},
		{"SELECT * FROM users WHERE id = $1::bigint", "users", "users(id=$1)"},
		{"SELECT * FROM users WHERE id = sqlc.arg(id)", "users", "users(id=$1)"},
		{"SELECT * FROM users WHERE tenant = @tenant AND slug = @slug::text", "users", "users(tenant=$1, slug=$2)"},
		{"SELECT * FROM users WHERE (tenant, slug) = ($2, $1)", "users", "users(tenant=$2, slug=$1)"},
		{"SELECT * FROM users WHERE tenant = $1 AND slug = $2 AND email = $3", "users", "users(email=$3) users(tenant=$1, slug=$2)"},
		{"SELECT * FROM users WHERE email = $2 AND id = sqlc.arg(x)", "users", "users(id=$1) users(email=$2)"},
		{"SELECT * FROM users WHERE slug = $1", "users", ""},
		{"SELECT * FROM users WHERE id = $1 OR email = $2", "users", ""},
		{"SELECT * FROM users WHERE id = lower($1)", "users", ""},
		{"SELECT * FROM users WHERE id::text = $1", "users", ""},
		{"SELECT * FROM users WHERE id = 5", "users", ""},
		{"SELECT * FROM users WHERE id IN ($1, $2)", "users", ""},
		{"SELECT * FROM users WHERE id = ANY($1::bigint[])", "users", ""},
		{"SELECT * FROM agents WHERE owner_id = $1", "agents", ""},
		{"SELECT * FROM agents WHERE owner_id = $1 AND name = $2", "agents", "agents(owner_id=$1, name=$2)"},
		{"SELECT a.*, u.email FROM agents a JOIN users u ON u.id = a.owner_id WHERE a.id = $1", "agents,users", "agents(id=$1)"},
		{"SELECT * FROM agents a JOIN users u ON u.id = a.owner_id AND u.id = $1", "agents,users", "users(id=$1)"},
		{"SELECT * FROM users u LEFT JOIN agents a ON a.owner_id = u.id AND a.id = $1", "agents,users", "agents(id=$1)"},
		{"SELECT * FROM users u LEFT JOIN agents a ON a.owner_id = u.id AND u.id = $1", "agents,users", ""},
		{"SELECT * FROM agents a RIGHT JOIN users u ON a.owner_id = u.id AND u.id = $1 AND a.id = $2", "agents,users", "agents(id=$2)"},
		{"SELECT * FROM users u FULL JOIN agents a ON a.owner_id = u.id AND a.id = $1", "agents,users", ""},
		{"SELECT * FROM agents a JOIN users u ON u.id = a.owner_id WHERE email = $1", "agents,users", "users(email=$1)"},
		{"SELECT * FROM agents a JOIN users u ON u.id = a.owner_id WHERE id = $1", "agents,users", ""},
		{"SELECT * FROM tasks t JOIN tasks p ON p.id = t.parent_id WHERE t.id = $1", "tasks", ""},
		{"SELECT * FROM users WHERE id = $1 AND EXISTS (SELECT 1 FROM users x WHERE x.email = 'a')", "users", ""},
		{"SELECT * FROM users WHERE id = $1 AND EXISTS (SELECT 1 FROM agents a WHERE a.owner_id = users.id)", "agents,users", "users(id=$1)"},
		{"SELECT id FROM users WHERE id = $1 UNION SELECT id FROM users WHERE id = $2", "users", ""},
		{"SELECT * FROM active_agents WHERE id = $1", "agents,users", ""},
		{"SELECT * FROM active_agent_names", "agents,users", ""},
		{"SELECT * FROM active_agents v JOIN users u ON u.id = v.owner_id WHERE u.id = $1", "agents,users", ""},
		{"WITH users AS (SELECT 1 AS id) SELECT * FROM users WHERE id = $1", "", ""},
		{"WITH x AS (SELECT * FROM agents) SELECT * FROM x JOIN users u ON true WHERE u.id = $1", "agents,users", "users(id=$1)"},
		{"SELECT * FROM agent_counts WHERE owner_id = $1", "agent_counts", ""},
		{"SELECT * FROM tags WHERE code = $1", "tags", "tags(code=$1)"},
		{"SELECT * FROM tags WHERE legacy = $1", "tags", ""},
		{"SELECT * FROM users u, LATERAL (SELECT count(*) FROM agents a WHERE a.owner_id = u.id) c WHERE u.id = $1", "agents,users", "users(id=$1)"},
		{"SELECT * FROM audit.events WHERE id = $1", "audit.events", "audit.events(id=$1)"},
	}
	for _, c := range cases {
		a := analyze(t, s, ":many", c.sql)
		if got := strings.Join(a.Reads, ","); got != c.reads {
			t.Errorf("%s\n  reads = %q, want %q", c.sql, got, c.reads)
		}
		if got := keysString(a.ReadKeys); got != c.keys {
			t.Errorf("%s\n  read keys = %q, want %q", c.sql, got, c.keys)
		}
		if len(a.Invalidates) != 0 || len(a.WriteKeys) != 0 {
			t.Errorf("%s: a read invalidates %v / has write keys %v", c.sql, a.Invalidates, a.WriteKeys)
		}
	}
	if a := analyze(t, s, ":one", "SELECT * FROM users WHERE id = $1"); !a.ReadKeys[0].Primary || a.ReadKeys[0].Name != "users_pkey" {
		t.Errorf("primary key not flagged: %+v", a.ReadKeys[0])
	}
}

func TestWriteKeys(t *testing.T) {
	s := loadTestSchema(t)
	cases := []struct{ sql, writes, invalidates, keys string }{
		{"UPDATE users SET email = $2 WHERE id = $1", "users", "users", "users(id=$1)"},
		{"UPDATE users SET id = $2 WHERE id = $1", "users", "users", ""},
		{"UPDATE users SET tenant = $3 WHERE id = $1 AND email = $2", "users", "users", "users(id=$1) users(email=$2)"},
		{"UPDATE users u SET email = $1 FROM agents a WHERE a.owner_id = u.id AND a.id = $2", "users", "users", ""},
		{"UPDATE users SET email = sqlc.arg(email) WHERE id = sqlc.arg(id)", "users", "users", "users(id=$2)"},
		{"UPDATE comments SET body = $1 WHERE id = $2", "comments", "comments", "comments(id=$2)"},
		{"UPDATE agents SET name = $2 WHERE id = $1", "agents", "agents,tasks", "agents(id=$1)"},
		{"DELETE FROM users WHERE id = $1", "users", "agents,audit.events,tasks,users", "users(id=$1)"},
		{"DELETE FROM agents a USING users u WHERE u.id = a.owner_id AND u.email = $1", "agents", "agents,tasks", ""},
		{"DELETE FROM tasks WHERE id = $1", "tasks", "comments,tasks", ""},
		{"DELETE FROM comments WHERE id = $1", "comments", "comments", "comments(id=$1)"},
		{"DELETE FROM comments WHERE task_id = $1", "comments", "comments", ""},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4)", "users", "users", "users(id=$1) users(email=$2) users(tenant=$3, slug=$4)"},
		{"INSERT INTO users VALUES ($1, $2, $3, $4)", "users", "users", "users(id=$1) users(email=$2) users(tenant=$3, slug=$4)"},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, lower($2), $3, $4)", "users", "users", "users(id=$1) users(tenant=$3, slug=$4)"},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)", "users", "users", ""},
		{"INSERT INTO users (id, email, tenant, slug) SELECT $1, $2, $3, $4", "users", "users", ""},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", "users", "users", "users(id=$1) users(email=$2) users(tenant=$3, slug=$4)"},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO UPDATE SET tenant = EXCLUDED.tenant", "users", "users", "users(email=$2)"},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (slug, tenant) DO UPDATE SET email = EXCLUDED.email", "users", "users", "users(tenant=$3, slug=$4)"},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT ON CONSTRAINT users_pkey DO UPDATE SET email = EXCLUDED.email", "users", "users", "users(id=$1)"},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO UPDATE SET email = 'x' || EXCLUDED.email", "users", "users", ""},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (lower(email)) DO UPDATE SET tenant = 'x'", "users", "users", ""},
		{"INSERT INTO tasks (title) VALUES ($1)", "tasks", "tasks", ""},
		{"INSERT INTO comments (id, task_id, body) VALUES (@id, @task_id, @body)", "comments", "comments", "comments(id=$1)"},
		{"WITH d AS (DELETE FROM users WHERE id = $1 RETURNING id) SELECT * FROM d", "users", "agents,audit.events,tasks,users", ""},
		{"WITH x AS (UPDATE comments SET body = '' WHERE id = $1 RETURNING task_id) UPDATE comments SET body = 'y' WHERE id = $2", "comments", "comments", ""},
		{"WITH x AS (UPDATE users SET email = $2 WHERE id = $1 RETURNING *) UPDATE comments SET body = 'x' WHERE id = $3", "comments,users", "comments,users", "comments(id=$3)"},
		{"MERGE INTO comments c USING tasks t ON c.task_id = t.id WHEN MATCHED THEN DELETE", "comments", "comments", ""},
		{"TRUNCATE users", "users", "users", ""},
		{"TRUNCATE users CASCADE", "users", "agents,audit.events,comments,restricted,tasks,users", ""},
		{"INSERT INTO logs_2026 (id, at) VALUES ($1, $2)", "logs_2026", "logs,logs_2026", ""},
		{"REFRESH MATERIALIZED VIEW agent_counts", "agent_counts", "agent_counts", ""},
	}
	for _, c := range cases {
		a := analyze(t, s, ":exec", c.sql)
		if got := strings.Join(a.Writes, ","); got != c.writes {
			t.Errorf("%s\n  writes = %q, want %q", c.sql, got, c.writes)
		}
		if got := strings.Join(a.Invalidates, ","); got != c.invalidates {
			t.Errorf("%s\n  invalidates = %q, want %q", c.sql, got, c.invalidates)
		}
		if got := keysString(a.WriteKeys); got != c.keys {
			t.Errorf("%s\n  write keys = %q, want %q", c.sql, got, c.keys)
		}
	}
}

func TestInvalidatesDirective(t *testing.T) {
	s := loadTestSchema(t)
	qs, err := sqlinfo.ParseQueryFile("q.sql", []byte(
		"-- name: A :exec\n-- @invalidates comments, audit.events\nUPDATE tasks SET title = $2 WHERE id = $1;\n"+
			"-- name: B :exec\n-- @invalidates users\nUPDATE users SET email = $2 WHERE id = $1;\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Analyze(qs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.Invalidates, ","); got != "audit.events,comments,tasks" {
		t.Errorf("invalidates = %q", got)
	}
	if got := keysString(a.WriteKeys); got != "tasks(id=$1)" {
		t.Errorf("write keys = %q", got)
	}
	// A trigger that writes the table itself makes the write table-wide.
	b, err := s.Analyze(qs[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(b.WriteKeys) != 0 {
		t.Errorf("write keys kept despite @invalidates of the written table: %v", b.WriteKeys)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	s := loadTestSchema(t)
	qs, err := sqlinfo.ParseQueryFile("q.sql", []byte(
		"-- name: A :one\n-- @cache ttl=1m\nSELECT * FROM nope WHERE id = $1;\n"+
			"-- name: B :exec\n-- @invalidates ghost\nDELETE FROM users WHERE id = $1;\n"+
			"-- name: C :exec\nUPDATE active_agents SET name = 'x';\n"+
			"-- name: D :one\nSELECT * FROM users WHERE id = $1;\n"))
	if err != nil {
		t.Fatal(err)
	}
	as, err := s.AnalyzeAll(qs)
	want := []string{
		"q.sql:2: @cache on A, which reads nope, not a table of the schema",
		"q.sql:4: @invalidates names unknown table ghost",
	}
	var list sqlinfo.ErrorList
	if !errors.As(err, &list) || len(list) != len(want) {
		t.Fatalf("got %v, want %d errors", err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i], w)
		}
	}
	if len(as) != 2 || as[0].Query.Name != "C" || as[1].Query.Name != "D" {
		t.Fatalf("good queries not returned alongside errors: %d", len(as))
	}
	// A write through a view invalidates the view's base tables.
	if got := strings.Join(as[0].Invalidates, ","); !strings.Contains(got, "agents") || !strings.Contains(got, "users") {
		t.Errorf("write through view invalidates %q, want agents and users", got)
	}
}

// TestOutsideSchemaReads: reads of system catalogs are never fatal; they are
// listed in Outside, and only @cache without volatile-ok is refused.
func TestOutsideSchemaReads(t *testing.T) {
	s := loadTestSchema(t)
	a := analyze(t, s, ":many", "SELECT table_name FROM information_schema.tables JOIN agents ON true")
	if got := strings.Join(a.Outside, ","); got != "information_schema.tables" {
		t.Errorf("Outside = %q", got)
	}
	qs, err := sqlinfo.ParseQueryFile("q.sql", []byte("-- name: A :many\n-- @cache ttl=1m volatile-ok\nSELECT * FROM pg_catalog.pg_tables;\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Analyze(qs[0]); err != nil {
		t.Errorf("volatile-ok should allow caching a catalog read: %v", err)
	}
}

func TestKeySameKey(t *testing.T) {
	s := loadTestSchema(t)
	r := analyze(t, s, ":one", "SELECT * FROM agents WHERE id = $1").ReadKeys[0]
	w := analyze(t, s, ":exec", "UPDATE agents SET name = $1 WHERE id = $2").WriteKeys[0]
	o := analyze(t, s, ":one", "SELECT * FROM agents WHERE owner_id = $1 AND name = $2").ReadKeys[0]
	if !r.SameKey(w) || r.SameKey(o) {
		t.Errorf("SameKey: %v~%v=%v, %v~%v=%v", r, w, r.SameKey(w), r, o, r.SameKey(o))
	}
}

func TestInheritance(t *testing.T) {
	s, err := sqlinfo.LoadSchema(map[string][]byte{"s.sql": []byte(`
CREATE TABLE base (id bigint PRIMARY KEY, v text);
CREATE TABLE child (extra text UNIQUE) INHERITS (base);
CREATE TABLE grandchild () INHERITS (child);
CREATE TABLE ref (id int PRIMARY KEY, child_extra text REFERENCES child (extra) ON DELETE CASCADE);
`)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ sql, invalidates, keys string }{
		// Inserted rows show in ancestors only.
		{"INSERT INTO base (id, v) VALUES ($1, $2)", "base", "base(id=$1)"},
		{"INSERT INTO child (id, v, extra) VALUES ($1, $2, $3)", "base,child", "child(extra=$3)"},
		{"INSERT INTO grandchild (extra) VALUES ($1)", "base,child,grandchild", ""},
		// Columns of an inheriting table are not known in order.
		{"INSERT INTO child VALUES ($1, $2, $3)", "base,child", ""},
		// A write through a parent reaches all descendants, and their cascades.
		{"UPDATE base SET v = $2 WHERE id = $1", "base,child,grandchild", "base(id=$1)"},
		{"DELETE FROM base WHERE id = $1", "base,child,grandchild,ref", "base(id=$1)"},
		{"DELETE FROM child WHERE extra = $1", "base,child,grandchild,ref", "child(extra=$1)"},
	}
	for _, c := range cases {
		a := analyze(t, s, ":exec", c.sql)
		if got := strings.Join(a.Invalidates, ","); got != c.invalidates {
			t.Errorf("%s\n  invalidates = %q, want %q", c.sql, got, c.invalidates)
		}
		if got := keysString(a.WriteKeys); got != c.keys {
			t.Errorf("%s\n  write keys = %q, want %q", c.sql, got, c.keys)
		}
	}
	if got := strings.Join(s.CascadeClosure([]string{"child"}), ","); got != "base,child,grandchild,ref" {
		t.Errorf("CascadeClosure(child) = %s", got)
	}
}

func TestGeneratedKeyColumns(t *testing.T) {
	s, err := sqlinfo.LoadSchema(map[string][]byte{"s.sql": []byte(`
CREATE TABLE g (id int PRIMARY KEY, slug text, slug_key text GENERATED ALWAYS AS (lower(slug)) STORED UNIQUE);
`)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ sql, keys string }{
		{"UPDATE g SET slug = $2 WHERE slug_key = $1", ""},
		{"UPDATE g SET slug = $2 WHERE id = $1", "g(id=$1)"},
		{"DELETE FROM g WHERE slug_key = $1", "g(slug_key=$1)"},
	}
	for _, c := range cases {
		a := analyze(t, s, ":exec", c.sql)
		if got := keysString(a.WriteKeys); got != c.keys {
			t.Errorf("%s\n  write keys = %q, want %q", c.sql, got, c.keys)
		}
	}
}

func TestReturnedKeys(t *testing.T) {
	s := loadTestSchema(t)
	cases := []struct{ sql, keys string }{
		{"INSERT INTO tasks (title) VALUES ($1) RETURNING *", "tasks(id=row.id)"},
		{"INSERT INTO tasks (title) VALUES ($1) RETURNING tasks.id AS task_id, title", "tasks(id=row.task_id)"},
		{"INSERT INTO tasks (title) VALUES ($1) RETURNING title", ""},
		{"INSERT INTO tasks (title) VALUES ($1)", ""},
		{"INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO UPDATE SET tenant = EXCLUDED.tenant RETURNING id, email",
			"users(id=row.id) users(email=row.email)"},
		{"UPDATE comments SET body = $1 WHERE task_id = $2 RETURNING *", "comments(id=row.id)"},
		{"UPDATE comments SET id = id + 1 WHERE task_id = $1 RETURNING *", ""},
		{"UPDATE comments c SET body = 'x' FROM tasks t WHERE t.id = c.task_id RETURNING t.id", ""},
		{"DELETE FROM comments WHERE task_id = $1 RETURNING id", "comments(id=row.id)"},
		{"DELETE FROM tasks WHERE agent_id = $1 RETURNING id", ""}, // self-cascade: other rows change too
	}
	for _, c := range cases {
		a := analyze(t, s, ":many", c.sql)
		if got := keysString(a.ReturnedKeys); got != c.keys {
			t.Errorf("%s\n  returned keys = %q, want %q", c.sql, got, c.keys)
		}
	}
	// :one sees only the first returned row; :exec sees none.
	for _, c := range []struct{ cmd, sql, keys string }{
		{":one", "INSERT INTO tasks (title) VALUES ($1) RETURNING *", "tasks(id=row.id)"},
		{":one", "UPDATE comments SET body = $1 WHERE task_id = $2 RETURNING *", ""},
		{":one", "UPDATE comments SET body = $1 WHERE id = $2 RETURNING *", "comments(id=row.id)"},
		{":one", "INSERT INTO tasks (title) SELECT title FROM tasks RETURNING *", ""},
		{":batchone", "INSERT INTO tasks (title) VALUES ($1) RETURNING id", "tasks(id=row.id)"},
		{":exec", "INSERT INTO tasks (title) VALUES ($1) RETURNING *", ""},
		{":execrows", "DELETE FROM comments WHERE task_id = $1 RETURNING id", ""},
	} {
		a := analyze(t, s, c.cmd, c.sql)
		if got := keysString(a.ReturnedKeys); got != c.keys {
			t.Errorf("%s %s\n  returned keys = %q, want %q", c.cmd, c.sql, got, c.keys)
		}
	}
}

func TestFunctionsAndTriggers(t *testing.T) {
	files := map[string][]byte{"s.sql": []byte(`
CREATE TABLE a (id int PRIMARY KEY, n int);
CREATE TABLE b (id int PRIMARY KEY, a_id int);
CREATE TABLE log (id bigserial PRIMARY KEY, msg text);
CREATE FUNCTION b_count(x int) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM b WHERE a_id = x $$;
CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql IMMUTABLE RETURN x * 2;
CREATE FUNCTION bump() RETURNS int LANGUAGE sql AS $$ UPDATE a SET n = n + 1 RETURNING n $$;
CREATE FUNCTION secret(x int) RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT n FROM a WHERE id = x); END $$;
CREATE FUNCTION pure(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN RETURN x; END $$;
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO log (msg) VALUES ('x'); RETURN NEW; END $$;
CREATE TRIGGER a_log AFTER UPDATE ON a FOR EACH ROW EXECUTE FUNCTION log_change();
`)}
	s, err := sqlinfo.LoadSchema(files)
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Functions["b_count"]; f == nil || f.Volatility != "stable" || !f.BodyKnown || strings.Join(f.Reads, ",") != "b" {
		t.Errorf("b_count = %+v", f)
	}
	if f := s.Functions["bump"]; f == nil || f.Volatility != "volatile" || strings.Join(f.Writes, ",") != "a" {
		t.Errorf("bump = %+v", f)
	}
	// A STABLE SQL function's tables join the read set; no error.
	a := analyze(t, s, ":one", "-- @cache ttl=1m\nSELECT a.*, b_count(a.id), twice(a.n), pure(a.n) FROM a WHERE id = $1")
	if got := strings.Join(a.Reads, ","); got != "a,b" {
		t.Errorf("reads = %q, want a,b", got)
	}
	if len(a.Volatile) != 0 {
		t.Errorf("volatile = %v", a.Volatile)
	}
	if got := keysString(a.ReadKeys); got != "a(id=$1)" {
		t.Errorf("read keys = %q, want a(id=$1)", got)
	}
	// b is pinned by the WHERE, but b_count() reads other rows of b.
	if a := analyze(t, s, ":one", "SELECT b.*, b_count(b.a_id) FROM b WHERE id = $1"); len(a.ReadKeys) != 0 {
		t.Errorf("read keys kept for a table also read by a function: %v", a.ReadKeys)
	}
	// VOLATILE, or STABLE with an opaque body, needs the override.
	for _, c := range []struct{ sql, want string }{
		{"SELECT bump()", "q.sql:2: @cache on Q, which uses bump() (VOLATILE function) (line 3)"},
		{"SELECT secret(1)", "q.sql:2: @cache on Q, which uses secret() (STABLE plpgsql function: tables it reads are unknown) (line 3)"},
	} {
		qs, err := sqlinfo.ParseQueryFile("q.sql", []byte("-- name: Q :one\n-- @cache ttl=1m\n"+c.sql))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Analyze(qs[0])
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.sql, err, c.want)
		}
		qs, err = sqlinfo.ParseQueryFile("q.sql", []byte("-- name: Q :one\n-- @cache ttl=1m volatile-ok\n"+c.sql))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Analyze(qs[0]); err != nil {
			t.Errorf("%s with volatile-ok: %v", c.sql, err)
		}
	}
	// A SQL function that writes: its table is invalidated, table-wide.
	if a := analyze(t, s, ":exec", "UPDATE a SET n = bump() WHERE id = $1"); strings.Join(a.Writes, ",") != "a" || len(a.WriteKeys) != 0 {
		t.Errorf("UPDATE calling bump(): writes %v, write keys %v", a.Writes, a.WriteKeys)
	}
	if a := analyze(t, s, ":exec", "DELETE FROM b WHERE id = $1 AND bump() > 0"); strings.Join(a.Invalidates, ",") != "a,b" || keysString(a.WriteKeys) != "b(id=$1)" {
		t.Errorf("DELETE calling bump(): invalidates %v, write keys %v", a.Invalidates, a.WriteKeys)
	}
	w := analyze(t, s, ":exec", "UPDATE a SET n = 0 WHERE id = $1")
	if got := strings.Join(w.Triggers, ","); got != "a.a_log" {
		t.Errorf("triggers = %q", got)
	}
}

// A CTE defined inside another CTE's body must not hide a real table of the
// same name at the top level (it did once: the nested scope became the top).
func TestNestedCTEScope(t *testing.T) {
	s := loadTestSchema(t)
	a := analyze(t, s, ":one", "WITH x AS (WITH users AS (SELECT 1 AS id) SELECT * FROM users) SELECT * FROM users, x WHERE users.id = $1")
	if got := keysString(a.ReadKeys); got != "users(id=$1)" {
		t.Errorf("read keys = %q, want users(id=$1)", got)
	}
	if got := strings.Join(a.Reads, ","); got != "users" {
		t.Errorf("reads = %q", got)
	}
}

func TestVolatileView(t *testing.T) {
	s, err := sqlinfo.LoadSchema(map[string][]byte{"s.sql": []byte(`
CREATE TABLE tasks (id int PRIMARY KEY, due timestamptz);
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
CREATE VIEW overdue AS SELECT * FROM tasks WHERE due < now();
CREATE VIEW overdue_ids AS SELECT id FROM overdue;
CREATE VIEW with_f AS SELECT id, f() FROM tasks;
`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ view, want string }{
		{"overdue_ids", "q.sql:2: @cache on Q, which uses now() in view overdue (line 3)"},
		{"with_f", "q.sql:2: @cache on Q, which uses f() (VOLATILE function) (line 3)"},
	} {
		qs, err := sqlinfo.ParseQueryFile("q.sql", []byte("-- name: Q :many\n-- @cache ttl=1m\nSELECT * FROM "+c.view+";"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Analyze(qs[0])
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want prefix %q", c.view, err, c.want)
		}
	}
}

func TestCacheWithoutTables(t *testing.T) {
	s := loadTestSchema(t)
	qs, err := sqlinfo.ParseQueryFile("q.sql", []byte("-- name: A :one\n-- @cache ttl=1m\nSELECT 1 + $1::int;\n-- name: B :one\n-- @cache ttl=1m volatile-ok\nSELECT 1 + $1::int;\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Analyze(qs[0]); err == nil || !strings.HasPrefix(err.Error(), "q.sql:2: @cache on A, which reads no table") {
		t.Errorf("err = %v", err)
	}
	if _, err := s.Analyze(qs[1]); err != nil {
		t.Errorf("override: %v", err)
	}
}

func TestInsertOnly(t *testing.T) {
	s := loadTestSchema(t)
	cases := []struct {
		sql  string
		want bool
	}{
		{"INSERT INTO restricted (id) VALUES ($1);", true},
		{"INSERT INTO restricted (id) VALUES ($1) ON CONFLICT DO NOTHING;", true},
		{"INSERT INTO restricted (id) SELECT id FROM restricted;", true},
		{"INSERT INTO restricted (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET user_id = NULL;", false},
		{"UPDATE restricted SET user_id = NULL WHERE id = $1;", false},
		{"DELETE FROM restricted WHERE id = $1;", false},
		{"WITH d AS (DELETE FROM restricted WHERE id = $1 RETURNING id) INSERT INTO restricted (id) SELECT id + 1 FROM d;", false},
	}
	for _, c := range cases {
		if got := analyze(t, s, ":exec", c.sql).InsertOnly; got != c.want {
			t.Errorf("%s: InsertOnly = %v, want %v", c.sql, got, c.want)
		}
	}
}

// TestMigrationDirectory: a schema given as migrations is applied in order,
// as sqlc applies it: renames, schema moves and drop-then-create give the
// final shape, rollback sections and psql meta-commands are ignored.
func TestMigrationDirectory(t *testing.T) {
	files := []sqlinfo.SourceFile{
		{Name: "001_init.sql", Src: []byte(`-- +goose Up
CREATE TABLE authors (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE books (id bigserial PRIMARY KEY, author_id bigint REFERENCES authors ON DELETE CASCADE);
CREATE TABLE scratch (id int PRIMARY KEY);
CREATE TABLE drafts (id int PRIMARY KEY);
-- +goose Down
DROP TABLE books;
DROP TABLE authors;
`)},
		{Name: "002_rename.sql", Src: []byte(`\restrict abc
ALTER TABLE authors RENAME TO writers;
ALTER TABLE writers RENAME COLUMN name TO full_name;
CREATE SCHEMA archive;
ALTER TABLE drafts SET SCHEMA archive;
DROP TABLE scratch;
CREATE TABLE scratch (key text PRIMARY KEY);
ALTER TABLE public.some_seq OWNER TO postgres;
\unrestrict abc
-- migrate:down
DROP TABLE writers;
`)},
	}
	s, err := sqlinfo.LoadSchemaFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Tables["writers"]
	if w == nil || s.Tables["authors"] != nil {
		t.Fatalf("rename: tables %v", keys(s.Tables))
	}
	if got := fmt.Sprint(w.Columns, w.UniqueKeys[0].Columns); got != "[id full_name] [full_name]" {
		t.Errorf("rename column: %s", got)
	}
	if fk := s.Tables["books"].ForeignKeys[0]; fk.RefTable != "writers" {
		t.Errorf("foreign key still references %s", fk.RefTable)
	}
	if s.Tables["archive.drafts"] == nil || s.Tables["drafts"] != nil {
		t.Errorf("set schema: tables %v", keys(s.Tables))
	}
	if sc := s.Tables["scratch"]; sc == nil || strings.Join(sc.Columns, ",") != "key" {
		t.Errorf("drop then create: %+v", sc)
	}
	if got := strings.Join(s.CascadeClosure([]string{"writers"}), ","); got != "books,writers" {
		t.Errorf("cascade after rename: %s", got)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestKeyLookup: only a SELECT that is nothing but "the row of one table
// with this whole key" may be served through another key's cached row.
func TestKeyLookup(t *testing.T) {
	s := loadTestSchema(t)
	cases := []struct{ sql, key string }{
		{"SELECT * FROM users WHERE id = $1", "users(id=$1)"},
		{"SELECT * FROM agents WHERE owner_id = $1 AND name = $2", "agents(owner_id=$1, name=$2)"},
		{"SELECT * FROM agents a WHERE a.name = $2 AND $1 = a.owner_id", "agents(owner_id=$1, name=$2)"},
		{"SELECT id, email FROM users WHERE email = $1", "users(email=$1)"},
		{"SELECT * FROM agents WHERE owner_id = $1 AND name = $2 AND status = 'active'", ""},
		{"SELECT * FROM agents WHERE owner_id = $1 AND name = $2 AND kind = $3", ""},
		{"SELECT * FROM users WHERE id = $1 LIMIT 1", ""},
		{"SELECT * FROM users WHERE id = $1 FOR UPDATE", ""},
		{"SELECT * FROM users WHERE id = $1 OR email = $2", ""},
		{"SELECT * FROM users WHERE tenant = $1 AND slug = $2 AND email = $3", ""},
		{"SELECT a.* FROM agents a JOIN users u ON u.id = a.owner_id WHERE a.id = $1", ""},
		{"SELECT DISTINCT * FROM users WHERE id = $1", ""},
		{"SELECT * FROM users WHERE slug = $1", ""},
		{"SELECT * FROM active_agents WHERE id = $1", ""},
	}
	for _, c := range cases {
		a := analyze(t, s, ":one", c.sql)
		got := ""
		if a.KeyLookup != nil {
			got = a.KeyLookup.String()
		}
		if got != c.key {
			t.Errorf("%s\n  key lookup = %q, want %q", c.sql, got, c.key)
		}
	}
}
