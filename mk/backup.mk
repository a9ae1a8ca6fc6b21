.PHONY: test-backup bench-backup
test-backup: ## backup package and CLI integration tests (PostgreSQL, SurrealDB peer, S3 fake, PITR cluster)
	$(GO) test -count=1 ./backup/ ./cmd/datalayer/ -run 'Backup|Verify|Corrupt|Restore|Encryption|S3|Retention|Scheduler|PointInTime'
bench-backup: ## backup.Create/Restore/Verify throughput (MB/s) next to plain pg_dump/pg_restore on ~230 MB (BENCH_BACKUP_ROWS)
	$(GO) test ./backup/ -run '^$$' -bench BackupRestore -benchtime 1x -timeout 30m
