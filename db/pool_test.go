package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/internal/testinfra"
)

func show(t *testing.T, e *env, setting string) string {
	t.Helper()
	return scalar[string](t, e, "SHOW "+setting)
}

func TestPoolSessionSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testinfra.Postgres(t)

	t.Run("configured", func(t *testing.T) {
		pool := newPool(t, postgres.Config{URL: dsn, StatementTimeout: 1500 * time.Millisecond, ApplicationName: "dbtest-app", MaxConns: 3})
		e := &env{Pool: pool}
		eq(t, "statement_timeout", show(t, e, "statement_timeout"), "1500ms")
		eq(t, "application_name", show(t, e, "application_name"), "dbtest-app")
		eq(t, "TimeZone", show(t, e, "TimeZone"), "UTC")
		eq(t, "now() rendered in UTC", strings.HasSuffix(scalar[string](t, e, "SELECT now()::text"), "+00"), true)
		eq(t, "pg_stat_activity sees the name", scalar[bool](t, e,
			`SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'dbtest-app' AND pid = pg_backend_pid()`), true)
		eq(t, "MaxConns", postgres.Stats(pool).MaxConns, int32(3))
	})

	t.Run("defaults", func(t *testing.T) {
		pool := newPool(t, postgres.Config{URL: dsn})
		e := &env{Pool: pool}
		eq(t, "application_name", show(t, e, "application_name"), "datalayer")
		eq(t, "TimeZone", show(t, e, "TimeZone"), "UTC")
		eq(t, "statement_timeout (server default)", show(t, e, "statement_timeout"), "0")
		eq(t, "MaxConns", postgres.Stats(pool).MaxConns, int32(10))
	})

	t.Run("statement timeout cancels", func(t *testing.T) {
		pool := newPool(t, postgres.Config{URL: dsn, StatementTimeout: 50 * time.Millisecond})
		_, err := pool.Exec(ctx, "SELECT pg_sleep(5)")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("err = %v, want query_canceled (57014)", err)
		}
	})
}

func TestPoolConfig(t *testing.T) {
	t.Parallel()
	pc, err := postgres.Config{URL: "postgres://app@127.0.0.1:5432/x"}.PoolConfig()
	noErr(t, err)
	eq(t, "MaxConns", pc.MaxConns, int32(10))
	eq(t, "MinConns", pc.MinConns, int32(0))
	eq(t, "MaxConnLifetime", pc.MaxConnLifetime, time.Hour)
	eq(t, "MaxConnLifetimeJitter", pc.MaxConnLifetimeJitter, 6*time.Minute)
	eq(t, "MaxConnIdleTime", pc.MaxConnIdleTime, 30*time.Minute)
	eq(t, "HealthCheckPeriod", pc.HealthCheckPeriod, time.Minute)
	eq(t, "ConnectTimeout", pc.ConnConfig.ConnectTimeout, 5*time.Second)
	eq(t, "timezone", pc.ConnConfig.RuntimeParams["timezone"], "UTC")
	if _, ok := pc.ConnConfig.RuntimeParams["statement_timeout"]; ok {
		t.Error("statement_timeout sent although not configured")
	}
	if pc.ConnConfig.Tracer != nil {
		t.Error("tracer set although not configured")
	}

	tr := postgres.NewTracer(postgres.TracerConfig{})
	pc, err = postgres.Config{
		URL: "host=127.0.0.1 user=app dbname=x", MaxConns: 7, MinConns: 2, MaxConnLifetime: 10 * time.Minute,
		MaxConnLifetimeJitter: time.Second, MaxConnIdleTime: time.Minute, HealthCheckPeriod: 5 * time.Second,
		ConnectTimeout: 2 * time.Second, StatementTimeout: 3 * time.Second, ApplicationName: "svc", Tracer: tr,
	}.PoolConfig()
	noErr(t, err)
	eq(t, "MaxConns", pc.MaxConns, int32(7))
	eq(t, "MinConns", pc.MinConns, int32(2))
	eq(t, "MaxConnLifetime", pc.MaxConnLifetime, 10*time.Minute)
	eq(t, "MaxConnLifetimeJitter", pc.MaxConnLifetimeJitter, time.Second)
	eq(t, "MaxConnIdleTime", pc.MaxConnIdleTime, time.Minute)
	eq(t, "HealthCheckPeriod", pc.HealthCheckPeriod, 5*time.Second)
	eq(t, "ConnectTimeout", pc.ConnConfig.ConnectTimeout, 2*time.Second)
	eq(t, "statement_timeout", pc.ConnConfig.RuntimeParams["statement_timeout"], "3000")
	eq(t, "application_name", pc.ConnConfig.RuntimeParams["application_name"], "svc")
	if pc.ConnConfig.Tracer != tr {
		t.Error("tracer not installed")
	}

	// A positive timeout below a millisecond must not become "0" (no timeout).
	pc, err = postgres.Config{URL: "postgres://h/x", StatementTimeout: 500 * time.Microsecond}.PoolConfig()
	if err == nil && pc.ConnConfig.RuntimeParams["statement_timeout"] == "0" {
		t.Errorf("StatementTimeout 500µs is sent as statement_timeout=0, which disables the timeout")
	}

	for _, c := range []struct {
		cfg  postgres.Config
		want string
	}{
		{postgres.Config{}, "URL is empty"},
		{postgres.Config{URL: "postgres://h/x", MaxConns: -1}, "MaxConns"},
		{postgres.Config{URL: "postgres://h/x", MaxConns: 2, MinConns: 3}, "MinConns"},
		{postgres.Config{URL: "postgres://h/x", StatementTimeout: -time.Second}, "StatementTimeout"},
	} {
		_, err := c.cfg.PoolConfig()
		if err == nil || !strings.HasPrefix(err.Error(), "postgres: config: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PoolConfig(%v) error = %v, want a postgres: config: error about %s", c.cfg, err, c.want)
		}
	}
}

// Connection failures and parse errors never carry the password.
func TestPoolErrorsRedactPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://app:hunter2-pw@127.0.0.1:1/x?connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password=hunter2-pw dbname=x connect_timeout=2",
		"host=127.0.0.1 port=notaport user=app password=hunter2-pw",
		"postgres://app:hunter2-pw@127.0.0.1:1/x?sslmode=bogus",
		"postgres://app:hunter2-pw@[::1/x",
	} {
		_, err := postgres.NewPool(ctx, postgres.Config{URL: dsn, ConnectTimeout: 2 * time.Second})
		if err == nil {
			t.Errorf("NewPool(%s) succeeded", postgres.RedactDSN(dsn))
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("error not package-prefixed: %v", err)
		}
	}
}
