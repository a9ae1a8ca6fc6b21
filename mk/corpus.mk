# Generator corpus and sqlc example smoke tests (internal/codegen).

.PHONY: corpus corpus-examples
corpus: ## sqlc's PostgreSQL pgx/v5 examples and end-to-end cases through sqlc, datalayer-gen (@cache on every read), go build and go vet; prints the pass rate and every refusal
	$(GO) test -count=1 -timeout 20m ./internal/codegen -run '^TestCorpus$$' -corpus -v

corpus-examples: ## smoke tests of sqlc's four examples (authors, booktest, ondeck, jets) against real PostgreSQL and Redis
	$(GO) test -count=1 ./internal/codegen/testdata/examples/...
