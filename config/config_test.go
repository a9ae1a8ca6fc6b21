package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/config"
)

func load(t testing.TB, vars map[string]string) config.Config {
	t.Helper()
	cfg, err := config.FromMap(vars)
	if err != nil {
		t.Fatalf("FromMap(%v): %v", vars, err)
	}
	return cfg
}

// loadErr loads vars expecting failure and returns the problems found.
func loadErr(t testing.TB, vars map[string]string) (error, []*config.Error) {
	t.Helper()
	cfg, err := config.FromMap(vars)
	if err == nil {
		t.Fatalf("FromMap(%v) succeeded with %v, want an error", vars, cfg)
	}
	if !reflect.DeepEqual(cfg, config.Config{}) {
		t.Errorf("FromMap returned a config along with its error: %v", cfg)
	}
	return err, config.Errors(err)
}

func TestDevelopmentDefaults(t *testing.T) {
	for _, vars := range []map[string]string{nil, {"APP_ENV": "development"}, {"APP_ENV": ""}} {
		c := load(t, vars)
		want := config.Config{
			Profile: config.Development,
			Database: config.Database{
				URL:                "postgres://postgres@localhost:5432/agentical?sslmode=disable",
				PoolSize:           10,
				MinConns:           0,
				PoolTimeout:        30 * time.Second,
				MaxConnLifetime:    time.Hour,
				ConnectTimeout:     5 * time.Second,
				StatementTimeout:   0,
				ApplicationName:    "datalayer",
				SlowQueryThreshold: 500 * time.Millisecond,
				LogQueryArgs:       false,
				AutoMigrate:        true,
			},
			Redis: config.Redis{
				URL:            "redis://localhost:6379/0",
				MaxConnections: 10,
				DefaultTTL:     5 * time.Minute,
				ClientCache:    true,
			},
			Surreal: config.Surreal{Username: "root", Namespace: "agentical", Database: "main"},
			Resilience: config.Resilience{
				BreakerEnabled:   false,
				BreakerThreshold: 5,
				MaxRetryAttempts: 3,
			},
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("FromMap(%v)\n got %#v\nwant %#v", vars, c, want)
		}
		if c.Surreal.Enabled() {
			t.Error("Surreal.Enabled() with no SURREALDB_URL")
		}
		if !reflect.DeepEqual(c, config.Defaults(config.Development)) {
			t.Error("FromMap of no variables differs from Defaults(Development)")
		}
	}
}

