package stores_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/agentical/datalayer"
	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/migrate"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/stores"
	"github.com/agentical/datalayer/surreal"
)

// Planted secrets; each has characters that URLs percent-encode, so both
// the raw and the encoded form are looked for.
const (
	pgPW      = "pg-S3cret/pw:1"
	redisPW   = "redis-S3cret@pw"
	surrealPW = "surreal-S3cret#pw"
	tokenPW   = "eyJ-surreal-token-S3cret"
	devPW     = "dev-S3cret?pw"
)

var secrets = []string{pgPW, redisPW, surrealPW, tokenPW, devPW}

func pgURL(pw string) string {
	return (&url.URL{Scheme: "postgres", User: url.UserPassword("app", pw), Host: "db.internal:5432", Path: "/agentical"}).String()
}

// configs returns every Config struct that can hold a password, with the
// planted secrets in every field that holds one.
func configs(t *testing.T) map[string]any {
	t.Helper()
	cfg, err := config.FromMap(map[string]string{
		"APP_ENV":            "production",
		"DATABASE_URL":       pgURL(pgPW),
		"REDIS_URL":          (&url.URL{Scheme: "rediss", User: url.UserPassword("cache", redisPW), Host: "cache:6380", Path: "/1"}).String(),
		"SURREALDB_URL":      (&url.URL{Scheme: "wss", User: url.UserPassword("root", surrealPW), Host: "surreal:8000"}).String(),
		"SURREALDB_USERNAME": "root",
		"SURREALDB_PASSWORD": surrealPW,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cfg.Cache("v1")
	if err != nil {
		t.Fatal(err)
	}
	if cc.Password != redisPW {
		t.Fatalf("cache config lost the planted password: %q", cc.Password)
	}
	sc := cfg.SurrealStore()
	sc.Token = tokenPW
	dbc := cfg.DB()
	dbc.URL = pgURL(pgPW) + "?password=" + url.QueryEscape(pgPW)
	return map[string]any{
		"config.Config":     cfg,
		"config.Database":   cfg.Database,
		"config.Redis":      cfg.Redis,
		"config.Surreal":    cfg.Surreal,
		"cache.Config":      cc,
		"postgres.Config":   dbc,
		"surreal.Config":    sc,
		"migrate.Config":    migrate.Config{DevURL: pgURL(devPW)},
		"migrate.Project":   migrate.Project{URL: pgURL(pgPW), DevURL: pgURL(devPW)},
		"cache.Config{raw}": cache.Config{Addrs: []string{"h:1"}, Password: redisPW},
		"surreal.Config{}":  surreal.Config{URL: "ws://h:1", Password: surrealPW, Token: tokenPW},
		"postgres.Config{}": postgres.Config{URL: "host=db user=app password='" + pgPW + "' dbname=x"},
	}
}

// printings renders v every way a service might print or log it.
func printings(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out[verb] = fmt.Sprintf(verb, v)
		out[verb+" pointer"] = fmt.Sprintf(verb, ptrTo(v))
		out[verb+" nested"] = fmt.Sprintf(verb, struct{ Inner any }{v})
		out[verb+" slice"] = fmt.Sprintf(verb, []any{v})
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v)
	for name, x := range map[string]any{"value": v, "pointer": ptrTo(v), "nested": map[string]any{"cfg": v}} {
		b, err := json.Marshal(x)
		if err != nil {
			t.Errorf("json.Marshal(%s): %v", name, err)
		}
		out["json "+name] = string(b)
	}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		l := slog.New(h(&b))
		l.Info("config", "cfg", v)
		l.Info("config", slog.Any("ptr", ptrTo(v)))
		l.Info("config", slog.Group("g", slog.Any("cfg", v)))
		l.With("cfg", v).Info("with")
		out["slog "+name] = b.String()
	}
	return out
}

// ptrTo returns a pointer to a copy of v, keeping its dynamic type.
func ptrTo(v any) any {
	switch x := v.(type) {
	case config.Config:
		return &x
	case config.Database:
		return &x
	case config.Redis:
		return &x
	case config.Surreal:
		return &x
	case cache.Config:
		return &x
	case postgres.Config:
		return &x
	case surreal.Config:
		return &x
	case migrate.Config:
		return &x
	case migrate.Project:
		return &x
	}
	panic(fmt.Sprintf("ptrTo: add %T", v))
}

