package sqlinfo_test

import (
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

func TestTables(t *testing.T) {
	cases := []struct {
		name, sql     string
		reads, writes string // comma-separated, sorted
	}{
		{"simple", "SELECT * FROM agents WHERE id = $1", "agents", ""},
		{"schema qualified public", "SELECT * FROM public.agents", "agents", ""},
		{"schema qualified other", "SELECT * FROM audit.events e JOIN public.users u ON u.id = e.user_id", "audit.events,users", ""},
		{"case folding and quotes", `SELECT * FROM Agents a JOIN "Mixed" m ON true`, "Mixed,agents", ""},
		{"joins", "SELECT * FROM a JOIN b ON b.a_id = a.id LEFT JOIN c USING (x) CROSS JOIN d", "a,b,c,d", ""},
		{"scalar subquery", "SELECT a.*, (SELECT count(*) FROM b WHERE b.a_id = a.id) FROM a", "a,b", ""},
		{"exists", "SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.b_id) AND a.x IN (SELECT x FROM c)", "a,b,c", ""},
		{"from subquery lateral", "SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.a = a.id) s", "a,b", ""},
		{"union", "SELECT id FROM a UNION ALL SELECT id FROM b EXCEPT SELECT id FROM c", "a,b,c", ""},
		{"cte filtered", "WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b ON true", "a,b", ""},
		{"cte shadowing a table", "WITH a AS (SELECT * FROM b) SELECT * FROM a", "b", ""},
		{"schema-qualified name is not the cte", "WITH a AS (SELECT 1) SELECT * FROM a, public.a", "a", ""},
		{"non-recursive cte sees only earlier ctes", "WITH x AS (SELECT * FROM y), y AS (SELECT 1) SELECT * FROM x, y", "y", ""},
		{"recursive cte", "WITH RECURSIVE t(id) AS (SELECT id FROM tasks WHERE id = $1 UNION ALL SELECT k.id FROM tasks k JOIN t ON k.parent_id = t.id) SELECT * FROM t", "tasks", ""},
		{"cte scope ends with subquery", "SELECT * FROM (WITH z AS (SELECT 1) SELECT * FROM z) s, z", "z", ""},
		{"update from", "UPDATE a SET x = b.x FROM b WHERE b.id = a.b_id", "b", "a"},
		{"update subquery", "UPDATE a SET x = (SELECT max(x) FROM c) WHERE id = $1", "c", "a"},
		{"insert select", "INSERT INTO a (x) SELECT x FROM b WHERE b.y = $1", "b", "a"},
		{"insert values", "INSERT INTO public.a (x) VALUES ($1) RETURNING id", "", "a"},
		{"upsert", "INSERT INTO a (id, x) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET x = EXCLUDED.x WHERE a.x <> (SELECT 1 FROM b)", "b", "a"},
		{"delete using", "DELETE FROM a USING b WHERE b.id = a.b_id AND b.flag", "b", "a"},
		{"delete with subquery", "DELETE FROM a WHERE id IN (SELECT a_id FROM b)", "b", "a"},
		{"data-modifying ctes", "WITH d AS (DELETE FROM a WHERE id = $1 RETURNING *), i AS (INSERT INTO archive SELECT * FROM d RETURNING *) UPDATE stats SET n = n + 1 FROM i WHERE stats.k = i.k", "", "a,archive,stats"},
		{"select from writing cte", "WITH u AS (UPDATE a SET x = 1 WHERE id = $1 RETURNING *) SELECT * FROM u JOIN b ON true", "b", "a"},
		{"merge", "MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN UPDATE SET x = b.x WHEN NOT MATCHED THEN INSERT (id, x) VALUES (b.id, b.x)", "b", "a"},
		{"truncate", "TRUNCATE a, public.b CASCADE", "", "a,b"},
		{"for update of alias", "SELECT * FROM a t JOIN b ON true FOR UPDATE OF t", "a,b", ""},
		{"self join counted once", "SELECT * FROM tasks t JOIN tasks p ON p.id = t.parent_id", "tasks", ""},
		{"update target also read", "UPDATE a SET x = 1 WHERE id IN (SELECT id FROM a WHERE y)", "a", "a"},
		{"set-returning function", "SELECT * FROM generate_series(1, 3) g JOIN a ON a.id = g", "a", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := sqlinfo.AnalyzeSQL(c.sql)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(info.Reads, ","); got != c.reads {
				t.Errorf("reads = %q, want %q", got, c.reads)
			}
			if got := strings.Join(info.Writes, ","); got != c.writes {
				t.Errorf("writes = %q, want %q", got, c.writes)
			}
		})
	}
}

