package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/agentical/datalayer/postgres"
)

const redacted = "xxxxx"

// redactURL hides the password of a connection URL or key=value DSN.
// postgres.RedactDSN finds it in hierarchical URLs (scheme://user:pass@host) and
// key=value strings; anything else that might carry credentials, such as
// "user:pass@host" without a scheme, is hidden whole.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Opaque == "" && strings.Contains(s, "://") {
		return postgres.RedactDSN(s)
	}
	if !strings.Contains(s, "://") && !strings.Contains(s, "@") {
		return postgres.RedactDSN(s)
	}
	return "[redacted]"
}

func (d Database) redacted() Database {
	d.URL = redactURL(d.URL)
	return d
}

func (r Redis) redacted() Redis {
	r.URL = redactURL(r.URL)
	return r
}

func (s Surreal) redacted() Surreal {
	s.URL = redactURL(s.URL)
	if s.Password != "" {
		s.Password = redacted
	}
	return s
}

func (c Config) redacted() Config {
	c.Database = c.Database.redacted()
	c.Redis = c.Redis.redacted()
	c.Surreal = c.Surreal.redacted()
	return c
}

// String renders c with passwords redacted. GoString, LogValue and
// MarshalJSON redact the same way, so fmt's %v, %+v and %#v, slog and
// encoding/json never print a password.
func (c Config) String() string         { return render(c.redacted()) }
func (c Config) GoString() string       { return c.String() }
func (c Config) LogValue() slog.Value   { return logValue(c.redacted()) }
func (d Database) String() string       { return render(d.redacted()) }
func (d Database) GoString() string     { return d.String() }
func (d Database) LogValue() slog.Value { return logValue(d.redacted()) }
func (r Redis) String() string          { return render(r.redacted()) }
func (r Redis) GoString() string        { return r.String() }
func (r Redis) LogValue() slog.Value    { return logValue(r.redacted()) }
func (s Surreal) String() string        { return render(s.redacted()) }
func (s Surreal) GoString() string      { return s.String() }
func (s Surreal) LogValue() slog.Value  { return logValue(s.redacted()) }

// Method-free copies, so that json.Marshal does not call MarshalJSON again.
type (
	plainConfig   Config
	plainDatabase Database
	plainRedis    Redis
	plainSurreal  Surreal
)

func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(plainConfig(c.redacted())) // sections redact themselves too
}
func (d Database) MarshalJSON() ([]byte, error) { return json.Marshal(plainDatabase(d.redacted())) }
func (r Redis) MarshalJSON() ([]byte, error)    { return json.Marshal(plainRedis(r.redacted())) }
func (s Surreal) MarshalJSON() ([]byte, error)  { return json.Marshal(plainSurreal(s.redacted())) }

var durationType = reflect.TypeFor[time.Duration]()

// render prints an already redacted struct as config.Type{Field: value, ...},
// reading fields by reflection so that it never calls String on v itself.
func render(v any) string {
	var b strings.Builder
	var walk func(rv reflect.Value)
	walk = func(rv reflect.Value) {
		switch {
		case rv.Type() == durationType:
			b.WriteString(time.Duration(rv.Int()).String())
		case rv.Kind() == reflect.Struct:
			t := rv.Type()
			fmt.Fprintf(&b, "config.%s{", t.Name())
			for i := range t.NumField() {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(t.Field(i).Name + ": ")
				walk(rv.Field(i))
			}
			b.WriteString("}")
		case rv.Kind() == reflect.String:
			b.WriteString(strconv.Quote(rv.String()))
		default:
			fmt.Fprint(&b, rv.Interface())
		}
	}
	walk(reflect.ValueOf(v))
	return b.String()
}

// logValue turns an already redacted struct into a slog group keyed by
// environment variable names (sections become nested groups).
func logValue(v any) slog.Value {
	rv := reflect.ValueOf(v)
	t := rv.Type()
	attrs := make([]slog.Attr, 0, t.NumField())
	for i := range t.NumField() {
		f, fv := t.Field(i), rv.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		switch {
		case f.Name == "Profile":
			attrs = append(attrs, slog.String("APP_ENV", fv.String()))
		case fv.Kind() == reflect.Struct:
			attrs = append(attrs, slog.Attr{Key: strings.ToLower(f.Name), Value: logValue(fv.Interface())})
		case f.Type == durationType:
			attrs = append(attrs, slog.String(key, time.Duration(fv.Int()).String()))
		default:
			attrs = append(attrs, slog.Any(key, fv.Interface()))
		}
	}
	return slog.GroupValue(attrs...)
}
