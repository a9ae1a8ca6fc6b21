package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRunsCommandAgainstLocalServers starts local PostgreSQL and Redis (no
// URLs, no Docker), runs a command that sees their URLs and AUTO_MIGRATE,
// passes its exit status on, and stops the servers afterwards.
func TestRunsCommandAgainstLocalServers(t *testing.T) {
	var out, errOut bytes.Buffer
	code, err := run([]string{"-docker=false", "--", "sh", "-c", `echo "db=$DATABASE_URL redis=$REDIS_URL auto=$AUTO_MIGRATE"; exit 3`},
		[]string{"PATH=/usr/bin:/bin"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s%s", err, out.String(), errOut.String())
	}
	if code != 3 {
		t.Errorf("exit code %d, want the command's 3", code)
	}
	m := regexp.MustCompile(`db=(postgres://\S+) redis=(redis://\S+) auto=true`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("command output lacks the URLs:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "devstack: postgres  local") || !strings.Contains(out.String(), "devstack: redis     local") {
		t.Errorf("output does not say the servers are local:\n%s", out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, m[1]); err == nil {
		conn.Close(ctx)
		t.Errorf("PostgreSQL still answers at %s after the command exited", m[1])
	}
}

// TestURLsPassedThrough: with DATABASE_URL and REDIS_URL set nothing is
// started and an explicit AUTO_MIGRATE is kept.
func TestURLsPassedThrough(t *testing.T) {
	var out bytes.Buffer
	code, err := run([]string{"--", "sh", "-c", `echo "$DATABASE_URL|$REDIS_URL|$AUTO_MIGRATE"`},
		[]string{"PATH=/usr/bin:/bin", "DATABASE_URL=postgres://u@127.0.0.1:1/x", "REDIS_URL=redis://127.0.0.1:1/0", "AUTO_MIGRATE=false"}, &out, &out)
	if err != nil || code != 0 {
		t.Fatalf("run: %d %v\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "postgres://u@127.0.0.1:1/x|redis://127.0.0.1:1/0|false") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestNoCommand(t *testing.T) {
	var out bytes.Buffer
	if code, err := run(nil, nil, &out, &out); code != 2 || err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no command: %d %v", code, err)
	}
}
