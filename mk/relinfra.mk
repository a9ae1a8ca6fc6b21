# Reliability targets: fault suite and fuzzing (issue 11).

FUZZTIME ?= 30s

.PHONY: faults faults-short fuzz
faults: ## fault suite: toxiproxy + server kills/restarts under a mixed workload, 5 s outages; writes faults-table.md
	FAULTS_LONG=1 FAULTS_TABLE=$(CURDIR)/faults-table.md $(GO) test ./internal/faults -run 'TestFaults' -count=1 -v -timeout 20m

faults-short: ## the fault suite's short version (what `go test ./...` runs)
	$(GO) test ./internal/faults -run 'TestFaults' -count=1 -v -timeout 5m

fuzz: ## run each fuzz target for FUZZTIME (directive parser, config loader, migration files)
	$(GO) test ./internal/codegen/sqlinfo -run '^$$' -fuzz '^FuzzDirectives$$' -fuzztime $(FUZZTIME)
	$(GO) test ./config -run '^$$' -fuzz '^FuzzFromMap$$' -fuzztime $(FUZZTIME)
	$(GO) test ./migrate -run '^$$' -fuzz '^FuzzMigrationFile$$' -fuzztime $(FUZZTIME)
