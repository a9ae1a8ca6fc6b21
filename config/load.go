package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// secondsVars may also be given as a whole number of seconds, the form
// users of the original Python services (SQLAlchemy pool_timeout and
// pool_recycle, cache TTLs) know. Other durations need a unit: a bare
// "500" for a slow-query threshold is as likely meant as milliseconds.
var secondsVars = map[string]bool{
	"DB_POOL_TIMEOUT":      true,
	"DB_MAX_CONN_LIFETIME": true,
	"REDIS_DEFAULT_TTL":    true,
}

type intRange struct{ lo, hi int64 }

// intRanges holds the accepted range of every integer variable; parse
// failures and out-of-range values share the message.
var intRanges = map[string]intRange{
	"DB_POOL_SIZE":              {1, 1000},
	"DB_MAX_OVERFLOW":           {0, 1000},
	"DB_MIN_CONNS":              {0, 1000},
	"REDIS_MAX_CONNECTIONS":     {1, 10000},
	"CIRCUIT_BREAKER_THRESHOLD": {1, 1000},
	"MAX_RETRY_ATTEMPTS":        {0, 10},
}

type durRange struct{ lo, hi time.Duration }

var durRanges = map[string]durRange{
	"DB_POOL_TIMEOUT":      {time.Millisecond, 10 * time.Minute},
	"DB_MAX_CONN_LIFETIME": {time.Second, 24 * time.Hour},
	"DB_CONNECT_TIMEOUT":   {time.Millisecond, 5 * time.Minute},
	"DB_STATEMENT_TIMEOUT": {0, 24 * time.Hour},
	"SLOW_QUERY_THRESHOLD": {time.Millisecond, time.Minute},
	"REDIS_DEFAULT_TTL":    {time.Second, 30 * 24 * time.Hour},
}

// Load reads the configuration from environ, entries of the form
// KEY=value as returned by os.Environ. It never reads the process
// environment itself. On failure it returns every problem found, joined;
// each is a *Error (see Errors).
func Load(environ []string) (Config, error) {
	return FromMap(env.ToMap(environ))
}

// FromMap is Load for variables already in a map. An empty value counts
// as unset.
func FromMap(vars map[string]string) (Config, error) {
	l := &loader{raw: vars, failed: map[string]bool{}}
	l.norm = maps.Clone(vars)
	if l.norm == nil {
		l.norm = map[string]string{}
	}
	for k := range secondsVars {
		if v := l.norm[k]; v != "" {
			if _, err := strconv.ParseUint(v, 10, 63); err == nil {
				l.norm[k] = v + "s"
			}
		}
	}

	top := struct {
		Profile Profile `env:"APP_ENV"`
	}{Profile: Development}
	l.parse(&top)
	cfg := Defaults(top.Profile)
	l.parse(&cfg.Database)
	l.parse(&cfg.Redis)
	l.parse(&cfg.Surreal)
	l.parse(&cfg.Resilience)
	l.validate(&cfg)
	if len(l.errs) > 0 {
		// Report in the order of the documented table, not of discovery.
		slices.SortStableFunc(l.errs, func(a, b error) int { return cmp.Compare(rank(a), rank(b)) })
		return Config{}, errors.Join(l.errs...)
	}
	return cfg, nil
}

type loader struct {
	raw    map[string]string // as given, for messages
	norm   map[string]string // what env parses
	errs   []error
	failed map[string]bool // variables already reported
}

func (l *loader) fail(key, format string, args ...any) {
	l.failed[key] = true
	l.errs = append(l.errs, &Error{Var: key, Reason: fmt.Sprintf(format, args...)})
}

// parse fills the env-tagged fields of *v from set variables, leaving the
// defaults already in *v for unset ones, and turns env's errors (which
// name Go fields) into errors naming the variable.
func (l *loader) parse(v any) {
	err := env.ParseWithOptions(v, env.Options{Environment: l.norm})
	if err == nil {
		return
	}
	errs := []error{err}
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	t := reflect.TypeOf(v).Elem()
	for _, e := range errs {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				l.fail(key, "%s, got %q", l.expected(key, f.Type), l.raw[key])
				continue
			}
		}
		// Not reachable with the field types above; keep values out of it.
		l.errs = append(l.errs, fmt.Errorf("config: cannot load %s: %T", t, e))
	}
}

// expected says what a valid value of variable key looks like.
func (l *loader) expected(key string, t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[Profile]():
		return errBadProfile.Error()
	case t == reflect.TypeFor[time.Duration]() && secondsVars[key]:
		return `must be a duration such as "30s" or "5m", or whole seconds`
	case t == reflect.TypeFor[time.Duration]():
		return `must be a duration with a unit, such as "500ms" or "2s"`
	case t.Kind() == reflect.Bool:
		return "must be true or false"
	}
	if r, ok := intRanges[key]; ok {
		return fmt.Sprintf("must be a whole number between %d and %d", r.lo, r.hi)
	}
	return "has an invalid value"
}

