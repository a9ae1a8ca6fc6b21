package backup_test

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/internal/testinfra"
)

// benchRows is the size of the generated table; ~150 MB of table data by
// default. BENCH_BACKUP_ROWS overrides it.
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_BACKUP_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkBackupRestore compares, on the same generated database, plain
// pg_dump -Fc / pg_restore -j 2 with backup.Create / backup.Restore (zstd,
// SHA-256, file:// store; with and without the per-table checksums).
// Throughput (MB/s) is of the database's size (pg_database_size).
// Run: go test ./backup -run '^$' -bench BackupRestore -benchtime 1x
func BenchmarkBackupRestore(b *testing.B) {
	dsn := testinfra.Postgres(b)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE bench_events (id bigint PRIMARY KEY, account int NOT NULL, kind text NOT NULL,
			payload text NOT NULL, amount numeric(12,2) NOT NULL, at timestamptz NOT NULL)`,
		fmt.Sprintf(`INSERT INTO bench_events SELECT i, i %% 1000, 'kind-' || (i %% 7), md5(i::text) || md5((i * 7)::text) || md5((i * 13)::text),
			(i %% 100000) / 100.0, timestamptz '2026-01-01' + i * interval '1 second' FROM generate_series(1, %d) i`, benchRows()),
		"CREATE INDEX ON bench_events (account, at)",
		"VACUUM ANALYZE bench_events",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var size int64
	if err := c.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("database size %.1f MB (%d rows)", float64(size)/1e6, benchRows())
	admin, err := pgx.Connect(ctx, testinfra.PostgresServer(b))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	dir := b.TempDir()
	dbName := c.Config().Database
	var scratch []string
	b.Cleanup(func() {
		for _, n := range scratch {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
		}
	})
	plainDump := filepath.Join(dir, "plain.dump")
	run := func(b *testing.B, name string, args ...string) {
		out, err := osexec.Command(name, args...).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", name, err, out)
		}
	}

	b.Run("pg_dump", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			run(b, "pg_dump", "--format=custom", "--file="+plainDump, "--dbname="+dsn)
		}
		reportSize(b, plainDump)
	})
	b.Run("pg_dump-Z0", func(b *testing.B) { // no compression: the dump alone
		b.SetBytes(size)
		for b.Loop() {
			run(b, "pg_dump", "--format=custom", "--compress=0", "--file="+plainDump+".z0", "--dbname="+dsn)
		}
		reportSize(b, plainDump+".z0")
	})
	b.Run("pg_restore", func(b *testing.B) {
		if _, err := os.Stat(plainDump); err != nil {
			run(b, "pg_dump", "--format=custom", "--file="+plainDump, "--dbname="+dsn)
		}
		b.SetBytes(size)
		i := 0
		for b.Loop() {
			i++
			name := fmt.Sprintf("%s_plain_%d", dbName, i)
			scratch = append(scratch, name)
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
				b.Fatal(err)
			}
			target, _ := withDB(dsn, name)
			run(b, "pg_restore", "--exit-on-error", "--jobs=2", "--dbname="+target, plainDump)
		}
	})

	for _, checksums := range []bool{false, true} {
		suffix := ""
		if checksums {
			suffix = "+table-checksums"
		}
		cfg := backup.Config{URL: "file://" + filepath.Join(dir, "store"+suffix), PostgresURL: dsn, NoTableChecksums: !checksums}
		m, err := backup.New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		var last *backup.Manifest
		b.Run("backup.Create"+suffix, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				if last, err = m.Create(ctx, backup.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(last.Size())/1e6, "stored-MB")
		})
		if checksums {
			b.Run("backup.Verify+restore", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					if _, err := m.Verify(ctx, last.ID, backup.VerifyOptions{Restore: true}); err != nil {
						b.Fatal(err)
					}
				}
			})
			continue
		}
		b.Run("backup.Restore", func(b *testing.B) {
			b.SetBytes(size)
			i := 0
			for b.Loop() {
				i++
				name := fmt.Sprintf("%s_ours_%d", dbName, i)
				scratch = append(scratch, name)
				if _, err := m.Restore(ctx, last.ID, backup.RestoreOptions{Database: name}); err != nil {
					b.Fatal(err)
				}
			}
		})
		_ = m.Close()
	}
}

func reportSize(b *testing.B, path string) {
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "stored-MB")
	}
}

func withDB(dsn, db string) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db), nil
}
