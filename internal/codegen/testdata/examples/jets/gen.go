// Package jets holds sqlc's jets example (PostgreSQL, pgx/v5) with "-- @cache"
// on its reads; go generate writes the sqlc package jets/ and its repository.
package jets

//go:generate go tool -modfile=../../../../../tools/go.mod sqlc generate -f sqlc.json
//go:generate go run ../../../../../cmd/datalayer-gen -f sqlc.json
