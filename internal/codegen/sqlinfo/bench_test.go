package sqlinfo_test

import (
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

var benchSQL = map[string]string{
	"pk": "SELECT * FROM agents WHERE id = $1",
	"join_aggregate": `WITH open AS (SELECT * FROM tasks WHERE status <> 'done')
SELECT a.id, a.name, o.status, count(*) AS n
FROM agents a
JOIN open o ON o.agent_id = a.id
LEFT JOIN users u ON u.id = a.owner_id AND u.id = sqlc.arg(owner)
WHERE a.owner_id = sqlc.arg(owner) AND EXISTS (SELECT 1 FROM comments c WHERE c.task_id = o.id)
GROUP BY a.id, a.name, o.status
ORDER BY a.name, o.status`,
	"upsert": "INSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO UPDATE SET tenant = EXCLUDED.tenant RETURNING *",
}

// BenchmarkParse compares pg_query's parse alone with the full analysis of
// the same statement (parse + parameter numbering + table walk + shape), and
// the schema resolution step on top.
func BenchmarkParse(b *testing.B) {
	s := loadTestSchema(b)
	for _, name := range []string{"pk", "join_aggregate", "upsert"} {
		sql := benchSQL[name]
		b.Run(name+"/pg_query.Parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pg.Parse(sql); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/AnalyzeSQL", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sqlinfo.AnalyzeSQL(sql); err != nil {
					b.Fatal(err)
				}
			}
		})
		qs, err := sqlinfo.ParseQueryFile("b.sql", []byte("-- name: B :many\n"+sql))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/Schema.Analyze", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Analyze(qs[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProject is the whole job on the module's own schema/ and
// queries/: what one generator run spends in this package.
func BenchmarkProject(b *testing.B) {
	root := moduleRoot(b)
	schemaFiles := readSQLDir(b, root, "schema")
	queryFiles := readSQLDir(b, root, "queries")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s, err := sqlinfo.LoadSchema(schemaFiles)
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for name, src := range queryFiles {
			qs, err := sqlinfo.ParseQueryFile(name, src)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.AnalyzeAll(qs); err != nil {
				b.Fatal(err)
			}
			n += len(qs)
		}
	}
	b.ReportMetric(float64(n), "queries")
}
