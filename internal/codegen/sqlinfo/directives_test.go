package sqlinfo_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

func parseOne(t *testing.T, src string) sqlinfo.Query {
	t.Helper()
	qs, err := sqlinfo.ParseQueryFile("q.sql", []byte(src))
	if err != nil {
		t.Fatalf("ParseQueryFile: %v", err)
	}
	if len(qs) != 1 {
		t.Fatalf("got %d queries, want 1", len(qs))
	}
	return qs[0]
}

func TestDirectivesParsed(t *testing.T) {
	src := `-- leading file comment

-- name: GetAgent :one
-- @cache ttl=5m swr=1m negative=30s
-- A doc comment between directives is fine.
-- @timeout 2s
-- @retry attempts=3
-- @policy critical-reads
SELECT * FROM agents WHERE id = $1;

-- name: TouchAgent :exec
--   @invalidates public.audit_log,  Agent_History
--@timeout 150ms
UPDATE agents SET seen = true WHERE id = $1;

/* name: ListAgents :many */
-- @nocache
SELECT *
FROM agents;
`
	qs, err := sqlinfo.ParseQueryFile("agents.sql", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 {
		t.Fatalf("got %d queries, want 3", len(qs))
	}
	g := qs[0]
	if g.Name != "GetAgent" || g.Cmd != sqlinfo.CmdOne || g.Line != 3 || g.SQLLine != 9 || g.File != "agents.sql" {
		t.Errorf("header = %s %s line %d sql line %d", g.Name, g.Cmd, g.Line, g.SQLLine)
	}
	if g.SQL != "SELECT * FROM agents WHERE id = $1;" {
		t.Errorf("SQL = %q", g.SQL)
	}
	c := g.Directives.Cache
	if c == nil || c.TTL != 5*time.Minute || c.SWR != time.Minute || c.Negative != 30*time.Second || c.VolatileOK || c.Line != 4 {
		t.Errorf("cache = %+v", c)
	}
	if g.Directives.Timeout != 2*time.Second || g.Directives.RetryAttempts != 3 || g.Directives.Policy != "critical-reads" {
		t.Errorf("directives = %+v", g.Directives)
	}
	w := qs[1]
	if got := strings.Join(w.Directives.Invalidates, ","); got != "agent_history,audit_log" {
		t.Errorf("invalidates = %q", got)
	}
	if w.Directives.Timeout != 150*time.Millisecond || w.Directives.Cache != nil || !w.IsWrite() {
		t.Errorf("TouchAgent directives = %+v", w.Directives)
	}
	l := qs[2]
	if l.Name != "ListAgents" || l.Cmd != sqlinfo.CmdMany || !l.Directives.NoCache || l.SQL != "SELECT *\nFROM agents;" {
		t.Errorf("ListAgents = %+v", l)
	}
}

func TestVolatileOverride(t *testing.T) {
	for _, src := range []string{
		"-- name: Q :one\n-- @cache ttl=1m volatile-ok\nSELECT now() - created_at FROM agents WHERE id = $1;",
		"-- name: Q :one\n-- @cache ttl=1m\n-- @cache-unsafe\nSELECT * FROM agents WHERE id = $1 FOR UPDATE;",
	} {
		q := parseOne(t, src)
		if q.Directives.Cache == nil || !q.Directives.Cache.VolatileOK {
			t.Errorf("override not recorded: %+v", q.Directives.Cache)
		}
		if len(q.Info.Volatile) == 0 {
			t.Errorf("volatile use not reported for %q", src)
		}
	}
}

// Each case's file must yield exactly the listed errors (in order).
func TestDirectiveErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown directive", "-- name: Q :one\n-- @cahce ttl=1m\nSELECT 1;",
			[]string{"f.sql:2: unknown directive @cahce"}},
		{"bad duration", "-- name: Q :one\n-- @cache ttl=5x\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @cache ttl: bad duration "5x"`}},
		{"non-positive duration", "-- name: Q :one\n-- @cache ttl=1m swr=-1s\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @cache swr: duration must be positive, got "-1s"`}},
		{"bad key=value", "-- name: Q :one\n-- @cache ttl\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @cache: bad option "ttl", want key=value`, "f.sql:2: @cache needs ttl=D"}},
		{"unknown cache option", "-- name: Q :one\n-- @cache ttl=1m stale=1m\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @cache: unknown option "stale"`}},
		{"cache option twice", "-- name: Q :one\n-- @cache ttl=1m ttl=2m\nSELECT 1 FROM t;",
			[]string{"f.sql:2: @cache: ttl given twice"}},
		{"missing ttl", "-- name: Q :one\n-- @cache swr=1m\nSELECT 1 FROM t;",
			[]string{"f.sql:2: @cache needs ttl=D"}},
		{"cache on exec", "-- name: Q :exec\n-- @cache ttl=1m\nDELETE FROM t WHERE id = $1;",
			[]string{"f.sql:2: @cache on :exec Q: only :one and :many reads can be cached"}},
		{"cache on execrows", "-- name: Q :execrows\n-- @cache ttl=1m\nDELETE FROM t;",
			[]string{"f.sql:2: @cache on :execrows Q"}},
		{"cache on copyfrom", "-- name: Q :copyfrom\n-- @cache ttl=1m\nINSERT INTO t (a) VALUES ($1);",
			[]string{"f.sql:2: @cache on :copyfrom Q"}},
		{"cache on batchone", "-- name: Q :batchone\n-- @cache ttl=1m\nSELECT * FROM t WHERE id = $1;",
			[]string{"f.sql:2: @cache on :batchone Q"}},
		{"cache on writing CTE", "-- name: Q :one\n-- @cache ttl=1m\nWITH d AS (DELETE FROM t WHERE id = $1 RETURNING *)\nSELECT * FROM d;",
			[]string{"f.sql:2: @cache on Q, which writes t: only reads can be cached"}},
		{"cache on volatile", "-- name: Q :many\n-- @cache ttl=1m\nSELECT *\nFROM t\nWHERE due < now();",
			[]string{"f.sql:2: @cache on Q, which uses volatile now() (line 5)"}},
		{"cache on FOR UPDATE", "-- name: Q :one\n-- @cache ttl=1m\nSELECT * FROM t WHERE id = $1 FOR UPDATE;",
			[]string{"f.sql:2: @cache on Q, which locks the rows it reads (FOR UPDATE)"}},
		{"cache-unsafe alone", "-- name: Q :one\n-- @cache-unsafe\nSELECT 1 FROM t;",
			[]string{"f.sql:2: @cache-unsafe without @cache"}},
		{"nocache with cache", "-- name: Q :one\n-- @cache ttl=1m\n-- @nocache\nSELECT 1 FROM t;",
			[]string{"f.sql:3: @nocache and @cache on the same query"}},
		{"timeout bad", "-- name: Q :one\n-- @timeout soon\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @timeout: bad duration "soon"`}},
		{"timeout two args", "-- name: Q :one\n-- @timeout 1s 2s\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @timeout wants one duration`}},
		{"retry zero", "-- name: Q :one\n-- @retry attempts=0\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @retry: attempts must be an integer from 1 to 100, got "0"`}},
		{"retry unknown key", "-- name: Q :one\n-- @retry tries=3\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @retry: unknown option "tries"`}},
		{"retry no args", "-- name: Q :one\n-- @retry\nSELECT 1 FROM t;",
			[]string{"f.sql:2: @retry wants attempts=N"}},
		{"policy bad", "-- name: Q :one\n-- @policy two words\nSELECT 1 FROM t;",
			[]string{`f.sql:2: @policy wants one name`}},
		{"invalidates on read", "-- name: Q :one\n-- @invalidates t\nSELECT 1 FROM t;",
			[]string{"f.sql:1: @invalidates on read Q: only writes invalidate"}},
		{"invalidates bad name", "-- name: Q :exec\n-- @invalidates a.b.c\nDELETE FROM t;",
			[]string{`f.sql:2: @invalidates: bad table name "a.b.c"`}},
		{"duplicate directive", "-- name: Q :one\n-- @timeout 1s\n-- @timeout 2s\nSELECT 1 FROM t;",
			[]string{"f.sql:3: duplicate @timeout (first at line 2)"}},
		{"directive above name", "-- @cache ttl=1m\n-- name: Q :one\nSELECT 1 FROM t;",
			[]string{"f.sql:1: directive outside a query"}},
		{"directive after SQL", "-- name: Q :one\nSELECT 1 FROM t;\n-- @cache ttl=1m\n",
			[]string{"f.sql:3: directive inside or after the SQL of Q"}},
		{"syntax error line", "-- name: Q :one\n-- @cache ttl=1m\nSELECT *\nFROM t\nWHERE id = = 1;",
			[]string{"f.sql:5: query Q: syntax error: syntax error at or near \"=\""}},
		{"two statements", "-- name: Q :exec\nDELETE FROM a; DELETE FROM b;",
			[]string{"f.sql:2: query Q: holds 2 statements"}},
		{"unknown command", "-- name: Q :first\nSELECT 1 FROM t;",
			[]string{"f.sql:1: query Q: unknown command :first"}},
		{"duplicate name", "-- name: Q :one\nSELECT 1 FROM t;\n-- name: Q :one\nSELECT 2 FROM t;",
			[]string{"f.sql:3: query Q already defined at line 1"}},
		{"no SQL", "-- name: Q :one\n-- @timeout 1s\n",
			[]string{"f.sql:1: query Q has no SQL"}},
		{"all errors collected", "-- name: A :exec\n-- @cache ttl=1m\nDELETE FROM t;\n\n-- name: B :one\n-- @bogus\n-- @timeout 0s\nSELECT 1 FROM t;\n-- name: C :one\n-- @cache ttl=1m\nSELECT random() FROM t;",
			[]string{"f.sql:2: @cache on :exec A", "f.sql:6: unknown directive @bogus", `f.sql:7: @timeout: duration must be positive, got "0s"`, "f.sql:10: @cache on C, which uses volatile random() (line 11)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := sqlinfo.ParseQueryFile("f.sql", []byte(c.src))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !errors.Is(err, sqlinfo.ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var list sqlinfo.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList", err)
			}
			if len(list) != len(c.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(list), len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(list[i].Error(), w) {
					t.Errorf("error %d = %q, want prefix %q", i, list[i].Error(), w)
				}
			}
		})
	}
}

func TestErrorAs(t *testing.T) {
	_, err := sqlinfo.ParseQueryFile("x.sql", []byte("-- name: Q :one\n-- @nope\nSELECT 1;"))
	var e *sqlinfo.Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(*Error) failed on %v", err)
	}
	if e.File != "x.sql" || e.Line != 2 || !strings.Contains(e.Msg, "@nope") {
		t.Errorf("got %+v", e)
	}
}
