package sqlinfo_test

import (
	"math/rand/v2"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

var seedQueries = []string{
	"-- name: GetAgent :one\n-- @cache ttl=5m swr=1m negative=30s\nSELECT * FROM agents WHERE id = $1;\n",
	"-- name: Up :exec\n-- @invalidates comments\nUPDATE users u SET email = $1 FROM agents a WHERE a.owner_id = u.id AND a.id = $2;\n",
	"-- name: W :many\nWITH RECURSIVE t AS (SELECT id FROM tasks WHERE id = @id UNION ALL SELECT k.id FROM tasks k JOIN t ON k.parent_id = t.id) SELECT * FROM t;\n",
	"-- name: I :one\nINSERT INTO users (id, email, tenant, slug) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO UPDATE SET tenant = EXCLUDED.tenant RETURNING *;\n",
	"-- name: D :execrows\nDELETE FROM agents a USING users u WHERE u.id = a.owner_id AND u.email = sqlc.arg(email);\n",
}

// mutate applies a few random byte-level edits: deletions, duplications,
// insertions of SQL-significant characters and swaps.
func mutate(r *rand.Rand, s string) string {
	b := []byte(s)
	alphabet := []byte("()'\";$@:-=,.*/ \nSELECTFROMWHEREJOINWITH0123456789\x00\xff")
	for n := 1 + r.IntN(6); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(4) {
		case 0:
			b = append(b[:i], b[i+1:]...)
		case 1:
			j := min(len(b), i+r.IntN(20))
			b = append(b[:i], append(append([]byte{}, b[i:j]...), b[i:]...)...)
		case 2:
			b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
		case 3:
			j := r.IntN(len(b))
			b[i], b[j] = b[j], b[i]
		}
	}
	return string(b)
}

// TestGarbageNeverPanics feeds thousands of mutated query files and schemas
// through every entry point: each must return (possibly an error), never panic.
func TestGarbageNeverPanics(t *testing.T) {
	s := loadTestSchema(t)
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	errorsSeen := 0
	for i := range n {
		src := mutate(r, seedQueries[i%len(seedQueries)])
		qs, err := sqlinfo.ParseQueryFile("fuzz.sql", []byte(src))
		if err != nil {
			errorsSeen++
		}
		_, _ = s.AnalyzeAll(qs)
		_, _ = sqlinfo.AnalyzeSQL(src)
		if i%5 != 0 {
			continue
		}
		schemaSrc := mutate(r, string(testSchema["03_tasks.sql"]))
		_, _ = sqlinfo.LoadSchema(map[string][]byte{"01.sql": testSchema["01_users.sql"], "02.sql": testSchema["02_agents.sql"], "03.sql": []byte(schemaSrc)})
	}
	if errorsSeen == 0 {
		t.Fatal("no mutated input was rejected: the mutations are not reaching the parser")
	}
	t.Logf("%d of %d mutated query files rejected with an error", errorsSeen, n)
}

func TestGarbageIsAnError(t *testing.T) {
	for _, src := range []string{
		"-- name: Q :one\n\x00\x01\x02",
		"-- name: Q :one\nSELECT (((((;",
		"-- name: Q :one\n'unterminated",
		"-- name: Q :one\n$$ dollar",
		"-- name: Q :one\nSELECT * FROM t WHERE x = $0 AND",
		"-- name: Q :one\n/* open comment",
		"-- name: Q :one\nDROP TABLE; DROP TABLE;",
	} {
		if _, err := sqlinfo.ParseQueryFile("g.sql", []byte(src)); err == nil {
			t.Errorf("%q: no error", src)
		}
	}
}

func FuzzParseQueryFile(f *testing.F) {
	for _, q := range seedQueries {
		f.Add(q)
	}
	s, err := sqlinfo.LoadSchema(testSchema)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		qs, _ := sqlinfo.ParseQueryFile("fuzz.sql", []byte(src))
		_, _ = s.AnalyzeAll(qs)
	})
}
