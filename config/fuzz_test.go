package config_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/agentical/datalayer/config"
)

// FuzzFromMap feeds arbitrary values to the config loader (issue 11). It
// must never panic; every problem must name a variable the loader reads; and
// neither an error nor a printed, logged or marshalled Config may contain
// the passwords planted in the URLs and SURREALDB_PASSWORD.
func FuzzFromMap(f *testing.F) {
	f.Add("production", "postgres://u:%s@db:5432/app?sslmode=require", "rediss://app:%s@cache:6380/1", "wss://sdb:8000", "25", "30", "5m")
	f.Add("development", "postgres://u:%s@[::1", "redis://:%s@h/x", "ws://[::1]:8000/rpc", "0", "-1", "1 hour")
	f.Add("prod", "%s", "redis://%s", "ftp://u:%s@h", "lots", "9999999999999999999999", "")
	f.Add("", "postgresql://user:%s@host/db", "redis://user:%s@host:6379/0", "", "1", "10", "500")
	f.Add("production", "host=db password=%s", "unix://u:%s@/tmp/sock", "https://u:%s@h", "1e3", "0x10", "1h-")
	vars := map[string]bool{}
	for _, v := range allVariables() {
		vars[v] = true
	}
	const secret = "Pw7secretZ"
	f.Fuzz(func(t *testing.T, profile, dbURL, redisURL, surrealURL, poolSize, retries, ttl string) {
		for _, s := range []string{profile, poolSize, retries, ttl} {
			if strings.Contains(s, secret) {
				return // the fuzzer planted the secret where it is not one
			}
		}
		// %s becomes the secret only where it is a password (":%s@" in a
		// URL, "password=%s" in a key=value string); elsewhere it is a plain
		// word, which may legitimately be quoted back.
		fill := func(s string) string {
			if strings.Contains(s, ":%s@") || strings.Contains(s, "password=%s") {
				return strings.Replace(s, "%s", secret, 1)
			}
			return strings.ReplaceAll(s, "%s", "word")
		}
		for _, s := range []string{dbURL, redisURL, surrealURL} {
			if strings.Contains(s, secret) {
				return
			}
		}
		env := map[string]string{
			"APP_ENV": profile, "DATABASE_URL": fill(dbURL), "REDIS_URL": fill(redisURL), "SURREALDB_URL": fill(surrealURL),
			"SURREALDB_USERNAME": "svc", "SURREALDB_PASSWORD": secret,
			"DB_POOL_SIZE": poolSize, "MAX_RETRY_ATTEMPTS": retries, "REDIS_DEFAULT_TTL": ttl,
		}
		cfg, err := config.FromMap(env)
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the password: %v", err)
			}
			errs := config.Errors(err)
			if len(errs) == 0 {
				t.Fatalf("error without a *config.Error: %v", err)
			}
			for _, e := range errs {
				if !vars[e.Var] {
					t.Fatalf("error names unknown variable %q: %v", e.Var, e)
				}
			}
			return
		}
		j, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var logged strings.Builder
		slog.New(slog.NewTextHandler(&logged, nil)).Info("cfg", "cfg", cfg)
		for label, out := range map[string]string{
			"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%#v": fmt.Sprintf("%#v", cfg),
			"json": string(j), "slog": logged.String(),
		} {
			if strings.Contains(out, secret) {
				t.Fatalf("%s of a loaded Config leaks the password: %s", label, out)
			}
		}
	})
}
