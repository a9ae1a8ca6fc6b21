package codegen_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestToolsModuleAdoption does what the README tells a new project to do,
// in a fresh module in a temporary directory: sqlc and datalayer-gen come
// from a separate tools module (tools/go.mod, `go tool -modfile=...`), so
// `go generate` works without touching the project's go.mod, and the
// project's own module never requires the generator's cgo parser
// (pg_query_go) or sqlc. The project then builds with the generated
// repository. This repository is swapped in with a replace directive.
func TestToolsModuleAdoption(t *testing.T) {
	if !*corpus {
		t.Skip("run with -corpus (make corpus): builds sqlc and the generator in a new module")
	}
	repoRoot, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	app := t.TempDir()
	sqlcVersion := toolVersion(t, filepath.Join(repoRoot, "tools", "go.mod"), "github.com/sqlc-dev/sqlc ")
	files := map[string]string{
		"go.mod": fmt.Sprintf(`module example.com/app

go 1.26.0

require github.com/agentical/datalayer v0.0.0

replace github.com/agentical/datalayer => %s
`, repoRoot),
		"tools/go.mod": fmt.Sprintf(`module example.com/app/tools

go 1.26.0

require github.com/agentical/datalayer v0.0.0

replace github.com/agentical/datalayer => %s
`, repoRoot),
		"sqlc.yaml": `version: "2"
sql:
  - engine: postgresql
    schema: schema.sql
    queries: query.sql
    gen:
      go:
        package: store
        out: store
        sql_package: pgx/v5
`,
		"schema.sql": "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL);\n",
		"query.sql": `-- name: GetNote :one
-- @cache ttl=5m
SELECT * FROM notes WHERE id = $1;

-- name: AddNote :one
INSERT INTO notes (body) VALUES ($1) RETURNING *;
`,
		// Built from parts: a line of this file starting with the directive
		// would be run by this repository's own `go generate ./...`.
		"gen.go": "package app\n\n" +
			"//" + "go:generate go tool -modfile=tools/go.mod sqlc generate\n" +
			"//" + "go:generate go tool -modfile=tools/go.mod datalayer-gen -f sqlc.yaml\n",
		"main.go": `package app

import "example.com/app/store"

// Use makes the project import its generated repository.
var Use = store.NewRepository
`,
	}
	for name, content := range files {
		p := filepath.Join(app, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Checksums the project would get from sum.golang.org are this
	// repository's (and its tools module's), so the test needs no network;
	// modules come from the local module cache only.
	rootSum, _ := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	toolsSum, _ := os.ReadFile(filepath.Join(repoRoot, "tools", "go.sum"))
	if err := os.WriteFile(filepath.Join(app, "go.sum"), rootSum, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "tools", "go.sum"), append(append(rootSum, '\n'), toolsSum...), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off"}
	// What the README tells a project to run in its tools directory.
	run(t, filepath.Join(app, "tools"), env, "go", "get", "-tool", "github.com/sqlc-dev/sqlc/cmd/sqlc@"+sqlcVersion)
	run(t, filepath.Join(app, "tools"), env, "go", "get", "-tool", "github.com/agentical/datalayer/cmd/datalayer-gen@v0.0.0")
	run(t, app, env, "go", "generate", "./...")
	if _, err := os.Stat(filepath.Join(app, "store", "repo_repository.gen.go")); err != nil {
		t.Fatalf("go generate wrote no repository: %v", err)
	}
	run(t, app, env, "go", "mod", "tidy")
	run(t, app, env, "go", "build", "./...")
	run(t, app, env, "go", "vet", "./...")

	gomod, _ := os.ReadFile(filepath.Join(app, "go.mod"))
	gosum, _ := os.ReadFile(filepath.Join(app, "go.sum"))
	for _, dep := range []string{"github.com/pganalyze/pg_query_go", "github.com/sqlc-dev/sqlc"} {
		if strings.Contains(string(gomod), dep) {
			t.Errorf("the project's go.mod requires %s:\n%s", dep, gomod)
		}
		for _, l := range strings.Split(string(gosum), "\n") {
			if strings.HasPrefix(l, dep) && !strings.Contains(l, "/go.mod ") {
				t.Errorf("the project's go.sum holds %s's source: %s", dep, l)
			}
		}
	}
}

// toolVersion reads the version of module prefix from a go.mod.
func toolVersion(t *testing.T, gomod, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, prefix) {
			return strings.Fields(l)[1]
		}
	}
	t.Fatalf("%s does not require %s", gomod, prefix)
	return ""
}
