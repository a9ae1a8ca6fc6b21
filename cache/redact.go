package cache

import (
	"errors"
	"strings"
)

// urlPassword extracts the password of scheme://user:password@host... even
// from a URL net/url refuses to parse.
func urlPassword(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return ""
	}
	rest := s[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	userinfo := rest[:at]
	colon := strings.Index(userinfo, ":")
	if colon < 0 {
		return ""
	}
	return userinfo[colon+1:]
}

// redactURL hides the password of a URL for messages.
func redactURL(s string) string {
	if pw := urlPassword(s); pw != "" {
		return strings.ReplaceAll(s, pw, "xxxxx")
	}
	return s
}

// redactErr removes a URL's password from an error message.
func redactErr(err error, raw string) error {
	pw := urlPassword(raw)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}
