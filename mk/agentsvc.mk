# The example service cmd/agentsvc.

SERVE_BIN ?= $(or $(TMPDIR),/tmp)/datalayer-serve

.PHONY: serve test-agentsvc
serve: ## run cmd/agentsvc on 127.0.0.1:8080 (AGENTSVC_ADDR) against throwaway PostgreSQL + Redis as `make demo` gets them (or DATABASE_URL/REDIS_URL), AUTO_MIGRATE=true; Ctrl-C stops it all
	$(GO) build -o $(SERVE_BIN)/ ./cmd/agentsvc ./internal/devstack
	$(SERVE_BIN)/devstack $(SERVE_FLAGS) -- $(SERVE_BIN)/agentsvc

test-agentsvc: ## end-to-end test of cmd/agentsvc (builds and runs the binary against real PostgreSQL + Redis) and of the serve launcher
	$(GO) test -count=1 ./cmd/agentsvc ./internal/devstack