func TestProductionDefaults(t *testing.T) {
	const dsn = "postgres://app@db.internal:5432/agentical"
	c := load(t, map[string]string{"APP_ENV": "production", "DATABASE_URL": dsn})
	want := config.Config{
		Profile: config.Production,
		Database: config.Database{
			URL:                dsn,
			PoolSize:           25,
			MaxOverflow:        10,
			MinConns:           2,
			PoolTimeout:        10 * time.Second,
			MaxConnLifetime:    time.Hour,
			ConnectTimeout:     5 * time.Second,
			ApplicationName:    "datalayer",
			SlowQueryThreshold: 100 * time.Millisecond,
			AutoMigrate:        false,
		},
		Redis: config.Redis{
			URL:            "redis://localhost:6379/0",
			MaxConnections: 100,
			DefaultTTL:     time.Hour,
			ClientCache:    true,
		},
		Surreal: config.Surreal{Namespace: "agentical", Database: "main"},
		Resilience: config.Resilience{
			BreakerEnabled:   true,
			BreakerThreshold: 5,
			MaxRetryAttempts: 3,
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %#v\nwant %#v", c, want)
	}
}

func TestProductionRequiresDatabaseURL(t *testing.T) {
	for _, v := range []string{"", "unset"} {
		vars := map[string]string{"APP_ENV": "production"}
		if v != "unset" {
			vars["DATABASE_URL"] = v
		}
		_, errs := loadErr(t, vars)
		if len(errs) != 1 || errs[0].Var != "DATABASE_URL" || !strings.Contains(errs[0].Reason, "required") {
			t.Errorf("DATABASE_URL=%q: got %v, want one DATABASE_URL required error", v, errs)
		}
	}
}

func TestEveryVariableOverrides(t *testing.T) {
	c := load(t, map[string]string{
		"APP_ENV":                   "production",
		"DATABASE_URL":              "postgresql://app@db:5433/x",
		"DB_POOL_SIZE":              "40",
		"DB_MAX_OVERFLOW":           "15",
		"DB_MIN_CONNS":              "4",
		"DB_POOL_TIMEOUT":           "45", // whole seconds
		"DB_MAX_CONN_LIFETIME":      "1800",
		"DB_CONNECT_TIMEOUT":        "2s",
		"DB_STATEMENT_TIMEOUT":      "1m30s",
		"DB_APPLICATION_NAME":       "worker",
		"SLOW_QUERY_THRESHOLD":      "250ms",
		"LOG_QUERY_ARGS":            "true",
		"AUTO_MIGRATE":              "1",
		"REDIS_URL":                 "rediss://cache:6380/3",
		"REDIS_MAX_CONNECTIONS":     "64",
		"REDIS_DEFAULT_TTL":         "3600",
		"REDIS_CLIENT_CACHE":        "false",
		"SURREALDB_URL":             "wss://surreal.internal/rpc",
		"SURREALDB_USERNAME":        "svc",
		"SURREALDB_PASSWORD":        "pw",
		"SURREALDB_NAMESPACE":       "ns1",
		"SURREALDB_DATABASE":        "db1",
		"CIRCUIT_BREAKER_ENABLED":   "false",
		"CIRCUIT_BREAKER_THRESHOLD": "9",
		"MAX_RETRY_ATTEMPTS":        "0",
	})
	want := config.Config{
		Profile: config.Production,
		Database: config.Database{
			URL:                "postgresql://app@db:5433/x",
			PoolSize:           40,
			MaxOverflow:        15,
			MinConns:           4,
			PoolTimeout:        45 * time.Second,
			MaxConnLifetime:    30 * time.Minute,
			ConnectTimeout:     2 * time.Second,
			StatementTimeout:   90 * time.Second,
			ApplicationName:    "worker",
			SlowQueryThreshold: 250 * time.Millisecond,
			LogQueryArgs:       true,
			AutoMigrate:        true,
		},
		Redis: config.Redis{
			URL:            "rediss://cache:6380/3",
			MaxConnections: 64,
			DefaultTTL:     time.Hour,
			ClientCache:    false,
		},
		Surreal: config.Surreal{
			URL: "wss://surreal.internal/rpc", Username: "svc", Password: "pw",
			Namespace: "ns1", Database: "db1",
		},
		Resilience: config.Resilience{BreakerEnabled: false, BreakerThreshold: 9, MaxRetryAttempts: 0},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %#v\nwant %#v", c, want)
	}
	if !c.Surreal.Enabled() {
		t.Error("Surreal.Enabled() false with SURREALDB_URL set")
	}
}

func TestEmptyValueMeansUnset(t *testing.T) {
	c := load(t, map[string]string{"DB_POOL_SIZE": "", "REDIS_URL": "", "DB_POOL_TIMEOUT": ""})
	if c.Database.PoolSize != 10 || c.Redis.URL != "redis://localhost:6379/0" || c.Database.PoolTimeout != 30*time.Second {
		t.Errorf("empty values did not fall back to defaults: %v", c)
	}
}

// A production MinConns default above a small DB_POOL_SIZE is clamped, not
// blamed on a variable the user never set.
func TestDefaultMinConnsFollowsSmallPool(t *testing.T) {
	c := load(t, map[string]string{"APP_ENV": "production", "DATABASE_URL": "postgres://h/db", "DB_POOL_SIZE": "1"})
	if c.Database.PoolSize != 1 || c.Database.MinConns != 1 {
		t.Errorf("PoolSize, MinConns = %d, %d; want 1, 1", c.Database.PoolSize, c.Database.MinConns)
	}
}

func TestLoadReadsOnlyItsArgument(t *testing.T) {
	t.Setenv("DB_POOL_SIZE", "99")
	t.Setenv("APP_ENV", "production")
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Profile != config.Development || c.Database.PoolSize != 10 {
		t.Errorf("Load(nil) picked up the process environment: %v", c)
	}
	c, err = config.Load([]string{"DB_POOL_SIZE=7", "UNRELATED=a=b", "REDIS_URL=redis://h:1/2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.PoolSize != 7 || c.Redis.URL != "redis://h:1/2" {
		t.Errorf("Load(environ) = %v", c)
	}
}

type badCase struct {
	vars   map[string]string
	varNm  string // the variable the single error must name
	reason string // a fragment of the reason
}

// badCases holds at least one invalid value for every variable that has
// invalid values.
var badCases = []badCase{
	{m("APP_ENV", "staging"), "APP_ENV", `must be development or production, got "staging"`},
	{m("APP_ENV", "Production"), "APP_ENV", "must be development or production"},
	{m("DATABASE_URL", "mysql://u@h/db"), "DATABASE_URL", `must be a postgres:// or postgresql:// URL, got "mysql://u@h/db"`},
	{m("DATABASE_URL", "host=localhost dbname=x"), "DATABASE_URL", "must be a postgres:// or postgresql:// URL"},
	{m("DATABASE_URL", "postgres://u:%zz@h/db"), "DATABASE_URL", "does not parse"},
	{m("DB_POOL_SIZE", "0"), "DB_POOL_SIZE", `must be between 1 and 1000, got "0"`},
	{m("DB_POOL_SIZE", "1001"), "DB_POOL_SIZE", `must be between 1 and 1000, got "1001"`},
	{m("DB_POOL_SIZE", "ten"), "DB_POOL_SIZE", `must be a whole number between 1 and 1000, got "ten"`},
	{m("DB_POOL_SIZE", "99999999999"), "DB_POOL_SIZE", "must be a whole number between 1 and 1000"},
	{m("DATABASE_URL", "sqlite:///var/lib/app.db"), "DATABASE_URL", `PostgreSQL is the relational store (sqlite is not supported)`},
	{m("DATABASE_URL", "sqlite:app.db"), "DATABASE_URL", `got "sqlite:app.db": PostgreSQL is the relational store`},
	{m("DB_MAX_OVERFLOW", "-1"), "DB_MAX_OVERFLOW", `must be between 0 and 1000, got "-1"`},
	{m("DB_MAX_OVERFLOW", "many"), "DB_MAX_OVERFLOW", "must be a whole number"},
	{m("DB_MIN_CONNS", "-1"), "DB_MIN_CONNS", `must be between 0 and 1000, got "-1"`},
	{m("DB_MIN_CONNS", "11"), "DB_MIN_CONNS", `must not exceed DB_POOL_SIZE (10), got "11"`},
	{m("DB_MIN_CONNS", "x"), "DB_MIN_CONNS", "must be a whole number"},
	{m("DB_POOL_TIMEOUT", "soon"), "DB_POOL_TIMEOUT", `or whole seconds, got "soon"`},
	{m("DB_POOL_TIMEOUT", "0"), "DB_POOL_TIMEOUT", `must be between 1ms and 10m0s, got "0"`},
	{m("DB_POOL_TIMEOUT", "-5s"), "DB_POOL_TIMEOUT", "must be between"},
	{m("DB_POOL_TIMEOUT", "1.5"), "DB_POOL_TIMEOUT", "or whole seconds"},
	{m("DB_MAX_CONN_LIFETIME", "48h"), "DB_MAX_CONN_LIFETIME", `must be between 1s and 24h0m0s, got "48h"`},
	{m("DB_MAX_CONN_LIFETIME", "1h-"), "DB_MAX_CONN_LIFETIME", "must be a duration"},
	{m("DB_CONNECT_TIMEOUT", "10"), "DB_CONNECT_TIMEOUT", `must be a duration with a unit, such as "500ms" or "2s", got "10"`},
	{m("DB_CONNECT_TIMEOUT", "6m"), "DB_CONNECT_TIMEOUT", "must be between"},
	{m("DB_STATEMENT_TIMEOUT", "-1s"), "DB_STATEMENT_TIMEOUT", `must be between 0s and 24h0m0s, got "-1s"`},
	{m("SLOW_QUERY_THRESHOLD", "500"), "SLOW_QUERY_THRESHOLD", "must be a duration with a unit"},
	{m("SLOW_QUERY_THRESHOLD", "2m"), "SLOW_QUERY_THRESHOLD", `must be between 1ms and 1m0s, got "2m"`},
	{m("DB_APPLICATION_NAME", strings.Repeat("a", 64)), "DB_APPLICATION_NAME", "must be at most 63 bytes long, got 64"},
	{m("LOG_QUERY_ARGS", "maybe"), "LOG_QUERY_ARGS", `must be true or false, got "maybe"`},
	{m("AUTO_MIGRATE", "yes"), "AUTO_MIGRATE", `must be true or false, got "yes"`},
	{m("REDIS_URL", "http://cache:6379"), "REDIS_URL", `must be a redis:// or rediss:// URL, got "http://cache:6379"`},
	{m("REDIS_URL", "redis:///0"), "REDIS_URL", "must name a host"},
	{m("REDIS_URL", "redis://cache/zero"), "REDIS_URL", `path must be a database number such as /0, got "redis://cache/zero"`},
	{m("REDIS_URL", "cache:6379"), "REDIS_URL", "must be a redis:// or rediss:// URL"},
	{m("REDIS_MAX_CONNECTIONS", "0"), "REDIS_MAX_CONNECTIONS", `must be between 1 and 10000, got "0"`},
	{m("REDIS_MAX_CONNECTIONS", "lots"), "REDIS_MAX_CONNECTIONS", "must be a whole number between 1 and 10000"},
	{m("REDIS_DEFAULT_TTL", "0"), "REDIS_DEFAULT_TTL", `must be between 1s and 720h0m0s, got "0"`},
	{m("REDIS_DEFAULT_TTL", "1 hour"), "REDIS_DEFAULT_TTL", "or whole seconds"},
	{m("REDIS_CLIENT_CACHE", "on"), "REDIS_CLIENT_CACHE", `must be true or false, got "on"`},
	{m("SURREALDB_URL", "postgres://h:8000"), "SURREALDB_URL", "must be a ws://, wss://, http:// or https:// URL"},
	{m("SURREALDB_URL", "ws:///rpc"), "SURREALDB_URL", "must name a host"},
	{m("SURREALDB_URL", "ws://h:8000", "SURREALDB_USERNAME", "", "SURREALDB_PASSWORD", "pw",
		"APP_ENV", "production", "DATABASE_URL", "postgres://h/db"), "SURREALDB_USERNAME", "is required"},
	{m("SURREALDB_URL", "ws://h:8000", "SURREALDB_PASSWORD", "pw", "APP_ENV", "production",
		"DATABASE_URL", "postgres://h/db"), "SURREALDB_USERNAME", "is required when APP_ENV=production"},
	{m("SURREALDB_URL", "ws://h:8000", "SURREALDB_USERNAME", "svc", "APP_ENV", "production",
		"DATABASE_URL", "postgres://h/db"), "SURREALDB_PASSWORD", "is required when APP_ENV=production"},
	{m("CIRCUIT_BREAKER_ENABLED", "enabled"), "CIRCUIT_BREAKER_ENABLED", "must be true or false"},
	{m("CIRCUIT_BREAKER_THRESHOLD", "0"), "CIRCUIT_BREAKER_THRESHOLD", `must be between 1 and 1000, got "0"`},
	{m("CIRCUIT_BREAKER_THRESHOLD", "5.5"), "CIRCUIT_BREAKER_THRESHOLD", "must be a whole number"},
	{m("MAX_RETRY_ATTEMPTS", "11"), "MAX_RETRY_ATTEMPTS", `must be between 0 and 10, got "11"`},
	{m("MAX_RETRY_ATTEMPTS", "-1"), "MAX_RETRY_ATTEMPTS", "must be between 0 and 10"},
}

// noInvalidValue lists variables for which every non-empty value is
// accepted, and why.
var noInvalidValue = map[string]string{
	"SURREALDB_NAMESPACE": "any string names a namespace (SurrealQL escapes identifiers)",
	"SURREALDB_DATABASE":  "any string names a database",
}

func m(kv ...string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestInvalidValueNamesVariable(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.varNm, func(t *testing.T) {
			err, errs := loadErr(t, tc.vars)
			if len(errs) != 1 {
				t.Fatalf("%v: got %d problems %v, want exactly one", tc.vars, len(errs), errs)
			}
			e := errs[0]
			if e.Var != tc.varNm {
				t.Errorf("%v: error names %s, want %s", tc.vars, e.Var, tc.varNm)
			}
			if !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("%v: reason %q does not contain %q", tc.vars, e.Reason, tc.reason)
			}
			if want := "config: " + tc.varNm + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q does not start with %q", err.Error(), want)
			}
			var target *config.Error
			if !errors.As(err, &target) || target != e {
				t.Errorf("errors.As did not find the *config.Error in %v", err)
			}
		})
	}
}

