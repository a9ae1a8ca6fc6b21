package datalayer

// Code generation, in dependency order. sqlc runs from the separate tools
// module (tools/go.mod) so importers of this module never inherit its
// dependency graph.

//go:generate go tool -modfile=tools/go.mod sqlc generate -f sqlc.yaml