func TestConfigsNeverPrintSecrets(t *testing.T) {
	for name, v := range configs(t) {
		for form, s := range printings(t, v) {
			if s == "" {
				t.Errorf("%s printed with %s is empty", name, form)
			}
			for _, secret := range secrets {
				for _, enc := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), (&url.URL{User: url.UserPassword("u", secret)}).String()[2:]} {
					enc = strings.TrimPrefix(enc, "u:")
					enc = strings.TrimSuffix(enc, "@")
					if strings.Contains(s, enc) {
						t.Errorf("%s printed with %s shows a secret (%q):\n%s", name, form, enc, s)
					}
				}
			}
		}
	}
}

// The printed forms still say something useful: hosts and user names
// survive redaction.
func TestConfigsStillDescribeThemselves(t *testing.T) {
	c := configs(t)
	for name, want := range map[string]string{
		"config.Config":   "db.internal:5432",
		"cache.Config":    "cache:6380",
		"postgres.Config": "db.internal",
		"surreal.Config":  "surreal:8000",
		"migrate.Config":  "db.internal",
	} {
		for form, s := range printings(t, c[name]) {
			if !strings.Contains(s, want) {
				t.Errorf("%s printed with %s lacks %q:\n%s", name, form, want, s)
			}
		}
	}
}

// printAny renders v (already a pointer or interface) every way.
func printAny(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out[verb] = fmt.Sprintf(verb, v)
		out[verb+" nested"] = fmt.Sprintf(verb, struct{ Inner any }{v})
	}
	if b, err := json.Marshal(v); err == nil {
		out["json"] = string(b)
	}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		slog.New(h(&b)).Info("v", "v", v)
		out["slog "+name] = b.String()
	}
	return out
}

// The values Open returns print no secret either: the stores, the layer,
// the cache, the SurrealDB store, the pool and the runtime.
func TestOpenedStoresNeverPrintSecrets(t *testing.T) {
	const pgSecret = "Opened-S3cret/pw" // the harness's server trusts loopback: any password works
	dsn := testinfra.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pgSecret)
	r := testinfra.Redis(t)
	sp := surrealpeer.ForTest(t)
	cfg := loadConfig(t, env(t, u.String(), r, "SURREALDB_URL", sp.URL, "SURREALDB_USERNAME", sp.Username,
		"SURREALDB_PASSWORD", sp.Password, "SURREALDB_NAMESPACE", sp.Namespace, "SURREALDB_DATABASE", sp.Database))
	var logs logBuffer
	s := open(t, cfg, prefixed(r, stores.Options{Logger: logs.logger()}))
	st, err := s.Surreal()
	if err != nil {
		t.Fatal(err)
	}
	// A cache whose configuration holds a password (its client is given, so
	// the password is not used to connect).
	const redisSecret = "Cache-S3cret@pw"
	pwCache, err := cache.New(t.Context(), cache.Config{Client: redisClient(t, r.URL()), DisableClientCache: true, Password: redisSecret,
		Prefix: strings.TrimSuffix(r.Prefix, ":")})
	if err != nil {
		t.Fatal(err)
	}
	defer pwCache.Close()
	values := map[string]any{
		"*stores.Stores": s, "*cache.Cache with password": pwCache, "*cache.Cache": s.Cache(), "*surreal.Store": st, "*pgxpool.Pool": s.Pool(),
		"*repo.Runtime": s.Runtime(), "DB()": s.DB(), "*health.Checker": s.Health(), "Config()": s.Config(),
		"datalayer.Layer": datalayer.Layer{Stores: s},
	}
	plain := []string{pgSecret, url.QueryEscape(pgSecret), url.PathEscape(pgSecret), redisSecret}
	if sp.Password != "" {
		plain = append(plain, sp.Password)
	}
	for name, v := range values {
		for form, out := range printAny(t, v) {
			for _, secret := range plain {
				if strings.Contains(out, secret) {
					t.Errorf("%s printed with %s shows a secret (%q):\n%s", name, form, secret, out)
				}
			}
		}
	}
	for _, secret := range plain {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("Open logged a secret (%q):\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(fmt.Sprint(s), r.Addr) {
		t.Errorf("Stores prints as %q; want the Redis address in it", fmt.Sprint(s))
	}
}