// allVariables lists every variable the loader reads, from the struct tags.
func allVariables() []string {
	vars := []string{"APP_ENV"}
	for _, v := range []any{config.Database{}, config.Redis{}, config.Surreal{}, config.Resilience{}} {
		t := reflect.TypeOf(v)
		for i := range t.NumField() {
			if tag := t.Field(i).Tag.Get("env"); tag != "" {
				name, _, _ := strings.Cut(tag, ",")
				vars = append(vars, name)
			}
		}
	}
	return vars
}

func TestEveryVariableHasAnInvalidCase(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range badCases {
		covered[tc.varNm] = true
	}
	vars := allVariables()
	// The names users of the original system know must all be read.
	for _, v := range strings.Fields(`DATABASE_URL DB_POOL_SIZE DB_POOL_TIMEOUT DB_MAX_CONN_LIFETIME
		SLOW_QUERY_THRESHOLD REDIS_URL REDIS_MAX_CONNECTIONS REDIS_DEFAULT_TTL SURREALDB_URL
		SURREALDB_USERNAME SURREALDB_PASSWORD SURREALDB_NAMESPACE SURREALDB_DATABASE
		CIRCUIT_BREAKER_ENABLED CIRCUIT_BREAKER_THRESHOLD MAX_RETRY_ATTEMPTS AUTO_MIGRATE APP_ENV`) {
		if !slices.Contains(vars, v) {
			t.Errorf("%s is not read by the loader", v)
		}
	}
	for _, v := range vars {
		if !covered[v] && noInvalidValue[v] == "" {
			t.Errorf("no invalid-value case for %s", v)
		}
	}
}

func TestEveryVariableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range allVariables() {
		if !bytes.Contains(doc, []byte("| "+v+" ")) {
			t.Errorf("doc.go has no table row for %s", v)
		}
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	err, errs := loadErr(t, map[string]string{
		"APP_ENV":                   "production",
		"DB_POOL_SIZE":              "0",
		"DB_POOL_TIMEOUT":           "forever",
		"SLOW_QUERY_THRESHOLD":      "200",
		"AUTO_MIGRATE":              "sometimes",
		"REDIS_URL":                 "memcached://h",
		"REDIS_DEFAULT_TTL":         "-1",
		"SURREALDB_URL":             "ftp://h",
		"CIRCUIT_BREAKER_THRESHOLD": "none",
		"MAX_RETRY_ATTEMPTS":        "100",
	})
	var got []string
	for _, e := range errs {
		got = append(got, e.Var)
	}
	// In the order of doc.go's table.
	want := []string{
		"DATABASE_URL", "DB_POOL_SIZE", "DB_POOL_TIMEOUT", "SLOW_QUERY_THRESHOLD", "AUTO_MIGRATE",
		"REDIS_URL", "REDIS_DEFAULT_TTL", "SURREALDB_URL", "SURREALDB_USERNAME", "SURREALDB_PASSWORD",
		"CIRCUIT_BREAKER_THRESHOLD", "MAX_RETRY_ATTEMPTS",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems for\n got %v\nwant %v", got, want)
	}
	// errors.Join puts one problem per line.
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("message has %d lines, want %d:\n%s", len(lines), len(want), err)
	}
}