func TestVolatile(t *testing.T) {
	cases := []struct{ sql, want string }{
		{"SELECT now()", "now()"},
		{"SELECT pg_catalog.now()", "now()"},
		{"SELECT random() FROM a", "random()"},
		{"SELECT nextval('s')", "nextval()"},
		{"SELECT setval('s', 1)", "setval()"},
		{"SELECT clock_timestamp()", "clock_timestamp()"},
		{"SELECT statement_timestamp()", "statement_timestamp()"},
		{"SELECT transaction_timestamp()", "transaction_timestamp()"},
		{"SELECT gen_random_uuid()", "gen_random_uuid()"},
		{"SELECT * FROM a WHERE t < current_timestamp", "CURRENT_TIMESTAMP"},
		{"SELECT * FROM a WHERE t < CURRENT_TIMESTAMP(3)", "CURRENT_TIMESTAMP"},
		{"SELECT * FROM a WHERE d = current_date", "CURRENT_DATE"},
		{"SELECT localtimestamp", "LOCALTIMESTAMP"},
		{"SELECT * FROM a WHERE t > 'now'::timestamptz", "'now'::timestamptz"},
		{"SELECT * FROM a WHERE d = date 'today'", "'today'::date"},
		{"SELECT * FROM a WHERE id = $1 FOR UPDATE", "FOR UPDATE"},
		{"SELECT * FROM a WHERE id = $1 FOR SHARE", "FOR SHARE"},
		{"SELECT * FROM a FOR NO KEY UPDATE SKIP LOCKED", "FOR NO KEY UPDATE"},
		{"SELECT * FROM a FOR KEY SHARE", "FOR KEY SHARE"},
		{"SELECT * FROM a WHERE x IN (SELECT x FROM b WHERE t < now())", "now()"},
		{"WITH c AS (SELECT random() r) SELECT * FROM c", "random()"},
		{"SELECT * FROM a WHERE x = $1", ""},
		{"SELECT lower(name), coalesce(x, 0), count(*) FROM a GROUP BY 1, 2", ""},
		{"SELECT * FROM a WHERE s = 'now'", ""},
		{"SELECT sqlc.arg(now) FROM a", ""},
		{"SELECT myschema.random() FROM a", ""},
	}
	for _, c := range cases {
		info, err := sqlinfo.AnalyzeSQL(c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		var got []string
		for _, v := range info.Volatile {
			got = append(got, v.What)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s: volatile = %q, want %q", c.sql, got, c.want)
		}
	}
}

func TestParamNumbering(t *testing.T) {
	cases := []struct {
		sql    string
		params int
	}{
		{"SELECT * FROM a WHERE x = $1 AND y = $3", 3},
		{"SELECT * FROM a WHERE x = sqlc.arg(x) AND y = sqlc.narg('y') AND z = sqlc.arg(x)", 2},
		{"SELECT * FROM a WHERE x = @x AND y = @y::int AND z = @x", 2},
		{"SELECT * FROM a WHERE id = ANY(sqlc.slice(ids)) AND x = $1", 2},
		{"SELECT 1", 0},
	}
	for _, c := range cases {
		info, err := sqlinfo.AnalyzeSQL(c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if info.Params != c.params {
			t.Errorf("%s: params = %d, want %d", c.sql, info.Params, c.params)
		}
	}
}

func TestAnalyzeSQLErrors(t *testing.T) {
	for _, sql := range []string{"SELEC 1", "SELECT * FROM", "SELECT 1; SELECT 2", "", "UPDATE a SET WHERE"} {
		if _, err := sqlinfo.AnalyzeSQL(sql); err == nil {
			t.Errorf("%q: no error", sql)
		}
	}
}
