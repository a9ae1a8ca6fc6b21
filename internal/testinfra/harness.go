package testinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/devserver/dockerserver"
	"github.com/agentical/datalayer/internal/redact"
)

// Config says where a Harness gets its servers. The zero value means: no
// URLs, Docker when it answers, local binaries with default settings, schema
// in <module root>/schema. ConfigFromEnv fills it from TEST_* variables.
type Config struct {
	// DatabaseURL is a PostgreSQL DSN of a user allowed to create databases;
	// when set, no server is started. Its database is used for administration.
	DatabaseURL string
	// RedisURL is a redis:// or rediss:// URL; when set, no server is started.
	RedisURL string
	// NoDocker skips the Docker path.
	NoDocker bool
	// Docker configures the Docker path (probe deadline, images).
	Docker dockerserver.Config
	// Postgres configures the local PostgreSQL fallback.
	Postgres devserver.PostgresConfig
	// Redis configures the local Redis fallback and PrivateRedis.
	Redis devserver.RedisConfig
	// SchemaDir is the default schema directory; empty means
	// <module root>/schema, the module root being the nearest enclosing
	// directory whose go.mod declares github.com/agentical/datalayer.
	SchemaDir string
}

// Environment variables read by ConfigFromEnv.
const (
	EnvDatabaseURL = "TEST_DATABASE_URL"
	EnvRedisURL    = "TEST_REDIS_URL"
	EnvDocker      = "TEST_DOCKER" // "0", "false", "off" or "no" skip Docker
)

// ConfigFromEnv reads TEST_DATABASE_URL, TEST_REDIS_URL and TEST_DOCKER.
func ConfigFromEnv() Config {
	docker := strings.ToLower(strings.TrimSpace(os.Getenv(EnvDocker)))
	return Config{
		DatabaseURL: os.Getenv(EnvDatabaseURL),
		RedisURL:    os.Getenv(EnvRedisURL),
		NoDocker:    docker == "0" || docker == "false" || docker == "off" || docker == "no",
	}
}

// Harness owns the servers of one test binary. Its methods are safe for
// concurrent use by parallel tests. The package-level functions use a
// Harness built from ConfigFromEnv; tests of the harness itself build their
// own with New.
type Harness struct {
	cfg Config

	pgOnce sync.Once
	pg     *devserver.Server
	pgErr  error
	admin  *pgxpool.Pool
	pgVer  int  // server_version_num
	fsync  bool // the server's fsync setting; picks the clone strategy

	tmplMu    sync.Mutex
	templates map[string]*template // by absolute schema dir

	redisOnce   sync.Once
	redis       *devserver.Server
	redisOpt    rueidis.ClientOption
	redisClient rueidis.Client
	redisErr    error

	closeMu sync.Mutex
	closed  bool
}

type template struct {
	once sync.Once
	name string
	err  error
}

// New returns a Harness that starts nothing until first use.
func New(cfg Config) *Harness {
	return &Harness{cfg: cfg, templates: map[string]*template{}}
}

// startTimeout bounds a server start; it is independent of any one test's
// context because the server outlives that test.
const startTimeout = 3 * time.Minute

func (h *Harness) acquireConfig(url, urlName string) devserver.AcquireConfig {
	ac := devserver.AcquireConfig{URL: url, URLName: urlName, Postgres: h.cfg.Postgres, Redis: h.cfg.Redis}
	if !h.cfg.NoDocker {
		ac.Containers = dockerserver.New(h.cfg.Docker)
	}
	return ac
}

// PostgresURL starts the PostgreSQL server on first use and returns a
// superuser DSN of its administrative database.
func (h *Harness) PostgresURL(ctx context.Context) (string, error) {
	if err := h.ensurePostgres(ctx); err != nil {
		return "", err
	}
	return h.pg.URL, nil
}

func (h *Harness) ensurePostgres(ctx context.Context) error {
	if err := h.checkOpen(); err != nil {
		return err
	}
	h.pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
		defer cancel()
		h.pg, h.pgErr = devserver.AcquirePostgres(ctx, h.acquireConfig(h.cfg.DatabaseURL, EnvDatabaseURL))
		if h.pgErr != nil {
			h.pgErr = fmt.Errorf("testinfra: %w", h.pgErr)
			return
		}
		h.pgErr = h.connectAdmin(ctx)
	})
	return h.pgErr
}

