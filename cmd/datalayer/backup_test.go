package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/internal/testinfra"
)

// TestBackupCommands drives `datalayer backup` end to end with --json.
func TestBackupCommands(t *testing.T) {
	ctx := context.Background()
	dsn := testinfra.Postgres(t)
	env := map[string]string{
		"DATABASE_URL":      dsn,
		"BACKUP_URL":        "file://" + t.TempDir(),
		"BACKUP_KEEP_DAILY": "1",
	}
	cli := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, append([]string{"backup"}, args...), &out, &errb, func(k string) string { return env[k] }); code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, out.String(), errb.String())
		}
		return out.String()
	}
	decode := func(s string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(s), v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, s)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "INSERT INTO users (email, display_name) SELECT 'c' || i || '@x', 'C' FROM generate_series(1, 12) i"); err != nil {
		t.Fatal(err)
	}

	var first, second backup.Manifest
	decode(cli(0, "create", "--json"), &first)
	if first.Kind != backup.KindLogical || len(first.Artifacts) != 1 || first.MigrationVersion == "" {
		t.Fatalf("create: %+v", first)
	}
	decode(cli(0, "create", "--json"), &second)
	var list []backup.Manifest
	decode(cli(0, "list", "--json"), &list)
	if len(list) != 2 || list[0].ID != first.ID {
		t.Fatalf("list: %+v", list)
	}
	if out := cli(0, "list"); !strings.Contains(out, first.ID) || !strings.Contains(out, "KIND") {
		t.Fatalf("list text:\n%s", out)
	}
	var shown backup.Manifest
	decode(cli(0, "show", first.ID), &shown)
	if shown.ID != first.ID || shown.Artifacts[0].SHA256 != first.Artifacts[0].SHA256 {
		t.Fatalf("show: %+v", shown)
	}
	var rep backup.VerifyReport
	decode(cli(0, "verify", first.ID, "--restore", "--json"), &rep)
	if !rep.OK || !rep.Restored || len(rep.Tables) == 0 {
		t.Fatalf("verify: %+v", rep)
	}

	if _, err := conn.Exec(ctx, "DELETE FROM users"); err != nil {
		t.Fatal(err)
	}
	var res backup.RestoreResult
	decode(cli(0, "restore", first.ID, "--json"), &res)
	conn2, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	var n int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 12 {
		t.Fatalf("after restore: %d users, %v", n, err)
	}

	var pr backup.PruneResult
	decode(cli(0, "prune", "--dry-run", "--json"), &pr)
	if !pr.DryRun || len(pr.Deleted) != 1 || pr.Deleted[0] != first.ID {
		t.Fatalf("prune --dry-run: %+v", pr)
	}
	decode(cli(0, "prune", "--json"), &pr)
	decode(cli(0, "list", "--json"), &list)
	if len(list) != 1 || list[0].ID != second.ID {
		t.Fatalf("after prune: %+v", list)
	}

	cli(1, "show", "nope")
	cli(1, "restore", "--to-time", "yesterday", "--pgdata", t.TempDir())
	if out := cli(0, "auto", "--json"); !strings.Contains(out, `"skipped": "recent"`) {
		t.Fatalf("auto right after a backup: %s", out)
	}
	cli(2, "frobnicate")
	env["BACKUP_COMPRESSION"] = "lz4"
	if out := cli(1, "list"); out != "" {
		t.Fatalf("bad config printed %q", out)
	}
}
