package testinfra_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/internal/testinfra"
)

// BenchmarkNewDatabase compares what a test pays for a fresh database: a
// clone of the template (what Postgres does) against creating an empty
// database and applying the schema files, each followed by its drop. Run
// with -bench NewDatabase; the server is the harness's (local by default).
func BenchmarkNewDatabase(b *testing.B) {
	ctx := context.Background()
	server := testinfra.PostgresServer(b)
	h := testinfra.New(testinfra.Config{DatabaseURL: server})
	b.Cleanup(func() { h.Close(ctx) })
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { admin.Close(ctx) })

	dirs := map[string]string{"fixture": "testdata/schema_a"}
	if root, err := testinfra.ModuleRoot(); err == nil {
		if m, _ := filepath.Glob(filepath.Join(root, "schema", "*.sql")); len(m) > 0 {
			dirs["project"] = filepath.Join(root, "schema")
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(dirs)) {
		dir := dirs[kind]
		b.Run(kind+"/clone", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, drop, err := h.NewDatabase(ctx, "bench", testinfra.WithSchemaDir(dir))
				if err != nil {
					b.Fatal(err)
				}
				if err := drop(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/create_and_apply", func(b *testing.B) {
			paths, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
			slices.Sort(paths)
			var files []string
			for _, p := range paths {
				sql, err := os.ReadFile(p)
				if err != nil {
					b.Fatal(err)
				}
				files = append(files, string(sql))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := admin.Exec(ctx, "CREATE DATABASE bench_apply TEMPLATE template0"); err != nil {
					b.Fatal(err)
				}
				cfg, err := pgx.ParseConfig(server)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Database = "bench_apply"
				c, err := pgx.ConnectConfig(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for _, sql := range files {
					if _, err := c.Exec(ctx, sql); err != nil {
						b.Fatal(err)
					}
				}
				c.Close(ctx)
				if _, err := admin.Exec(ctx, "DROP DATABASE bench_apply WITH (FORCE)"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
