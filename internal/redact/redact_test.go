package redact_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/redact"
)

func TestDSN(t *testing.T) {
	const pw = "s3cr3t-Pw"
	for _, dsn := range []string{
		"postgres://app:" + pw + "@db:5432/app?sslmode=disable",
		"postgresql://app@db/app?password=" + pw,
		"redis://:" + pw + "@cache:6379/0",
		"rediss://user:" + pw + "@cache:6380/1",
		"ws://root:" + pw + "@surreal:8000",
		"host=db user=app password=" + pw + " dbname=app",
		"host=db password='" + pw + "' dbname=app",
		"postgres://app:" + pw + "@db:5432/app%zz", // does not parse
		"postgres://app:" + pw + "@[::1:5432/app",  // does not parse
	} {
		got := redact.DSN(dsn)
		if strings.Contains(got, pw) {
			t.Errorf("DSN(%q) = %q still shows the password", dsn, got)
		}
		if redact.Password(dsn) != pw {
			t.Errorf("Password(%q) = %q", dsn, redact.Password(dsn))
		}
		if msg := redact.Text("failed: "+dsn, dsn); strings.Contains(msg, pw) {
			t.Errorf("Text kept the password: %q", msg)
		}
	}
	if got := redact.DSN("postgres://app@db/app"); got != "postgres://app@db/app" {
		t.Errorf("DSN without password changed: %q", got)
	}
}

func TestError(t *testing.T) {
	base := errors.New("dial postgres://u:hunter22@h/x: refused")
	err := redact.Error(fmt.Errorf("wrap: %w", base), "postgres://u:hunter22@h/x")
	if strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("Error kept the password: %v", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("Error broke the chain")
	}
	plain := errors.New("no secret here")
	if redact.Error(plain, "postgres://u:hunter22@h/x") != plain {
		t.Fatal("Error wrapped an error without the password")
	}
}
