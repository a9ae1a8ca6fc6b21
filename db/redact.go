package db

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// keywordPassword matches password=... in key=value connection strings,
// quoted or not.
var keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN returns dsn with any password replaced by "xxxxx", in URL or
// key=value form. Strings it cannot parse are returned with everything
// between "://" and "@" hidden, so a password never leaks through a typo.
func RedactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			i := strings.Index(dsn, "://")
			if j := strings.LastIndex(dsn, "@"); j > i {
				return dsn[:i+3] + "xxxxx" + dsn[j:]
			}
			return dsn[:i+3] + "xxxxx"
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// redactErr hides the password of dsn if a driver error happens to quote it.
func redactErr(err error, dsn string) error {
	if err == nil {
		return nil
	}
	pw := passwordOf(dsn)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

func passwordOf(dsn string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil {
			if p, ok := u.User.Password(); ok {
				return p
			}
			return u.Query().Get("password")
		}
		return ""
	}
	if m := keywordPassword.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}
