# Generator corpus and sqlc example smoke tests (internal/codegen).

.PHONY: corpus corpus-examples
corpus: ## sqlc's PostgreSQL pgx/v5 cases through sqlc, datalayer-gen (@cache on every read), go build, go vet (prints the pass rate and refusals); the tools-module setup in a fresh module
	$(GO) test -count=1 -timeout 20m ./internal/codegen -run '^(TestCorpus|TestToolsModuleAdoption)$$' -corpus -v

corpus-examples: ## smoke tests of sqlc's four examples (authors, booktest, ondeck, jets) and the db-argument project against real PostgreSQL and Redis
	$(GO) test -count=1 ./internal/codegen/testdata/examples/... ./internal/codegen/testdata/dbarg/...
