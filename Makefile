# datalayer: run `make help` for the targets.
SHELL := /bin/bash
GO    ?= go

.DEFAULT_GOAL := help

# Feature targets live in mk/*.mk, one file per area.
-include mk/*.mk

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## throwaway PostgreSQL + Redis (DATABASE_URL/REDIS_URL, else Docker, else local binaries), seed, 10 s mixed workload, per-method stats
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

.PHONY: bench
bench: ## side-by-side benchmarks (raw sqlc, repository misses and hits, go-redis/cache, mixed workload) and one table: ns/op, allocs, ratios, stale reads (BENCH=regexp, BENCH_COUNT=3)
	set -o pipefail; $(GO) test ./internal/bench -run '^$$' -bench '$(or $(BENCH),.)' -benchtime 1s -count $(or $(BENCH_COUNT),3) -timeout 30m | $(GO) run ./internal/bench/benchtable

# sqlc projects under testdata (excluded from ./...), generated and tested too.
GEN_TESTDATA := internal/codegen/testdata/bookstore internal/codegen/testdata/dbarg \
	$(addprefix internal/codegen/testdata/examples/,authors booktest jets ondeck)

.PHONY: generate
generate: ## regenerate db/ (sqlc + datalayer-gen) and the generator's test project
	$(GO) generate ./...
	for d in $(GEN_TESTDATA); do (cd $$d && $(GO) generate .) || exit 1; done

.PHONY: check-generated
check-generated: ## regenerate and fail if that changed any file (committed or not)
	@state() { git ls-files -z -m -o --exclude-standard | sort -z | xargs -0r sha256sum 2>&1; }; \
	before=$$(state); $(MAKE) --no-print-directory generate >/dev/null || exit 1; after=$$(state); \
	if [ "$$before" != "$$after" ]; then \
		echo "go generate changed files; run 'make generate' and commit the result:"; \
		diff <(echo "$$before") <(echo "$$after") | grep '^[<>]' | awk '{print "  " $$3}' | sort -u; \
		exit 1; \
	fi

.PHONY: migrate-diff migrate-check migrate-lint migrate-apply migrate-status
migrate-diff: ## write the next migration from schema/ (NAME=add_x)
	$(GO) run ./cmd/datalayer migrate diff $(NAME)
migrate-check: ## fail when schema/ and migrations/ disagree
	$(GO) run ./cmd/datalayer migrate diff --check
migrate-lint: ## lint migrations added since BASE (default origin/main)
	$(GO) run ./cmd/datalayer migrate lint --git-base $(or $(BASE),origin/main)
migrate-apply: ## apply pending migrations to DATABASE_URL
	$(GO) run ./cmd/datalayer migrate apply
migrate-status: ## migration status of DATABASE_URL
	$(GO) run ./cmd/datalayer migrate status

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: lint
lint: vet ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: test
test: check-generated lint ## regenerate (must be a no-op), vet, then all tests with -race
	$(GO) test -race -count=1 -timeout 15m ./... $(addsuffix /...,$(addprefix ./,$(GEN_TESTDATA)))
