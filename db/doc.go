// Package db is the Agentical schema's generated code: sqlc's typed queries
// (files named *.gen.go) and datalayer-gen's cache-aside Repository over
// them. Nothing here is written by hand; the runtime it runs on lives in
// the postgres, repo, cache and resilience packages.
package db
