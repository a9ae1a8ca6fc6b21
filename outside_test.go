package datalayer_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeExample returns the Go program under the service-example marker of
// README.md.
func readmeExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- service-example:[^>]*-->\\s*```go\\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no service-example Go block")
	}
	return string(m[1])
}

// otherProject uses the generic packages as another sqlc project would:
// stores.Open with its own options, migrate, health and config.
const otherProject = `package main

import (
	"context"
	"io/fs"
	"net/http"

	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/health"
	"github.com/agentical/datalayer/migrate"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/stores"
)

// openOther opens the stores for another schema's generated package.
func openOther(ctx context.Context, cfg config.Config, migrations fs.FS, methods []*repo.Method) (http.Handler, error) {
	st, err := stores.Open(ctx, cfg, stores.Options{SchemaVersion: "other", Methods: methods, Migrations: migrations})
	if err != nil {
		return nil, err
	}
	if _, err := migrate.AutoPool(ctx, st.Pool(), migrations, migrate.Config{}); err != nil {
		return nil, err
	}
	var _ repo.DB = st.DB()
	var _ *health.Checker = st.Health()
	return st.Health().Ready(), nil
}

var _ = openOther
`

// A module outside this repository imports config, migrate, stores,
// health, the root Open and db, and builds: the README's example, verbatim.
func TestReadmeExampleBuildsInAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module example.com/agentsvc\n\ngo 1.26\n\n" +
			"require github.com/agentical/datalayer v0.0.0-00010101000000-000000000000\n\n" +
			"replace github.com/agentical/datalayer => " + root + "\n",
		"go.sum":   string(sum), // the same dependency versions: no checksum lookups
		"main.go":  readmeExample(t),
		"other.go": otherProject,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		// Only the local module cache: everything the module needs is a
		// dependency of this one, already downloaded to build this test.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s: %v\n%s\n--- main.go ---\n%s", strings.Join(args, " "), err, out.String(), files["main.go"])
		}
	}
	run("build", "-o", filepath.Join(dir, "agentsvc"), ".")
	if _, err := os.Stat(filepath.Join(dir, "agentsvc")); err != nil {
		t.Fatalf("no binary: %v", err)
	}
}
