package postgres

import "github.com/agentical/datalayer/internal/redact"

// RedactDSN returns dsn with any password replaced by "xxxxx", in URL or
// key=value form. Strings it cannot parse are returned with everything
// between "://" and "@" hidden, so a password never leaks through a typo.
func RedactDSN(dsn string) string { return redact.DSN(dsn) }

// redactErr hides the password of dsn if a driver error happens to quote it.
func redactErr(err error, dsn string) error { return redact.Error(err, dsn) }
