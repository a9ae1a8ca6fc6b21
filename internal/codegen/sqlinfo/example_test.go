package sqlinfo_test

import (
	"fmt"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

func Example() {
	schema, err := sqlinfo.LoadSchema(map[string][]byte{"schema/01.sql": []byte(`
CREATE TABLE users  (id bigint PRIMARY KEY, email text UNIQUE);
CREATE TABLE agents (id uuid PRIMARY KEY, owner_id bigint REFERENCES users ON DELETE CASCADE, name text);
`)})
	if err != nil {
		panic(err)
	}
	queries, err := sqlinfo.ParseQueryFile("queries/agents.sql", []byte(`
-- name: GetAgent :one
-- @cache ttl=5m swr=1m negative=30s
SELECT a.*, u.email FROM agents a JOIN users u ON u.id = a.owner_id WHERE a.id = $1;

-- name: DeleteUser :execrows
DELETE FROM users WHERE id = sqlc.arg(id);
`))
	if err != nil {
		panic(err)
	}
	for _, q := range queries {
		a, err := schema.Analyze(q)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s line %d\n", q.Name, q.Cmd, q.Line)
		if c := q.Directives.Cache; c != nil {
			fmt.Printf("  cache ttl=%v swr=%v negative=%v\n", c.TTL, c.SWR, c.Negative)
		}
		fmt.Printf("  reads %v, read keys %v\n", a.Reads, a.ReadKeys)
		fmt.Printf("  invalidates %v, write keys %v\n", a.Invalidates, a.WriteKeys)
	}
	// Output:
	// GetAgent :one line 2
	//   cache ttl=5m0s swr=1m0s negative=30s
	//   reads [agents users], read keys [agents(id=$1)]
	//   invalidates [], write keys []
	// DeleteUser :execrows line 6
	//   reads [], read keys []
	//   invalidates [agents users], write keys [users(id=$1)]
}

func ExampleParseQueryFile_errors() {
	_, err := sqlinfo.ParseQueryFile("queries/tasks.sql", []byte(`-- name: ListOverdue :many
-- @cache ttl=1m
SELECT * FROM tasks WHERE due_at < now();

-- name: Touch :exec
-- @cache ttl=1m
-- @retry attempts=many
UPDATE tasks SET seen = true WHERE id = $1;
`))
	fmt.Println(err)
	// Output:
	// queries/tasks.sql:2: @cache on ListOverdue, which uses volatile now() (line 3): its result changes without a table write; add volatile-ok (or @cache-unsafe) if a cached value is acceptable
	// queries/tasks.sql:6: @cache on :exec Touch: only :one and :many reads can be cached
	// queries/tasks.sql:7: @retry: attempts must be an integer from 1 to 100, got "many"
}
