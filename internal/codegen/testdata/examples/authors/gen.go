// Package authors holds sqlc's authors example (PostgreSQL, pgx/v5) with "-- @cache"
// on its reads; go generate writes the sqlc package authors/ and its repository.
package authors

//go:generate go tool -modfile=../../../../../tools/go.mod sqlc generate -f sqlc.yaml
//go:generate go run ../../../../../cmd/datalayer-gen -f sqlc.yaml
