// Package redact hides passwords in connection strings (URL and libpq
// key=value forms) and in error messages that quote them. Every package of
// the module that prints a DSN goes through it.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a hidden password.
const Mask = "xxxxx"

// keywordPassword matches password=... in key=value DSNs, quoted or not.
var keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// DSN returns dsn with any password replaced by Mask: the user-info
// password and a password query parameter of URLs (postgres://, redis://,
// ws://, ...), and password=... of key=value strings. A URL that does not
// parse has everything between "://" and the last "@" masked, so a typo
// never leaks the secret.
func DSN(dsn string) string {
	if dsn == "" || !strings.Contains(dsn, "://") {
		return keywordPassword.ReplaceAllString(dsn, "${1}"+Mask)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		scheme, rest, _ := strings.Cut(dsn, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			return scheme + "://" + Mask + rest[at:]
		}
		return scheme + "://" + Mask
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", Mask)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Password returns the password dsn carries, or "". It finds it in URLs
// net/url refuses to parse too, so errors about such URLs can be scrubbed.
func Password(dsn string) string {
	if !strings.Contains(dsn, "://") {
		if m := keywordPassword.FindStringSubmatch(dsn); m != nil {
			return strings.Trim(m[2], "'")
		}
		return ""
	}
	if u, err := url.Parse(dsn); err == nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
		return u.Query().Get("password")
	}
	_, rest, _ := strings.Cut(dsn, "://")
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
		return pw
	}
	return ""
}

// Text replaces the password of dsn wherever it occurs in msg.
func Text(msg, dsn string) string {
	if pw := Password(dsn); pw != "" {
		return strings.ReplaceAll(msg, pw, Mask)
	}
	return msg
}

// Error returns err unchanged unless its message quotes the password of
// dsn; then an error with the password masked that still unwraps to err
// (for errors.Is/As, which do not print).
func Error(err error, dsn string) error {
	if err == nil {
		return nil
	}
	pw := Password(dsn)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), pw, Mask), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
