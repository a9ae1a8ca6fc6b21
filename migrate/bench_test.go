package migrate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/migrate"
)

// Figures for the issue: run with
//
//	go test ./migrate -run '^$' -bench . -benchtime 5x
//
// Each Diff iteration loads schema/ and replays migrations/ on reused dev
// databases (as go generate does after the first call of a Migrator).

// BenchmarkDiffProjectSchema: the project's schema/ against its committed
// migrations (no change: the go generate check).
func BenchmarkDiffProjectSchema(b *testing.B) {
	root, err := testinfra.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	m := migrate.New(migrate.Config{
		Dir:       filepath.Join(root, "migrations"),
		SchemaDir: filepath.Join(root, "schema"),
		DevURL:    testinfra.PostgresServer(b),
	})
	defer m.Close(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Check(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckProcess is `datalayer migrate diff --check` on the
// project's schema as one CLI process does it, a new Migrator per run:
//
//   - throwaway_server: the previous CLI (a dev server started per run,
//     schema/ loaded and migrations/ replayed every time);
//   - fresh_databases: a running dev server, throwaway databases per run;
//   - cached: a running dev server keeping the replay (keyed by the
//     atlas.sum hash) and the loaded schema/ between runs (CacheDev, the
//     CLI's default now).
func BenchmarkCheckProcess(b *testing.B) {
	root, err := testinfra.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	server := testinfra.PostgresServer(b)
	check := func(b *testing.B, cfg migrate.Config) {
		cfg.Dir, cfg.SchemaDir = filepath.Join(root, "migrations"), filepath.Join(root, "schema")
		m := migrate.New(cfg)
		defer m.Close(context.Background())
		if _, err := m.Check(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("throwaway_server", func(b *testing.B) {
		for b.Loop() {
			check(b, migrate.Config{StartDev: func(ctx context.Context) (string, func(context.Context) error, error) {
				pg, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{})
				if err != nil {
					return "", nil, err
				}
				return pg.DSN(), pg.Stop, nil
			}})
		}
	})
	b.Run("fresh_databases", func(b *testing.B) {
		for b.Loop() {
			check(b, migrate.Config{DevURL: server})
		}
	})
	b.Run("cached", func(b *testing.B) {
		check(b, migrate.Config{DevURL: server, CacheDev: true}) // warm
		b.ResetTimer()
		for b.Loop() {
			check(b, migrate.Config{DevURL: server, CacheDev: true})
		}
	})
}

// BenchmarkDiff100Tables: a generated 100-table schema with foreign keys
// and indexes, planned from an empty directory.
func BenchmarkDiff100Tables(b *testing.B) {
	p := newProject(b)
	var sb strings.Builder
	for i := range 100 {
		fmt.Fprintf(&sb, "CREATE TABLE t%03d (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, data jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now()", i)
		if i > 0 {
			fmt.Fprintf(&sb, ", parent_id bigint REFERENCES t%03d (id) ON DELETE CASCADE", i-1)
		}
		sb.WriteString(");\n")
		fmt.Fprintf(&sb, "CREATE INDEX t%03d_name_idx ON t%03d (name);\n", i, i)
	}
	p.setSchema(b, map[string]string{"01_tables.sql": sb.String()})
	m := p.migrator(migrate.Config{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Check(context.Background()); err == nil {
			b.Fatal("expected a plan for 100 new tables")
		}
	}
}

// BenchmarkApply50Files: 50 migration files applied to a fresh database,
// one transaction and revision per file.
func BenchmarkApply50Files(b *testing.B) {
	p := newProject(b)
	for i := 1; i <= 50; i++ {
		name := fmt.Sprintf("202501010%05d_t%02d.sql", i, i)
		sql := fmt.Sprintf("CREATE TABLE t%02d (id bigint PRIMARY KEY, v text);\nCREATE INDEX t%02d_v_idx ON t%02d (v);\nINSERT INTO t%02d VALUES (1, 'x');\n", i, i, i, i)
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(sql), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	m := p.migrator(migrate.Config{})
	if err := m.Hash(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		db, _ := targetDB(b, p.server)
		b.StartTimer()
		res, err := m.Apply(context.Background(), db, migrate.ApplyOptions{})
		if err != nil || len(res.Files) != 50 {
			b.Fatalf("apply: %v", err)
		}
	}
}
