.PHONY: migrate-bench migrate-edits
migrate-bench: ## diff --check timing: throwaway server vs fresh dev databases vs cached replay (migrate.BenchmarkCheckProcess)
	$(GO) test ./migrate -run '^$$' -bench 'BenchmarkCheckProcess' -benchtime 5x

migrate-edits: ## the schema-edit suite (diff, apply on seeded data, lint, squawk) with its table
	$(GO) test ./migrate -count=1 -run 'TestSchemaEdits' -v | sed -n '/schema edits:/,/^--- /p'
