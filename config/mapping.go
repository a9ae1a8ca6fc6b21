package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/surreal"
	"github.com/agentical/datalayer/tlsconfig"
)

// Cache maps the Redis section to a cache.Config for cache.New. The URL was
// validated by Load; an error here means the Config was built by hand.
func (c Config) Cache(schemaVersion string) (cache.Config, error) {
	r := c.Redis
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return cache.Config{}, &Error{Var: "REDIS_URL", Reason: "must be a redis:// or rediss:// URL with a host"}
	}
	cc := cache.Config{
		Addrs:              []string{u.Host},
		PoolSize:           r.MaxConnections,
		DefaultTTL:         r.DefaultTTL,
		DisableClientCache: !r.ClientCache,
		SchemaVersion:      schemaVersion,
	}
	if u.User != nil {
		cc.Username = u.User.Username()
		cc.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return cache.Config{}, &Error{Var: "REDIS_URL", Reason: fmt.Sprintf("database path must be /N, got %q", "/"+p)}
		}
		cc.DB = n
	}
	if u.Scheme == "rediss" {
		files := tlsconfig.Files{CAFile: r.TLSCAFile, CertFile: r.TLSCertFile, KeyFile: r.TLSKeyFile, ServerName: r.TLSServerName}
		cc.TLS, err = files.Client(u.Hostname())
		if err != nil {
			return cache.Config{}, &Error{Var: "REDIS_TLS_CA_FILE", Reason: err.Error()}
		}
	}
	cc.PasswordFile = r.PasswordFile
	if r.CacheSecretFile != "" {
		secret, err := readCacheSecret(r.CacheSecretFile)
		if err != nil {
			return cache.Config{}, &Error{Var: "REDIS_CACHE_SECRET_FILE", Reason: err.Error()}
		}
		cc.Secret = cache.Secret(secret)
	}
	return cc, nil
}

// ResiliencePolicies maps CIRCUIT_BREAKER_* and MAX_RETRY_ATTEMPTS to a
// resilience.Config. With the breaker disabled its threshold is set beyond
// reach, so it never opens.
func (c Config) ResiliencePolicies() resilience.Config {
	rc := resilience.Config{RetryAttempts: c.Resilience.MaxRetryAttempts + 1}
	if c.Resilience.BreakerEnabled {
		rc.BreakerThreshold = uint(c.Resilience.BreakerThreshold)
	} else {
		rc.BreakerThreshold = math.MaxUint32
	}
	return rc
}

// SurrealStore maps the SURREALDB_* variables to a surreal.Config (root
// user sign-in). Check Surreal.Enabled first.
func (c Config) SurrealStore() surreal.Config {
	s := c.Surreal
	return surreal.Config{
		URL: s.URL, Namespace: s.Namespace, Database: s.Database,
		Username: s.Username, Password: s.Password, PasswordFile: s.PasswordFile,
		TLS: tlsconfig.Files{CAFile: s.TLSCAFile, CertFile: s.TLSCertFile, KeyFile: s.TLSKeyFile, ServerName: s.TLSServerName},
	}
}