// A bad APP_ENV does not hide the other problems.
func TestBadProfileStillChecksTheRest(t *testing.T) {
	_, errs := loadErr(t, map[string]string{"APP_ENV": "prod", "DB_POOL_SIZE": "0"})
	if len(errs) != 2 || errs[0].Var != "APP_ENV" || errs[1].Var != "DB_POOL_SIZE" {
		t.Errorf("got %v, want APP_ENV and DB_POOL_SIZE", errs)
	}
}

func TestDBMapping(t *testing.T) {
	c := load(t, map[string]string{
		"DB_POOL_SIZE": "12", "DB_MIN_CONNS": "3", "DB_MAX_CONN_LIFETIME": "20m",
		"DB_CONNECT_TIMEOUT": "3s", "DB_STATEMENT_TIMEOUT": "15s", "DB_APPLICATION_NAME": "api",
	})
	d := c.DB()
	if d.URL != c.Database.URL || d.MaxConns != 12 || d.MinConns != 3 || d.MaxConnLifetime != 20*time.Minute ||
		d.ConnectTimeout != 3*time.Second || d.StatementTimeout != 15*time.Second || d.ApplicationName != "api" {
		t.Errorf("DB() = %v", d)
	}
	tc := load(t, map[string]string{"SLOW_QUERY_THRESHOLD": "75ms", "LOG_QUERY_ARGS": "true"}).DBTracer(slog.Default())
	if tc.SlowThreshold != 75*time.Millisecond || !tc.LogArgs || tc.Logger != slog.Default() {
		t.Errorf("DBTracer() = %+v", tc)
	}
	// pgx accepts the result without connecting.
	pc, err := d.PoolConfig()
	if err != nil {
		t.Fatal(err)
	}
	if pc.MaxConns != 12 || pc.MinConns != 3 || pc.ConnConfig.Database != "agentical" ||
		pc.ConnConfig.RuntimeParams["statement_timeout"] != "15000" || pc.ConnConfig.RuntimeParams["application_name"] != "api" {
		t.Errorf("PoolConfig: MaxConns %d MinConns %d Database %q params %v",
			pc.MaxConns, pc.MinConns, pc.ConnConfig.Database, pc.ConnConfig.RuntimeParams)
	}
}

