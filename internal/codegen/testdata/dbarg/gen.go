// Package dbarg is an sqlc project with emit_methods_with_db_argument and no
// Querier interface; go generate writes the package dbarg/ and its repository.
package dbarg

//go:generate go tool -modfile=../../../../tools/go.mod sqlc generate -f sqlc.yaml
//go:generate go run ../../../../cmd/datalayer-gen -f sqlc.yaml
