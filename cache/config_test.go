package cache_test

import (
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
)

func TestParseURL(t *testing.T) {
	cfg, err := cache.ParseURL("rediss://app:s3cret@redis.example:6380/2")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Addrs) != 1 || cfg.Addrs[0] != "redis.example:6380" || cfg.Username != "app" ||
		cfg.Password != "s3cret" || cfg.DB != 2 || cfg.TLS == nil {
		t.Fatalf("%+v", cfg)
	}
	_, err = cache.ParseURL("redis://app:s3cret@host:notaport/x")
	if err == nil {
		t.Fatal("bad URL accepted")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("password in error: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []cache.Config{{Prefix: "a{b"}, {SchemaVersion: "x}"}, {ClientTTL: -1}, {UncertainRecheck: []time.Duration{time.Second, 0}}} {
		if _, err := cache.New(t.Context(), cfg); err == nil {
			t.Fatalf("config %+v accepted", cfg)
		}
	}
}