// Distinctive passwords; none may reach any rendering or error.
const (
	pgPW      = "pgPW-7f3a9c"
	pgQueryPW = "pgQueryPW-51be"
	redisPW   = "rdPW-b81e0d"
	surrURLPW = "suUrlPW-9e0f"
	surrPW    = "srPW-44d1aa"
)

var secrets = []string{pgPW, pgQueryPW, redisPW, surrURLPW, surrPW}

func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, pw := range secrets {
		// Also the first half, in case of truncation or re-encoding.
		for _, frag := range []string{pw, pw[:len(pw)/2+1], url.QueryEscape(pw)} {
			if strings.Contains(s, frag) {
				t.Errorf("%s leaks %q:\n%s", what, frag, s)
			}
		}
	}
}

func TestRenderingRedactsPasswords(t *testing.T) {
	for _, dbURL := range []string{
		"postgres://app:" + pgPW + "@db.internal:5432/agentical?sslmode=require",
		"postgres://app@db.internal:5432/agentical?password=" + pgQueryPW,
	} {
		c := load(t, map[string]string{
			"APP_ENV":            "production",
			"DATABASE_URL":       dbURL,
			"REDIS_URL":          "rediss://default:" + redisPW + "@cache.internal:6380/2",
			"SURREALDB_URL":      "wss://svc:" + surrURLPW + "@surreal.internal/rpc",
			"SURREALDB_USERNAME": "svc",
			"SURREALDB_PASSWORD": surrPW,
		})
		// The real values are still there for the code that connects.
		if !strings.Contains(c.Database.URL+c.Redis.URL+c.Surreal.URL+c.Surreal.Password, "PW-") {
			t.Fatal("loaded config lost its credentials")
		}

		var out []string
		for _, v := range []any{c, &c, c.Database, &c.Database, c.Redis, c.Surreal} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				out = append(out, fmt.Sprintf(verb, v))
			}
		}
		// db.Config has String but no GoString or LogValue: only these verbs redact.
		for _, verb := range []string{"%v", "%+v", "%s"} {
			out = append(out, fmt.Sprintf(verb, c.DB()))
		}
		var logBuf bytes.Buffer
		for _, h := range []slog.Handler{slog.NewJSONHandler(&logBuf, nil), slog.NewTextHandler(&logBuf, nil)} {
			l := slog.New(h)
			l.Info("config", "cfg", c, "ptr", &c)
			l.Info("sections", "db", c.Database, "redis", c.Redis, "surreal", c.Surreal)
			l.Info("inline", slog.Any("cfg", c))
		}
		out = append(out, logBuf.String())
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(js))
		js, err = json.Marshal(map[string]any{"surreal": c.Surreal, "db": &c.Database})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(js))

		all := strings.Join(out, "\n")
		assertNoSecret(t, "rendering", all)
		// The renderings still say what is configured.
		for _, want := range []string{"xxxxx", "db.internal", "cache.internal", "surreal.internal", "DB_POOL_SIZE", "PoolSize: 25"} {
			if !strings.Contains(all, want) {
				t.Errorf("renderings lack %q:\n%s", want, all)
			}
		}
	}
}

