package cache

import "github.com/agentical/datalayer/internal/redact"

// redactURL hides the password of a URL for messages.
func redactURL(s string) string { return redact.DSN(s) }

// redactErr removes a URL's password from an error message.
func redactErr(err error, raw string) error { return redact.Error(err, raw) }
