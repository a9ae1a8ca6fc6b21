package config_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/config"
)

func TestMappings(t *testing.T) {
	cfg, err := config.FromMap(map[string]string{
		"APP_ENV":                   "development",
		"REDIS_URL":                 "rediss://cacheuser:r3d1s-pw@cache.internal:6380/2",
		"REDIS_MAX_CONNECTIONS":     "42",
		"REDIS_DEFAULT_TTL":         "90s",
		"REDIS_CLIENT_CACHE":        "false",
		"CIRCUIT_BREAKER_ENABLED":   "true",
		"CIRCUIT_BREAKER_THRESHOLD": "7",
		"MAX_RETRY_ATTEMPTS":        "2",
		"SURREALDB_URL":             "ws://surreal:8000",
		"SURREALDB_USERNAME":        "root",
		"SURREALDB_PASSWORD":        "s0rr34l-pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cfg.Cache("v1")
	if err != nil {
		t.Fatal(err)
	}
	if cc.Addrs[0] != "cache.internal:6380" || cc.Username != "cacheuser" || cc.Password != "r3d1s-pw" || cc.DB != 2 ||
		cc.TLS == nil || cc.TLS.ServerName != "cache.internal" || cc.PoolSize != 42 || cc.DefaultTTL != 90*time.Second ||
		!cc.DisableClientCache || cc.SchemaVersion != "v1" {
		t.Errorf("Cache() = %+v", cc)
	}
	cfg.Database.PoolSize, cfg.Database.MaxOverflow, cfg.Database.MinConns = 7, 3, 2
	if pc := cfg.DB(); pc.MaxConns != 10 || pc.MinConns != 2 {
		t.Errorf("DB() MaxConns, MinConns = %d, %d; want 10 (DB_POOL_SIZE + DB_MAX_OVERFLOW), 2", pc.MaxConns, pc.MinConns)
	}
	rc := cfg.ResiliencePolicies()
	if rc.BreakerThreshold != 7 || rc.RetryAttempts != 3 {
		t.Errorf("ResiliencePolicies() = threshold %d, attempts %d; want 7 and 3", rc.BreakerThreshold, rc.RetryAttempts)
	}
	sc := cfg.SurrealStore()
	if sc.URL != "ws://surreal:8000" || sc.Username != "root" || sc.Password != "s0rr34l-pw" || sc.Namespace == "" || sc.Database == "" {
		t.Errorf("SurrealStore() = %v", sc)
	}

	cfg.Resilience.BreakerEnabled = false
	cfg.Resilience.MaxRetryAttempts = 0
	rc = cfg.ResiliencePolicies()
	if rc.BreakerThreshold < 1<<31 || rc.RetryAttempts != 1 {
		t.Errorf("disabled breaker/no retries = threshold %d, attempts %d", rc.BreakerThreshold, rc.RetryAttempts)
	}

	cfg.Redis.URL = "redis://host:6379/notanumber"
	_, err = cfg.Cache("v1")
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "REDIS_URL" || strings.Contains(err.Error(), "r3d1s-pw") {
		t.Errorf("bad database path: %v", err)
	}
}

// REDIS_CACHE_SECRET_FILE reaches cache.Config.Secret (without its trailing
// newline) and is printed nowhere, by the config or by the cache's Config.
func TestCacheSecretFile(t *testing.T) {
	const secret = "k3y-0f-the-cache-hmac-7f3a9"
	path := filepath.Join(t.TempDir(), "cache.key")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.FromMap(map[string]string{"REDIS_CACHE_SECRET_FILE": path})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cfg.Cache("v1")
	if err != nil {
		t.Fatal(err)
	}
	if string(cc.Secret) != secret {
		t.Errorf("cache.Config.Secret = %d bytes, want the file's content without the newline", len(cc.Secret))
	}
	for _, form := range []string{"%v", "%+v", "%#v", "%s"} {
		for name, v := range map[string]any{"config.Config": cfg, "cache.Config": cc} {
			if out := fmt.Sprintf(form, v); strings.Contains(out, secret) {
				t.Errorf("%s printed with %s shows the cache secret", name, form)
			}
		}
	}
	if b, err := json.Marshal(cc); err != nil || strings.Contains(string(b), secret) {
		t.Errorf("cache.Config as JSON shows the cache secret (or fails: %v)", err)
	}
}