func TestSlogGroupsByVariableName(t *testing.T) {
	c := load(t, map[string]string{"DATABASE_URL": "postgres://app:" + pgPW + "@h/db", "SURREALDB_PASSWORD": surrPW})
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "config", c)
	var rec struct {
		Config struct {
			AppEnv   string         `json:"APP_ENV"`
			Database map[string]any `json:"database"`
			Surreal  map[string]any `json:"surreal"`
		} `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v in %s", err, buf.String())
	}
	got := rec.Config
	if got.AppEnv != "development" || got.Database["DB_POOL_SIZE"] != float64(10) ||
		got.Database["DATABASE_URL"] != "postgres://app:xxxxx@h/db" || got.Database["DB_POOL_TIMEOUT"] != "30s" ||
		got.Surreal["SURREALDB_PASSWORD"] != "xxxxx" {
		t.Errorf("log record: %s", buf.String())
	}
}

func TestErrorsRedactPasswords(t *testing.T) {
	prod := func(kv ...string) map[string]string {
		return m(append([]string{"APP_ENV", "production", "DATABASE_URL", "postgres://h/db"}, kv...)...)
	}
	cases := []map[string]string{
		m("DATABASE_URL", "mysql://app:"+pgPW+"@h/db"),
		m("DATABASE_URL", "postgres://app:"+pgPW+"%zz@h/db"),
		m("DATABASE_URL", "app:"+pgPW+"@h/db"),
		m("DATABASE_URL", "host=h user=app password="+pgPW),
		m("DATABASE_URL", "mysql://app@h/db?password="+pgQueryPW),
		m("DATABASE_URL", "postgres://app:"+pgPW+"@h/db", "DB_POOL_SIZE", "0", "DB_MIN_CONNS", "x"),
		m("REDIS_URL", "redis://:"+redisPW+"@cache/notanumber"),
		m("REDIS_URL", "http://:"+redisPW+"@cache"),
		m("REDIS_URL", "redis://:"+redisPW+"@/0"),
		m("REDIS_URL", ":"+redisPW+"@cache:6379"),
		m("SURREALDB_URL", "postgres://u:"+surrURLPW+"@h"),
		m("SURREALDB_URL", "ws://u:"+surrURLPW+"@/rpc", "SURREALDB_PASSWORD", surrPW),
		prod("SURREALDB_URL", "ws://h", "SURREALDB_PASSWORD", surrPW),
		m("SURREALDB_URL", "ws://h", "SURREALDB_USERNAME", "", "SURREALDB_PASSWORD", surrPW, "APP_ENV", "bogus"),
	}
	for _, vars := range cases {
		err, errs := loadErr(t, vars)
		if len(errs) == 0 {
			t.Errorf("%v: no *config.Error in %v", vars, err)
		}
		text := err.Error() + "\n" + fmt.Sprintf("%v %+v %#v", err, err, errs)
		for _, e := range errs {
			text += "\n" + e.Reason
		}
		assertNoSecret(t, fmt.Sprintf("error for %v", vars), text)
	}
}
