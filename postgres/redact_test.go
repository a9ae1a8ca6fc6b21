package postgres_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/agentical/datalayer/postgres"
)

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dsn  string
		keep []string // must survive redaction
	}{
		{"postgres://app:hunter2@db.example.com:5432/agentical?sslmode=require", []string{"app:xxxxx@db.example.com:5432/agentical", "sslmode=require"}},
		{"postgresql://app:hunter2@h/db", []string{"app:xxxxx@h/db"}},
		{"postgres://app@h/db?password=hunter2&sslmode=disable", []string{"app@h/db", "password=xxxxx", "sslmode=disable"}},
		{"postgres://app:p%40ss%3Ahunter2@h/db", []string{"app:xxxxx@h/db"}},
		{"postgres://app:hunter2@h1:5432,h2:5433/db", []string{"h2:5433/db"}},
		{"postgres://app:hunter2@h:badport/db", []string{"postgres://", "h:badport/db"}},
		{"postgres://app:hunter2@[::1/db", []string{"postgres://"}},
		{"host=h user=app password=hunter2 dbname=x", []string{"host=h user=app password=xxxxx dbname=x"}},
		{"host=h password='hunter2 with spaces' dbname=x", []string{"host=h", "dbname=x"}},
		{`host=h password='it\'s hunter2' dbname=x`, []string{"host=h", "dbname=x"}},
		{"host=h password = hunter2 dbname=x", []string{"host=h", "dbname=x"}},
		{"host=h PASSWORD=hunter2", []string{"host=h"}},
		{"user=app password=hunter2", []string{"user=app password=xxxxx"}},
	} {
		got := postgres.RedactDSN(c.dsn)
		if strings.Contains(got, "hunter2") || strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") {
			t.Errorf("RedactDSN(%q) = %q reveals the password", c.dsn, got)
		}
		for _, k := range c.keep {
			if !strings.Contains(got, k) {
				t.Errorf("RedactDSN(%q) = %q lost %q", c.dsn, got, k)
			}
		}
	}
	for _, dsn := range []string{"", "postgres://app@h/db", "host=h user=app dbname=x"} {
		eq(t, "RedactDSN without password", postgres.RedactDSN(dsn), dsn)
	}
}

// Every way a Config is commonly printed or logged hides the password.
func TestConfigNeverRevealsPassword(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"postgres://app:hunter2@db.example.com/agentical",
		"host=db.example.com user=app password=hunter2 dbname=agentical",
	} {
		cfg := postgres.Config{URL: url, ApplicationName: "svc"}
		s := cfg.String()
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "xxxxx") || !strings.Contains(s, "db.example.com") {
			t.Errorf("String() = %s", s)
		}
		for _, verb := range []string{"%v", "%+v", "%s", "%#v"} {
			if out := fmt.Sprintf(verb, cfg); strings.Contains(out, "hunter2") {
				t.Errorf("fmt %s reveals the password: %s", verb, out)
			}
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "db", cfg)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "db", cfg)
		if strings.Contains(buf.String(), "hunter2") {
			t.Errorf("slog output reveals the password:\n%s", buf.String())
		}
	}
}

func eq[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
