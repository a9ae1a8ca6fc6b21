package config

import (
	"log/slog"
	"time"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/tlsconfig"
)

// Profile selects a set of defaults (APP_ENV).
type Profile string

const (
	// Development targets a developer machine: local servers, auto-migrate,
	// no circuit breaker. It is the profile when APP_ENV is unset.
	Development Profile = "development"
	// Production requires DATABASE_URL and favours failing fast: larger
	// pool, stricter slow-query threshold, circuit breaker on, no
	// auto-migrate.
	Production Profile = "production"
)

// UnmarshalText accepts exactly "development" or "production".
func (p *Profile) UnmarshalText(b []byte) error {
	switch v := Profile(b); v {
	case Development, Production:
		*p = v
		return nil
	}
	return errBadProfile
}

// Config is the whole configuration of a datalayer service, as read from
// the environment by Load or FromMap. Defaults(profile) gives the values
// used for unset variables. Printing or logging a Config (fmt, slog,
// encoding/json) redacts every password.
type Config struct {
	// Profile is APP_ENV.
	Profile    Profile
	Database   Database
	Redis      Redis
	Surreal    Surreal
	Resilience Resilience
}

// Database configures the PostgreSQL pool and its tracer.
type Database struct {
	// URL is a postgres:// or postgresql:// connection URL.
	URL string `env:"DATABASE_URL"`
	// PoolSize is the number of connections the pool is sized for.
	PoolSize int32 `env:"DB_POOL_SIZE"`
	// MaxOverflow is how many connections may be opened beyond PoolSize
	// under load (SQLAlchemy's max_overflow): pgxpool's MaxConns is
	// PoolSize + MaxOverflow. pgxpool has no separate overflow tier; idle
	// connections above MinConns are closed after 30 minutes.
	MaxOverflow int32 `env:"DB_MAX_OVERFLOW"`
	// MinConns is the number of connections kept open when idle.
	MinConns int32 `env:"DB_MIN_CONNS"`
	// PoolTimeout is how long a caller should wait to acquire a connection
	// from a busy pool before giving up (pgxpool has no such setting: bound
	// Acquire with a context deadline).
	PoolTimeout time.Duration `env:"DB_POOL_TIMEOUT"`
	// MaxConnLifetime recycles connections older than this.
	MaxConnLifetime time.Duration `env:"DB_MAX_CONN_LIFETIME"`
	// ConnectTimeout bounds establishing one connection.
	ConnectTimeout time.Duration `env:"DB_CONNECT_TIMEOUT"`
	// StatementTimeout is the session's statement_timeout; 0 keeps the
	// server's setting.
	StatementTimeout time.Duration `env:"DB_STATEMENT_TIMEOUT"`
	// ApplicationName appears in pg_stat_activity.
	ApplicationName string `env:"DB_APPLICATION_NAME"`
	// SlowQueryThreshold: queries slower than this are logged.
	SlowQueryThreshold time.Duration `env:"SLOW_QUERY_THRESHOLD"`
	// LogQueryArgs lets the tracer log argument values of slow queries.
	// They can hold personal data: keep it off in production.
	LogQueryArgs bool `env:"LOG_QUERY_ARGS"`
	// AutoMigrate applies pending migrations at start-up.
	AutoMigrate bool `env:"AUTO_MIGRATE"`
	// PasswordFile, if set, holds the password (first line), read again for
	// every new connection, so a rotated password needs no restart. It wins
	// over a password in URL.
	PasswordFile string `env:"DB_PASSWORD_FILE"`
	// TLSCAFile, TLSCertFile, TLSKeyFile and TLSServerName turn TLS on:
	// the CA that signed the server's certificate, a client certificate and
	// key, and the name to verify (default the URL's host).
	TLSCAFile     string `env:"DB_TLS_CA_FILE"`
	TLSCertFile   string `env:"DB_TLS_CERT_FILE"`
	TLSKeyFile    string `env:"DB_TLS_KEY_FILE"`
	TLSServerName string `env:"DB_TLS_SERVER_NAME"`
}

// Redis configures the cache's Redis connection.
type Redis struct {
	// URL is a redis:// or rediss:// URL; its path selects the database.
	URL string `env:"REDIS_URL"`
	// MaxConnections bounds the connections used for blocking commands and
	// transactions (ordinary commands share pipelined connections).
	MaxConnections int `env:"REDIS_MAX_CONNECTIONS"`
	// DefaultTTL is the lifetime of a cached entry when a query sets none.
	DefaultTTL time.Duration `env:"REDIS_DEFAULT_TTL"`
	// ClientCache turns on RESP3 client-side caching (CLIENT TRACKING).
	// Turn it off for servers that do not support tracking.
	ClientCache bool `env:"REDIS_CLIENT_CACHE"`
	// PasswordFile, if set, holds the ACL password (first line; the user
	// name comes from URL), read again on every (re)connect.
	PasswordFile string `env:"REDIS_PASSWORD_FILE"`
	// CacheSecretFile, if set, holds the key (at least 16 bytes; a
	// trailing newline is ignored) that binds every cached value to its key
	// with an HMAC, so whoever can write to Redis cannot inject rows that
	// verify. Unset: a built-in key still catches corruption and values
	// copied between keys.
	CacheSecretFile string `env:"REDIS_CACHE_SECRET_FILE"`
	// TLS settings for a rediss:// URL: a private CA, a client certificate
	// and key, and the name to verify (default the URL's host).
	TLSCAFile     string `env:"REDIS_TLS_CA_FILE"`
	TLSCertFile   string `env:"REDIS_TLS_CERT_FILE"`
	TLSKeyFile    string `env:"REDIS_TLS_KEY_FILE"`
	TLSServerName string `env:"REDIS_TLS_SERVER_NAME"`
}

