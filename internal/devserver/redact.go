package devserver

import (
	"net/url"
	"regexp"
	"strings"
)

// keywordPassword matches password=... in a libpq keyword/value DSN, quoted or not.
var keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactURL returns dsn with any password replaced by "xxxxx". It handles URL
// forms (postgres://, redis://, rediss://, ...) including a password given as a
// query parameter, and libpq keyword/value strings. Text it cannot parse is
// returned with everything between "://" and the last "@" masked, so a
// malformed DSN never leaks its secret either.
func RedactURL(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			scheme, rest, _ := strings.Cut(dsn, "://")
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				return scheme + "://xxxxx@" + rest[at+1:]
			}
			return dsn
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
}
