package devserver_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/internal/devserver"
)

func startPostgres(t testing.TB, cfg devserver.PostgresConfig) *devserver.Postgres {
	t.Helper()
	pg, err := devserver.StartPostgres(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return pg
}

func TestStartPostgres(t *testing.T) {
	pg := startPostgres(t, devserver.PostgresConfig{Settings: map[string]string{"application_name": "devserver_test"}})
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	var fsync, maxConns, listen, encoding, appName string
	var super bool
	err = conn.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('max_connections'),
		current_setting('listen_addresses'), pg_encoding_to_char(encoding), current_setting('application_name'),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
		FROM pg_database WHERE datname = current_database()`).Scan(&fsync, &maxConns, &listen, &encoding, &appName, &super)
	if err != nil {
		t.Fatal(err)
	}
	if fsync != "off" || maxConns != "200" || listen != "127.0.0.1" || encoding != "UTF8" || !super {
		t.Errorf("settings: fsync=%s max_connections=%s listen=%s encoding=%s superuser=%v", fsync, maxConns, listen, encoding, super)
	}
	// Settings override defaults; application_name is a server default for
	// clients that do not set their own.
	if appName != "devserver_test" && appName != "" {
		t.Errorf("application_name = %q", appName)
	}
	conn.Close(ctx)

	// As root, the cluster belongs to the postgres user (PostgreSQL refuses root).
	fi, err := os.Stat(filepath.Join(pg.SocketDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && fileUID(fi) == 0 {
		t.Errorf("data directory owned by root; expected the postgres user")
	}

	// The unix socket lives in the server's own directory.
	if _, err := os.Stat(filepath.Join(pg.SocketDir(), ".s.PGSQL."+itoa(pg.Port()))); err != nil {
		t.Errorf("socket: %v", err)
	}
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pg.SocketDir()); !os.IsNotExist(err) {
		t.Errorf("directory %s not removed after Stop: %v", pg.SocketDir(), err)
	}
	if c, err := pgx.Connect(ctx, pg.DSN()); err == nil {
		c.Close(ctx)
		t.Error("connected after Stop")
	}
	if err := pg.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartPostgresTwiceUsesDistinctPorts(t *testing.T) {
	a := startPostgres(t, devserver.PostgresConfig{})
	b := startPostgres(t, devserver.PostgresConfig{})
	if a.Port() == b.Port() || a.SocketDir() == b.SocketDir() {
		t.Fatalf("servers share port %d or dir %s", a.Port(), a.SocketDir())
	}
	for _, pg := range []*devserver.Postgres{a, b} {
		c, err := pgx.Connect(t.Context(), pg.DSN())
		if err != nil {
			t.Fatal(err)
		}
		c.Close(t.Context())
	}
}

func TestStartRedisStopStart(t *testing.T) {
	ctx := t.Context()
	r, err := devserver.StartRedis(ctx, devserver.RedisConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	if err := devserver.Ping(ctx, r.Addr()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL = %s", r.URL())
	}
	addr := r.Addr()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Running() {
		t.Error("Running after Stop")
	}
	if err := devserver.Ping(ctx, addr); err == nil {
		t.Fatal("PING answered after Stop")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Addr() != addr {
		t.Errorf("address changed across restart: %s -> %s", addr, r.Addr())
	}
	if err := devserver.Ping(ctx, addr); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	if err := r.Start(ctx); err != nil {
		t.Errorf("Start while running: %v", err)
	}
}

func TestNotInstalled(t *testing.T) {
	empty := t.TempDir()
	_, err := devserver.StartPostgres(t.Context(), devserver.PostgresConfig{BinDir: empty})
	if !errors.Is(err, devserver.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install postgresql") ||
		!strings.Contains(err.Error(), empty) {
		t.Errorf("postgres error = %v", err)
	}
	_, err = devserver.StartRedis(t.Context(), devserver.RedisConfig{Binary: filepath.Join(empty, "redis-server")})
	if !errors.Is(err, devserver.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install redis-server") {
		t.Errorf("redis error = %v", err)
	}
}

// probeFails is a container runtime whose probe fails, as with no Docker.
type probeFails struct{ starts int }

func (p *probeFails) Probe(context.Context) error { return errors.New("no docker here") }
func (p *probeFails) StartPostgres(context.Context) (string, func(context.Context) error, error) {
	p.starts++
	return "", nil, errors.New("must not be called")
}
func (p *probeFails) StartRedis(context.Context) (string, func(context.Context) error, error) {
	p.starts++
	return "", nil, errors.New("must not be called")
}

func TestAcquireURLIsUsedAsIs(t *testing.T) {
	rt := &probeFails{}
	const dsn = "postgres://u:secret@db.invalid:5432/x"
	s, err := devserver.AcquirePostgres(t.Context(), devserver.AcquireConfig{URL: dsn, Containers: rt})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != dsn || s.Source != devserver.SourceURL || rt.starts != 0 {
		t.Errorf("got %+v, container starts %d", s, rt.starts)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop of a URL server: %v", err)
	}
}

func TestAcquireFallsBackToLocal(t *testing.T) {
	ctx := t.Context()
	rt := &probeFails{}
	pg, err := devserver.AcquirePostgres(ctx, devserver.AcquireConfig{Containers: rt})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop(context.Background())
	if pg.Source != devserver.SourceLocal || pg.LocalPostgres == nil || len(pg.Skipped) != 1 ||
		!strings.Contains(pg.Skipped[0].Error(), "no docker here") || rt.starts != 0 {
		t.Errorf("postgres: %+v", pg)
	}
	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)

	r, err := devserver.AcquireRedis(ctx, devserver.AcquireConfig{Containers: rt})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	if r.Source != devserver.SourceLocal || r.LocalRedis == nil {
		t.Errorf("redis: %+v", r)
	}
	if err := devserver.Ping(ctx, r.LocalRedis.Addr()); err != nil {
		t.Error(err)
	}
}

func TestAcquireNothingWorksSaysWhatToInstall(t *testing.T) {
	empty := t.TempDir()
	_, err := devserver.AcquirePostgres(t.Context(), devserver.AcquireConfig{
		URLName:    "TEST_DATABASE_URL",
		Containers: &probeFails{},
		Postgres:   devserver.PostgresConfig{BinDir: empty},
	})
	var ue *devserver.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, devserver.ErrUnavailable) || !errors.Is(err, devserver.ErrNotInstalled) {
		t.Fatalf("error %v (%T) does not match ErrUnavailable/ErrNotInstalled", err, err)
	}
	t.Log(err)
	for _, want := range []string{"no PostgreSQL server available", "no docker here", "apt-get install postgresql",
		"start Docker", "set TEST_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	_, err = devserver.AcquireRedis(t.Context(), devserver.AcquireConfig{
		URLName: "TEST_REDIS_URL",
		Redis:   devserver.RedisConfig{Binary: filepath.Join(empty, "redis-server")},
	})
	if !errors.Is(err, devserver.ErrUnavailable) || !strings.Contains(err.Error(), "apt-get install redis-server") ||
		!strings.Contains(err.Error(), "set TEST_REDIS_URL") || strings.Contains(err.Error(), "start Docker") {
		t.Errorf("redis error:\n%v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=s3cret&sslmode=disable", "postgres://h/db?password=xxxxx&sslmode=disable"},
		{"redis://:s3cret@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"host=h user=u password=s3cret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='s3 cret' dbname=d", "host=h password=xxxxx dbname=d"},
		{"postgres://u:s3cret@h:99999999999/%zz", "postgres://xxxxx@h:99999999999/%zz"},
	} {
		got := devserver.RedactURL(tc.in)
		if got != tc.want || strings.Contains(got, "s3") {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Cold start and stop of each server, one after the other in one run.
func BenchmarkStartStop(b *testing.B) {
	ctx := context.Background()
	for _, pg := range []struct {
		name string
		cfg  devserver.PostgresConfig
	}{
		{"postgres_initdb", devserver.PostgresConfig{NoClusterCache: true}},
		{"postgres_cached_cluster", devserver.PostgresConfig{}},
	} {
		b.Run(pg.name, func(b *testing.B) {
			b.ReportAllocs()
			var starting time.Duration
			for b.Loop() {
				t0 := time.Now()
				s, err := devserver.StartPostgres(ctx, pg.cfg)
				if err != nil {
					b.Fatal(err)
				}
				starting += time.Since(t0)
				if err := s.Stop(ctx); err != nil {
					b.Fatal(err)
				}
			}
			// The start alone, until the server accepts connections.
			b.ReportMetric(float64(starting.Milliseconds())/float64(b.N), "start-ms/op")
		})
	}
	b.Run("redis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := devserver.StartRedis(ctx, devserver.RedisConfig{})
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Stop(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redis_restart", func(b *testing.B) {
		r, err := devserver.StartRedis(ctx, devserver.RedisConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Stop(ctx)
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestClusterCache(t *testing.T) {
	c0 := startPostgres(t, devserver.PostgresConfig{})
	parent := filepath.Dir(c0.SocketDir())
	if err := c0.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The documented cache location (beside the server's directory) holds an
	// initialised cluster now.
	t.Logf("servers live in %s", parent)
	entries, _ := filepath.Glob(filepath.Join(parent, "devserver-pgcache-"+itoa(os.Geteuid()), "*", "PG_VERSION"))
	if len(entries) == 0 {
		t.Fatal("no cached cluster after a start")
	}
	// A start without the cache works too.
	for _, cfg := range []devserver.PostgresConfig{{NoClusterCache: true}} {
		pg := startPostgres(t, cfg)
		c, err := pgx.Connect(t.Context(), pg.DSN())
		if err != nil {
			t.Fatal(err)
		}
		var one int
		if err := c.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("NoClusterCache=%v: %d, %v", cfg.NoClusterCache, one, err)
		}
		c.Close(t.Context())
	}
}

// Directories left by a killed test binary are removed by the next start;
// those of live processes are not.
func TestStartSweepsAbandonedDirs(t *testing.T) {
	parent := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Minute)
	mk := func(name string, pid int) string {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "devserver.owner"), []byte(itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	abandoned := mk("devserver-redis-abandoned", dead.Process.Pid)
	alive := mk("devserver-redis-alive", 1)

	r, err := devserver.StartRedis(t.Context(), devserver.RedisConfig{Dir: parent})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Errorf("abandoned dir kept: %v", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("dir of a live owner removed: %v", err)
	}
}
