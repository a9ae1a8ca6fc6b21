// Package booktest holds sqlc's booktest example (PostgreSQL, pgx/v5) with "-- @cache"
// on its reads; go generate writes the sqlc package booktest/ and its repository.
package booktest

//go:generate go tool -modfile=../../../../../tools/go.mod sqlc generate -f sqlc.json
//go:generate go run ../../../../../cmd/datalayer-gen -f sqlc.json
