package devserver

import "github.com/agentical/datalayer/internal/redact"

// RedactURL returns dsn with any password replaced by "xxxxx" (URL forms,
// including a password query parameter, and libpq keyword/value strings;
// see package redact).
func RedactURL(dsn string) string { return redact.DSN(dsn) }