func (l *loader) validate(c *Config) {
	d := &c.Database
	l.checkInt("DB_POOL_SIZE", int64(d.PoolSize))
	l.checkInt("DB_MAX_OVERFLOW", int64(d.MaxOverflow))
	l.checkInt("DB_MIN_CONNS", int64(d.MinConns))
	if d.MinConns > d.PoolSize {
		if l.raw["DB_MIN_CONNS"] == "" {
			// The profile's default, not the user's choice, is too large.
			d.MinConns = d.PoolSize
		} else if !l.failed["DB_MIN_CONNS"] && !l.failed["DB_POOL_SIZE"] {
			l.fail("DB_MIN_CONNS", "must not exceed DB_POOL_SIZE (%d), got %q", d.PoolSize, l.raw["DB_MIN_CONNS"])
		}
	}
	l.checkDur("DB_POOL_TIMEOUT", d.PoolTimeout)
	l.checkDur("DB_MAX_CONN_LIFETIME", d.MaxConnLifetime)
	l.checkDur("DB_CONNECT_TIMEOUT", d.ConnectTimeout)
	l.checkDur("DB_STATEMENT_TIMEOUT", d.StatementTimeout)
	l.checkDur("SLOW_QUERY_THRESHOLD", d.SlowQueryThreshold)
	// PostgreSQL truncates longer names (NAMEDATALEN 64).
	if n := len(d.ApplicationName); n > 63 {
		l.fail("DB_APPLICATION_NAME", "must be at most 63 bytes long, got %d", n)
	}
	switch {
	case d.URL == "":
		l.fail("DATABASE_URL", "is required when APP_ENV=%s", c.Profile)
	case isOtherScheme(d.URL, "postgres", "postgresql"):
		l.fail("DATABASE_URL", "must be a postgres:// or postgresql:// URL, got %q: PostgreSQL is the relational store (%s is not supported)",
			redactURL(d.URL), schemeOf(d.URL))
	default:
		l.checkURL("DATABASE_URL", d.URL, "postgres", "postgresql")
	}

	r := &c.Redis
	if u := l.checkURL("REDIS_URL", r.URL, "redis", "rediss"); u != nil {
		switch p := strings.TrimPrefix(u.Path, "/"); {
		case u.Host == "":
			l.fail("REDIS_URL", "must name a host, got %q", redactURL(r.URL))
		case p != "":
			if n, err := strconv.Atoi(p); err != nil || n < 0 {
				l.fail("REDIS_URL", "path must be a database number such as /0, got %q", redactURL(r.URL))
			}
		}
	}
	l.checkInt("REDIS_MAX_CONNECTIONS", int64(r.MaxConnections))
	l.checkDur("REDIS_DEFAULT_TTL", r.DefaultTTL)

	s := &c.Surreal
	if s.URL != "" {
		if u := l.checkURL("SURREALDB_URL", s.URL, "ws", "wss", "http", "https"); u != nil && u.Host == "" {
			l.fail("SURREALDB_URL", "must name a host, got %q", redactURL(s.URL))
		}
		switch {
		case c.Profile == Production && s.Username == "":
			l.fail("SURREALDB_USERNAME", "is required when APP_ENV=production and SURREALDB_URL is set")
		case s.Password != "" && s.Username == "":
			l.fail("SURREALDB_USERNAME", "is required when SURREALDB_PASSWORD is set")
		}
		if c.Profile == Production && s.Password == "" {
			l.fail("SURREALDB_PASSWORD", "is required when APP_ENV=production and SURREALDB_URL is set")
		}
	}

	dbScheme := "postgres"
	if u, err := url.Parse(d.URL); err == nil {
		dbScheme = u.Scheme
	}
	l.checkSecrets("DB", dbScheme, nil, d.PasswordFile, d.TLSCAFile, d.TLSCertFile, d.TLSKeyFile, d.TLSServerName)
	redisScheme := ""
	if u, err := url.Parse(r.URL); err == nil {
		redisScheme = u.Scheme
	}
	l.checkSecrets("REDIS", redisScheme, []string{"rediss"}, r.PasswordFile, r.TLSCAFile, r.TLSCertFile, r.TLSKeyFile, r.TLSServerName)
	if r.CacheSecretFile != "" {
		if _, err := readCacheSecret(r.CacheSecretFile); err != nil {
			l.fail("REDIS_CACHE_SECRET_FILE", "%v", err)
		}
	}
	surrealScheme := ""
	if u, err := url.Parse(s.URL); err == nil {
		surrealScheme = u.Scheme
	}
	l.checkSecrets("SURREALDB", surrealScheme, []string{"wss", "https"}, s.PasswordFile, s.TLSCAFile, s.TLSCertFile, s.TLSKeyFile, s.TLSServerName)

	l.checkInt("CIRCUIT_BREAKER_THRESHOLD", int64(c.Resilience.BreakerThreshold))
	l.checkInt("MAX_RETRY_ATTEMPTS", int64(c.Resilience.MaxRetryAttempts))
}

