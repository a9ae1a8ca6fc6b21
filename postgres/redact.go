package postgres

import (
	"encoding/json"

	"github.com/agentical/datalayer/internal/redact"
)

// RedactDSN returns dsn with any password replaced by "xxxxx", in URL or
// key=value form. Strings it cannot parse are returned with everything
// between "://" and "@" hidden, so a password never leaks through a typo.
func RedactDSN(dsn string) string { return redact.DSN(dsn) }

// redactErr hides the password of dsn if a driver error happens to quote it.
func redactErr(err error, dsn string) error { return redact.Error(err, dsn) }

// MarshalJSON writes the configuration as String shows it: the URL's
// password masked (the tracer is left out).
func (c Config) MarshalJSON() ([]byte, error) {
	d := c.withDefaults()
	return json.Marshal(struct {
		URL              string `json:"url"`
		MaxConns         int32  `json:"max_conns"`
		MinConns         int32  `json:"min_conns"`
		MaxConnLifetime  string `json:"max_conn_lifetime"`
		MaxConnIdleTime  string `json:"max_conn_idle_time"`
		ConnectTimeout   string `json:"connect_timeout"`
		StatementTimeout string `json:"statement_timeout"`
		ApplicationName  string `json:"application_name"`
	}{RedactDSN(c.URL), d.MaxConns, d.MinConns, d.MaxConnLifetime.String(), d.MaxConnIdleTime.String(),
		d.ConnectTimeout.String(), d.StatementTimeout.String(), d.ApplicationName})
}
