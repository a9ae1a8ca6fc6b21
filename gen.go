// Package datalayer is the root of the module: Open builds the Agentical
// data layer (every store and the repository) from a config.Config, and
// this file lists the code-generation steps `go generate ./...` runs, in
// order.
package datalayer

// 0. migrations: schema/ and migrations/ must agree. On drift this fails
//    and prints the missing SQL; write it with
//    `go run ./cmd/datalayer migrate diff <name>` (or `make migrate-diff NAME=...`).
//go:generate go run ./cmd/datalayer migrate diff --check

// 1. sqlc: schema/ + queries/ -> db/*.gen.go. It runs from the separate
//    tools module (tools/go.mod) so importers never inherit its dependencies.
//go:generate go tool -modfile=tools/go.mod sqlc generate -f sqlc.yaml

// 2. datalayer-gen: db/repo_repository.gen.go, the cache-aside repository.
//go:generate go run ./cmd/datalayer-gen -f sqlc.yaml
