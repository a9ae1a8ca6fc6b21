package bookstore

//go:generate go tool -modfile=../../../../tools/go.mod sqlc generate -f sqlc.yaml
//go:generate go run ../../../../cmd/datalayer-gen -f sqlc.yaml
