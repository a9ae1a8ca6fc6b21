package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/migrate"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestMigrateCommands drives the CLI end to end on a temporary project.
func TestMigrateCommands(t *testing.T) {
	ctx := context.Background()
	server := testinfra.PostgresServer(t)
	root := t.TempDir()
	schemaDir, dir := filepath.Join(root, "schema"), filepath.Join(root, "migrations")
	os.MkdirAll(schemaDir, 0o755)
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(schemaDir, "01.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);\n")

	// The target database.
	admin, err := migrate.Open(server)
	if err != nil {
		t.Fatal(err)
	}
	// A name of its own: the server may be shared with other test binaries
	// and runs (-count). The drop runs before the admin connection closes.
	name := fmt.Sprintf("cli_target_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close()
	})
	u, _ := url.Parse(server)
	u.Path = "/" + name
	target := u.String()

	env := map[string]string{"DATALAYER_DEV_URL": server, "DATABASE_URL": target}
	cli := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args, "--config", filepath.Join(root, "atlas.hcl"), "--dir", dir, "--schema", schemaDir)
		if code := run(ctx, args, &out, &errb, func(k string) string { return env[k] }); code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}

	out, _ := cli(0, "migrate", "diff", "init")
	if !strings.Contains(out, "_init.sql") {
		t.Fatalf("diff: %s", out)
	}
	out, _ = cli(0, "migrate", "diff", "again")
	if !strings.Contains(out, "no changes") {
		t.Fatalf("second diff: %s", out)
	}
	cli(0, "migrate", "diff", "--check")
	write(filepath.Join(schemaDir, "01.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric);\n")
	_, stderr := cli(1, "migrate", "diff", "--check")
	if !strings.Contains(stderr, `ALTER TABLE "items" ADD COLUMN "price" numeric NULL;`) {
		t.Fatalf("check output:\n%s", stderr)
	}
	cli(0, "migrate", "diff", "price")

	out, _ = cli(0, "migrate", "apply", "--dry-run")
	if !strings.Contains(out, "-- pending:") || !strings.Contains(out, "CREATE TABLE") {
		t.Fatalf("dry run: %s", out)
	}
	_, stderr = cli(1, "migrate", "status")
	out, _ = cli(0, "migrate", "apply")
	if strings.Count(out, "applied ") != 2 {
		t.Fatalf("apply: %s", out)
	}
	out, _ = cli(0, "migrate", "status", "--json")
	var st migrate.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Counts["applied"] != 2 {
		t.Fatalf("status json: %v\n%s", err, out)
	}

	// Lint: adding a NOT NULL column without default to an existing table fails.
	write(filepath.Join(schemaDir, "01.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric, sku text NOT NULL);\n")
	cli(0, "migrate", "diff", "sku")
	out, _ = cli(1, "migrate", "lint", "--latest", "1", "--format", "markdown")
	if !strings.HasPrefix(out, migrate.MarkdownMarker) || !strings.Contains(out, "DL108") {
		t.Fatalf("lint markdown:\n%s", out)
	}

	// hash repairs a hand-edited atlas.sum.
	write(filepath.Join(dir, "atlas.sum"), "h1:broken\n")
	cli(1, "migrate", "status")
	cli(0, "migrate", "hash")
	cli(1, "migrate", "status") // sku pending: not OK, but atlas.sum is fine again
	out, _ = cli(0, "migrate", "apply")
	if !strings.Contains(out, "_sku.sql") {
		t.Fatalf("apply after hash: %s", out)
	}
	out, _ = cli(0, "migrate", "status")
	if !strings.Contains(out, "Current version: ") || strings.Count(out, "  applied ") != 3 {
		t.Fatalf("status text:\n%s", out)
	}
	// A rename is never a silent drop + add: refused until confirmed.
	write(filepath.Join(schemaDir, "01.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, price numeric, sku text NOT NULL);\n")
	_, stderr = cli(1, "migrate", "diff", "rename")
	if !strings.Contains(stderr, "possible rename not confirmed: items.name=title") || !strings.Contains(stderr, "--rename items.name=title") {
		t.Fatalf("unconfirmed rename:\n%s", stderr)
	}
	out, _ = cli(0, "migrate", "diff", "rename", "--rename", "items.name=title")
	files, _ := filepath.Glob(filepath.Join(dir, "*_rename.sql"))
	if len(files) != 1 {
		t.Fatalf("diff --rename wrote %v\n%s", files, out)
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), `ALTER TABLE "items" RENAME COLUMN "name" TO "title";`) || strings.Contains(string(b), "DROP") {
		t.Fatalf("rename file:\n%s", b)
	}
	cli(2, "migrate", "bogus")
}
