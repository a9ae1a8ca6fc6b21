// Package ondeck holds sqlc's ondeck example (PostgreSQL, pgx/v5) with "-- @cache"
// on its reads; go generate writes the sqlc package ondeck/ and its repository.
package ondeck

//go:generate go tool -modfile=../../../../../tools/go.mod sqlc generate -f sqlc.json
//go:generate go run ../../../../../cmd/datalayer-gen -f sqlc.json
