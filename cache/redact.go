package cache

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/agentical/datalayer/internal/redact"
)

// redactURL hides the password of a URL for messages.
func redactURL(s string) string { return redact.DSN(s) }

// redactErr removes a URL's password from an error message.
func redactErr(err error, raw string) error { return redact.Error(err, raw) }

// redactedPassword stands for a password that is set.
const redactedPassword = "xxxxx"

// configView is what a Config shows of itself: connection settings and
// the main knobs, the password masked.
type configView struct {
	Addrs              []string `json:"addrs"`
	Username           string   `json:"username,omitempty"`
	Password           string   `json:"password,omitempty"`
	TLS                bool     `json:"tls"`
	DB                 int      `json:"db"`
	ClientName         string   `json:"client_name,omitempty"`
	PoolSize           int      `json:"pool_size"`
	ClientSupplied     bool     `json:"client_supplied"`
	DisableClientCache bool     `json:"disable_client_cache"`
	ClientTTL          string   `json:"client_ttl"`
	Strict             bool     `json:"strict"`
	Prefix             string   `json:"prefix"`
	SchemaVersion      string   `json:"schema_version"`
	DefaultTTL         string   `json:"default_ttl"`
	RedisTimeout       string   `json:"redis_timeout"`
}

func (cfg Config) view() configView {
	v := configView{
		Addrs: cfg.Addrs, Username: cfg.Username, TLS: cfg.TLS != nil, DB: cfg.DB,
		ClientName: cfg.ClientName, PoolSize: cfg.PoolSize, ClientSupplied: cfg.Client != nil,
		DisableClientCache: cfg.DisableClientCache, ClientTTL: cfg.ClientTTL.String(), Strict: cfg.Strict,
		Prefix: cfg.Prefix, SchemaVersion: cfg.SchemaVersion, DefaultTTL: cfg.DefaultTTL.String(),
		RedisTimeout: cfg.RedisTimeout.String(),
	}
	if cfg.Password != "" {
		v.Password = redactedPassword
	}
	return v
}

// String describes cfg with its password masked. GoString, LogValue and
// MarshalJSON mask it the same way, so fmt (%v, %+v, %#v), log/slog and
// encoding/json never print it.
func (cfg Config) String() string {
	v := cfg.view()
	return fmt.Sprintf("cache.Config{Addrs: %q, Username: %q, Password: %q, TLS: %t, DB: %d, PoolSize: %d, ClientSupplied: %t, DisableClientCache: %t, ClientTTL: %s, Strict: %t, Prefix: %q, SchemaVersion: %q, DefaultTTL: %s, RedisTimeout: %s}",
		v.Addrs, v.Username, v.Password, v.TLS, v.DB, v.PoolSize, v.ClientSupplied, v.DisableClientCache, v.ClientTTL, v.Strict, v.Prefix, v.SchemaVersion, v.DefaultTTL, v.RedisTimeout)
}

// GoString is String.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue is String, for slog.
func (cfg Config) LogValue() slog.Value { return slog.StringValue(cfg.String()) }

// MarshalJSON writes the masked view (function fields are left out).
func (cfg Config) MarshalJSON() ([]byte, error) { return json.Marshal(cfg.view()) }

// String describes the cache without its configuration's password: fmt
// would otherwise print the unexported Config field as it is. GoString and
// LogValue say the same.
func (c *Cache) String() string {
	if c == nil {
		return "cache.Cache(nil)"
	}
	return fmt.Sprintf("cache.Cache{Addrs: %q, Prefix: %q, SchemaVersion: %q}", c.cfg.Addrs, c.prefix, c.schema)
}

// GoString is String.
func (c *Cache) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c *Cache) LogValue() slog.Value { return slog.StringValue(c.String()) }
