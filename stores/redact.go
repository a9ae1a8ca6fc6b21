package stores

import (
	"fmt"
	"log/slog"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/surreal"
)

// String names the stores without secrets: fmt would otherwise print the
// unexported Config field as it is. GoString and LogValue say the same.
func (s *Stores) String() string {
	if s == nil {
		return "stores.Stores(nil)"
	}
	sur := "off"
	if s.cfg.Surreal.Enabled() {
		sur = surreal.Redact(s.cfg.Surreal.URL)
	}
	return fmt.Sprintf("stores.Stores{postgres: %s, redis: %s, surrealdb: %s}",
		postgres.RedactDSN(s.cfg.Database.URL), postgres.RedactDSN(s.cfg.Redis.URL), sur)
}

// GoString is String.
func (s *Stores) GoString() string { return s.String() }

// LogValue is String, for slog.
func (s *Stores) LogValue() slog.Value { return slog.StringValue(s.String()) }