// Surreal configures the SurrealDB store. An empty URL means the store is
// not used.
type Surreal struct {
	// URL is a ws://, wss://, http:// or https:// endpoint.
	URL       string `env:"SURREALDB_URL"`
	Username  string `env:"SURREALDB_USERNAME"`
	Password  string `env:"SURREALDB_PASSWORD"`
	Namespace string `env:"SURREALDB_NAMESPACE"`
	Database  string `env:"SURREALDB_DATABASE"`
	// PasswordFile, if set, holds the password (first line), read again
	// for every new connection; it wins over SURREALDB_PASSWORD.
	PasswordFile string `env:"SURREALDB_PASSWORD_FILE"`
	// TLS settings for a wss:// or https:// URL.
	TLSCAFile     string `env:"SURREALDB_TLS_CA_FILE"`
	TLSCertFile   string `env:"SURREALDB_TLS_CERT_FILE"`
	TLSKeyFile    string `env:"SURREALDB_TLS_KEY_FILE"`
	TLSServerName string `env:"SURREALDB_TLS_SERVER_NAME"`
}

// Enabled reports whether a SurrealDB endpoint is configured.
func (s Surreal) Enabled() bool { return s.URL != "" }

// Resilience configures retries and the circuit breaker around data access.
type Resilience struct {
	// BreakerEnabled turns the circuit breaker on.
	BreakerEnabled bool `env:"CIRCUIT_BREAKER_ENABLED"`
	// BreakerThreshold is the number of consecutive infrastructure failures
	// that opens the breaker.
	BreakerThreshold int `env:"CIRCUIT_BREAKER_THRESHOLD"`
	// MaxRetryAttempts is the number of retries after the first attempt;
	// 0 disables retrying.
	MaxRetryAttempts int `env:"MAX_RETRY_ATTEMPTS"`
}

// Defaults returns the configuration used for every unset variable under
// profile p. Anything but Production gets the Development defaults.
func Defaults(p Profile) Config {
	if p == Production {
		return Config{
			Profile: Production,
			Database: Database{
				URL:                "", // required
				PoolSize:           25,
				MaxOverflow:        10,
				MinConns:           2,
				PoolTimeout:        10 * time.Second,
				MaxConnLifetime:    time.Hour,
				ConnectTimeout:     5 * time.Second,
				ApplicationName:    "datalayer",
				SlowQueryThreshold: 100 * time.Millisecond,
			},
			Redis: Redis{
				URL:            "redis://localhost:6379/0",
				MaxConnections: 100,
				DefaultTTL:     time.Hour,
				ClientCache:    true,
			},
			Surreal: Surreal{
				Namespace: "agentical",
				Database:  "main",
			},
			Resilience: Resilience{
				BreakerEnabled:   true,
				BreakerThreshold: 5,
				MaxRetryAttempts: 3,
			},
		}
	}
	return Config{
		Profile: Development,
		Database: Database{
			URL:                "postgres://postgres@localhost:5432/agentical?sslmode=disable",
			PoolSize:           10,
			MinConns:           0,
			PoolTimeout:        30 * time.Second,
			MaxConnLifetime:    time.Hour,
			ConnectTimeout:     5 * time.Second,
			ApplicationName:    "datalayer",
			SlowQueryThreshold: 500 * time.Millisecond,
			AutoMigrate:        true,
		},
		Redis: Redis{
			URL:            "redis://localhost:6379/0",
			MaxConnections: 10,
			DefaultTTL:     5 * time.Minute,
			ClientCache:    true,
		},
		Surreal: Surreal{
			Username:  "root",
			Namespace: "agentical",
			Database:  "main",
		},
		Resilience: Resilience{
			BreakerEnabled:   false,
			BreakerThreshold: 5,
			MaxRetryAttempts: 3,
		},
	}
}

// DB maps the database section to a postgres.Config for postgres.NewPool,
// or postgres.NewBoundedPool, which enforces PoolTimeout as the acquire
// timeout (pgxpool itself has none): MaxConns is DB_POOL_SIZE +
// DB_MAX_OVERFLOW, MinConns DB_MIN_CONNS. The tracer settings map through
// DBTracer.
func (c Config) DB() postgres.Config {
	d := c.Database
	return postgres.Config{
		URL:              d.URL,
		MaxConns:         d.PoolSize + d.MaxOverflow,
		MinConns:         d.MinConns,
		AcquireTimeout:   d.PoolTimeout,
		MaxConnLifetime:  d.MaxConnLifetime,
		ConnectTimeout:   d.ConnectTimeout,
		StatementTimeout: d.StatementTimeout,
		ApplicationName:  d.ApplicationName,
		PasswordFile:     d.PasswordFile,
		TLS:              tlsconfig.Files{CAFile: d.TLSCAFile, CertFile: d.TLSCertFile, KeyFile: d.TLSKeyFile, ServerName: d.TLSServerName},
	}
}

// DBTracer maps SLOW_QUERY_THRESHOLD and LOG_QUERY_ARGS to a
// postgres.TracerConfig for postgres.NewTracer, logging through logger.
func (c Config) DBTracer(logger *slog.Logger) postgres.TracerConfig {
	return postgres.TracerConfig{
		Logger:        logger,
		SlowThreshold: c.Database.SlowQueryThreshold,
		LogArgs:       c.Database.LogQueryArgs,
	}
}
