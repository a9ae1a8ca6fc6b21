package surreal

import (
	"encoding/json"
	"log/slog"
)

// configView is what a Config shows of itself in JSON: no password, no
// token, the URL's password masked.
type configView struct {
	URL       string `json:"url"`
	Namespace string `json:"namespace"`
	Database  string `json:"database"`
	Username  string `json:"username,omitempty"`
	Password  string `json:"password,omitempty"`
	Token     string `json:"token,omitempty"`
	AuthLevel uint8  `json:"auth_level"`
	PoolSize  int    `json:"pool_size"`
	Cached    bool   `json:"cached"`
}

// GoString is String, so %#v cannot print the password or token.
func (c Config) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON writes the configuration with the password and token masked.
func (c Config) MarshalJSON() ([]byte, error) {
	v := configView{
		URL: Redact(c.URL), Namespace: c.Namespace, Database: c.Database, Username: c.Username,
		AuthLevel: uint8(c.AuthLevel), PoolSize: c.PoolSize, Cached: c.Cache != nil,
	}
	if c.Password != "" {
		v.Password = "xxxxx"
	}
	if c.Token != "" {
		v.Token = "xxxxx"
	}
	return json.Marshal(v)
}

// String describes the store by its configuration's String (no password,
// no token): fmt would otherwise print the unexported Config field as it
// is. GoString and LogValue say the same.
func (s *Store) String() string {
	if s == nil {
		return "surreal.Store(nil)"
	}
	return "surreal.Store{" + s.cfg.String() + "}"
}

// GoString is String.
func (s *Store) GoString() string { return s.String() }

// LogValue is String, for slog.
func (s *Store) LogValue() slog.Value { return slog.StringValue(s.String()) }