func (h *Harness) connectAdmin(ctx context.Context) error {
	redacted := devserver.RedactURL(h.pg.URL)
	cfg, err := pgxpool.ParseConfig(h.pg.URL)
	if err != nil {
		// pgx echoes the DSN in parse errors; say only which one failed.
		return fmt.Errorf("testinfra: %s: cannot parse PostgreSQL DSN %s", sourceName(h.pg.Source, EnvDatabaseURL), redacted)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int, current_setting('fsync') = 'on'").Scan(&h.pgVer, &h.fsync)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("testinfra: connect to PostgreSQL at %s (from %s): %s", redacted,
			sourceName(h.pg.Source, EnvDatabaseURL), redactIn(err.Error(), h.pg.URL))
	}
	if h.pgVer < 130000 {
		pool.Close()
		return fmt.Errorf("testinfra: PostgreSQL %d at %s is too old: 13 or newer is needed (DROP DATABASE ... WITH (FORCE))", h.pgVer/10000, redacted)
	}
	h.admin = pool
	return nil
}

// RedisURL starts the shared Redis server on first use and returns its URL.
func (h *Harness) RedisURL(ctx context.Context) (string, error) {
	if err := h.ensureRedis(ctx); err != nil {
		return "", err
	}
	return h.redis.URL, nil
}

func (h *Harness) ensureRedis(ctx context.Context) error {
	if err := h.checkOpen(); err != nil {
		return err
	}
	h.redisOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
		defer cancel()
		h.redis, h.redisErr = devserver.AcquireRedis(ctx, h.acquireConfig(h.cfg.RedisURL, EnvRedisURL))
		if h.redisErr != nil {
			h.redisErr = fmt.Errorf("testinfra: %w", h.redisErr)
			return
		}
		redacted := devserver.RedactURL(h.redis.URL)
		h.redisOpt, h.redisErr = rueidis.ParseURL(h.redis.URL)
		if h.redisErr != nil {
			h.redisErr = fmt.Errorf("testinfra: cannot parse Redis URL %s (from %s)", redacted, sourceName(h.redis.Source, EnvRedisURL))
			return
		}
		opt := h.redisOpt
		opt.DisableCache = true // the harness only scans and deletes
		h.redisClient, h.redisErr = rueidis.NewClient(opt)
		if h.redisErr == nil {
			h.redisErr = h.redisClient.Do(ctx, h.redisClient.B().Ping().Build()).Error()
		}
		if h.redisErr != nil {
			h.redisErr = fmt.Errorf("testinfra: connect to Redis at %s (from %s): %s", redacted,
				sourceName(h.redis.Source, EnvRedisURL), redactIn(h.redisErr.Error(), h.redis.URL))
		}
	})
	return h.redisErr
}

// Close stops the servers the harness started. Databases and keys of tests
// still running are not waited for. Calling Close twice is a no-op.
func (h *Harness) Close(ctx context.Context) error {
	h.closeMu.Lock()
	defer h.closeMu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	// Make sure no lazy start races with Close: a start after this point
	// sees closed (checkOpen); a start before it has finished its Once.
	h.pgOnce.Do(func() { h.pgErr = errClosed })
	h.redisOnce.Do(func() { h.redisErr = errClosed })
	var errs []error
	if h.admin != nil {
		h.admin.Close()
	}
	if h.redisClient != nil {
		h.redisClient.Close()
	}
	if err := h.pg.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("testinfra: stop PostgreSQL: %w", err))
	}
	if err := h.redis.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("testinfra: stop Redis: %w", err))
	}
	return errors.Join(errs...)
}

var errClosed = errors.New("testinfra: harness closed (used after testinfra.Main returned?)")

func (h *Harness) checkOpen() error {
	h.closeMu.Lock()
	defer h.closeMu.Unlock()
	if h.closed {
		return errClosed
	}
	return nil
}

func sourceName(s devserver.Source, envName string) string {
	switch s {
	case devserver.SourceURL:
		return envName
	case devserver.SourceContainer:
		return "a Docker container"
	default:
		return "a local server"
	}
}

// redactIn removes the password of dsn from msg, for driver errors that may
// quote it.
func redactIn(msg, dsn string) string { return redact.Text(msg, dsn) }

// randomSuffix returns n random lowercase hex characters.
func randomSuffix(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)[:n]
}