func (l *loader) checkInt(key string, v int64) {
	r := intRanges[key]
	if !l.failed[key] && (v < r.lo || v > r.hi) {
		l.fail(key, "must be between %d and %d, got %q", r.lo, r.hi, l.raw[key])
	}
}

func (l *loader) checkDur(key string, v time.Duration) {
	r := durRanges[key]
	if !l.failed[key] && (v < r.lo || v > r.hi) {
		l.fail(key, "must be between %s and %s, got %q", r.lo, r.hi, l.raw[key])
	}
}

// checkURL parses rawURL and checks its scheme; it returns nil after
// reporting a problem. The value is quoted (redacted) only once it parsed
// as a hierarchical URL.
func (l *loader) checkURL(key, rawURL string, schemes ...string) *url.URL {
	want := orList(schemes)
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		l.fail(key, "must be a %s URL, but does not parse (percent-encode special characters in the user name and password)", want)
		return nil
	case u.Scheme == "" || u.Opaque != "":
		l.fail(key, "must be a %s URL", want)
		return nil
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return u
		}
	}
	l.fail(key, "must be a %s URL, got %q", want, redactURL(rawURL))
	return nil
}

// orList renders {"a", "b", "c"} as "a://, b:// or c://".
func orList(schemes []string) string {
	s := make([]string, len(schemes))
	for i, v := range schemes {
		s[i] = v + "://"
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// varOrder ranks variables as doc.go's table lists them.
var varOrder = func() map[string]int {
	order := map[string]int{"APP_ENV": 0}
	for _, v := range []any{Database{}, Redis{}, Surreal{}, Resilience{}} {
		t := reflect.TypeOf(v)
		for i := range t.NumField() {
			key, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
			order[key] = len(order)
		}
	}
	return order
}()

func rank(err error) int {
	if e, ok := err.(*Error); ok {
		if r, ok := varOrder[e.Var]; ok {
			return r
		}
	}
	return len(varOrder)
}

// schemeOf returns the scheme of a URL-looking string ("sqlite" for
// "sqlite:app.db" or "sqlite:///app.db"), or "" when s does not start with
// one.
func schemeOf(s string) string {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return ""
	}
	for j, r := range s[:i] {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return ""
		}
	}
	return strings.ToLower(s[:i])
}

// isOtherScheme reports whether s starts with a scheme not in want.
func isOtherScheme(s string, want ...string) bool {
	sc := schemeOf(s)
	return sc != "" && !slices.Contains(want, sc)
}

// checkSecrets validates the <prefix>_PASSWORD_FILE and <prefix>_TLS_*
// variables: files must be readable, a client certificate needs its key (and
// the other way round), a server name must look like one, and TLS settings
// need a TLS scheme when tlsSchemes is given.
func (l *loader) checkSecrets(prefix, scheme string, tlsSchemes []string, passwordFile, ca, cert, key, serverName string) {
	readable := func(name, path string) {
		if path == "" {
			return
		}
		f, err := os.Open(path)
		if err != nil {
			l.fail(name, "cannot read %s: %v", path, errors.Unwrap(err))
			return
		}
		f.Close()
	}
	readable(prefix+"_PASSWORD_FILE", passwordFile)
	readable(prefix+"_TLS_CA_FILE", ca)
	readable(prefix+"_TLS_CERT_FILE", cert)
	readable(prefix+"_TLS_KEY_FILE", key)
	switch {
	case cert != "" && key == "":
		l.fail(prefix+"_TLS_KEY_FILE", "is required with %s_TLS_CERT_FILE", prefix)
	case key != "" && cert == "":
		l.fail(prefix+"_TLS_CERT_FILE", "is required with %s_TLS_KEY_FILE", prefix)
	}
	if serverName != "" && net.ParseIP(serverName) == nil && strings.ContainsAny(serverName, " \t/:@?#") {
		l.fail(prefix+"_TLS_SERVER_NAME", "must be a host name or IP address, got %q", serverName)
	}
	if len(tlsSchemes) > 0 && scheme != "" && !slices.Contains(tlsSchemes, scheme) {
		for _, v := range []struct{ name, val string }{{"_TLS_CA_FILE", ca}, {"_TLS_CERT_FILE", cert}, {"_TLS_SERVER_NAME", serverName}} {
			if v.val != "" && !l.failed[prefix+v.name] {
				l.fail(prefix+v.name, "needs a %s URL (TLS), but the URL is %s://", orList(tlsSchemes), scheme)
				return
			}
		}
	}
}

// minCacheSecret is the shortest cache secret accepted: 128 bits.
const minCacheSecret = 16

// readCacheSecret reads REDIS_CACHE_SECRET_FILE. The error never quotes
// the file's content.
func readCacheSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < minCacheSecret {
		return nil, fmt.Errorf("%s holds %d bytes; the cache secret needs at least %d", path, len(b), minCacheSecret)
	}
	return b, nil
}
