package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/tlsconfig"
)

// Config describes a connection pool. The zero value of every field but URL
// means the documented default.
type Config struct {
	// URL is the PostgreSQL connection string (URL or key=value form).
	URL string
	// MaxConns is the pool size. Default 10.
	MaxConns int32
	// AcquireTimeout bounds the wait for a free connection of a pool made
	// by NewBoundedPool; then calls fail with ErrPoolExhausted. Default 0:
	// wait for the caller's context (pgxpool's behaviour).
	AcquireTimeout time.Duration
	// MinConns is the number of connections kept open when idle. Default 0.
	MinConns int32
	// MaxConnLifetime closes connections older than this, so that load moves
	// to new servers after a failover. Default 1h.
	MaxConnLifetime time.Duration
	// MaxConnLifetimeJitter spreads the closes so that connections opened
	// together are not all recycled at once. Default a tenth of MaxConnLifetime.
	MaxConnLifetimeJitter time.Duration
	// MaxConnIdleTime closes connections idle for longer. Default 30m.
	MaxConnIdleTime time.Duration
	// HealthCheckPeriod is how often idle connections are checked. Default 1m.
	HealthCheckPeriod time.Duration
	// ConnectTimeout bounds establishing one connection. Default: the URL's
	// connect_timeout, else 5s.
	ConnectTimeout time.Duration
	// StatementTimeout is sent as the session's statement_timeout; the server
	// cancels statements that run longer. Default 0: the server's setting.
	StatementTimeout time.Duration
	// ApplicationName appears in pg_stat_activity. Default "datalayer".
	ApplicationName string
	// Tracer, when set, observes every query (see NewTracer).
	Tracer pgx.QueryTracer
	// PasswordFile, if set, names a file whose first line is the password.
	// It is read again before every new connection (pgx BeforeConnect), so
	// a rotated password (ALTER ROLE, then rewrite the file) needs no
	// restart; it wins over a password in URL. NewPool fails at once when
	// the file cannot be read.
	PasswordFile string
	// PasswordFunc, if set, is called before every new connection for the
	// password (a secrets manager, a cloud IAM token). It wins over
	// PasswordFile.
	PasswordFunc func(ctx context.Context) (string, error)
	// TLS, when any field is set, makes every connection use TLS verified
	// against TLS.CAFile (default: the system's CAs) under TLS.ServerName
	// (default: the URL's host), with an optional client certificate; it
	// overrides the URL's sslmode and never falls back to plaintext.
	TLS tlsconfig.Files
}

func (c Config) withDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 10
	}
	if c.MaxConnLifetime == 0 {
		c.MaxConnLifetime = time.Hour
	}
	if c.MaxConnLifetimeJitter == 0 {
		c.MaxConnLifetimeJitter = c.MaxConnLifetime / 10
	}
	if c.MaxConnIdleTime == 0 {
		c.MaxConnIdleTime = 30 * time.Minute
	}
	if c.HealthCheckPeriod == 0 {
		c.HealthCheckPeriod = time.Minute
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "datalayer"
	}
	return c
}

// String describes the configuration with the password redacted.
func (c Config) String() string {
	d := c.withDefaults()
	return fmt.Sprintf("postgres.Config{URL: %s, MaxConns: %d, MinConns: %d, MaxConnLifetime: %s, MaxConnIdleTime: %s, ConnectTimeout: %s, StatementTimeout: %s, ApplicationName: %q, PasswordFile: %q, TLS: %+v}",
		RedactDSN(c.URL), d.MaxConns, d.MinConns, d.MaxConnLifetime, d.MaxConnIdleTime, d.ConnectTimeout, d.StatementTimeout, d.ApplicationName, c.PasswordFile, c.TLS)
}

// GoString is String, so %#v cannot print the password either.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the password out of slog records.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// PoolConfig turns c into a pgxpool configuration, which callers may adjust
// further before passing it to pgxpool.NewWithConfig.
func (c Config) PoolConfig() (*pgxpool.Config, error) {
	if c.URL == "" {
		return nil, fmt.Errorf("postgres: config: URL is empty")
	}
	c = c.withDefaults()
	switch {
	case c.MaxConns < 0:
		return nil, fmt.Errorf("postgres: config: MaxConns must be positive, got %d", c.MaxConns)
	case c.MinConns < 0 || c.MinConns > c.MaxConns:
		return nil, fmt.Errorf("postgres: config: MinConns must be between 0 and MaxConns (%d), got %d", c.MaxConns, c.MinConns)
	case c.StatementTimeout < 0:
		return nil, fmt.Errorf("postgres: config: StatementTimeout must not be negative, got %s", c.StatementTimeout)
	}
	pc, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// pgx's parse errors can quote the whole connection string.
		return nil, fmt.Errorf("postgres: config: cannot parse URL %s", RedactDSN(c.URL))
	}
	pc.MaxConns = c.MaxConns
	pc.MinConns = c.MinConns
	pc.MaxConnLifetime = c.MaxConnLifetime
	pc.MaxConnLifetimeJitter = c.MaxConnLifetimeJitter
	pc.MaxConnIdleTime = c.MaxConnIdleTime
	pc.HealthCheckPeriod = c.HealthCheckPeriod
	switch {
	case c.ConnectTimeout > 0:
		pc.ConnConfig.ConnectTimeout = c.ConnectTimeout
	case pc.ConnConfig.ConnectTimeout == 0:
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	rp := pc.ConnConfig.RuntimeParams
	rp["application_name"] = c.ApplicationName
	rp["timezone"] = "UTC"
	if c.StatementTimeout > 0 {
		// Round up: PostgreSQL counts in milliseconds and 0 would mean "no limit".
		ms := (c.StatementTimeout + time.Millisecond - 1) / time.Millisecond
		rp["statement_timeout"] = strconv.FormatInt(int64(ms), 10)
	}
	if c.Tracer != nil {
		pc.ConnConfig.Tracer = c.Tracer
	}
	if c.TLS.Enabled() {
		tc, err := c.TLS.Client(pc.ConnConfig.Host)
		if err != nil {
			return nil, fmt.Errorf("postgres: config: TLS: %w", err)
		}
		pc.ConnConfig.TLSConfig = tc
		pc.ConnConfig.Fallbacks = nil
	}
	if get := c.password(); get != nil {
		// The start-up check: an unreadable file fails now, not at the
		// first connection.
		if _, err := get(context.Background()); err != nil {
			return nil, err
		}
		pc.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			pw, err := get(ctx)
			if err != nil {
				return err
			}
			cc.Password = pw
			return nil
		}
	}
	// Drop connections the server closed (a restart) before they are used.
	pc.PrepareConn = prepareConn
	return pc, nil
}

// NewPool builds a pool from c and checks that the server answers.
func NewPool(ctx context.Context, c Config) (*pgxpool.Pool, error) {
	pc, err := c.PoolConfig()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool for %s: %w", RedactDSN(c.URL), redactErr(err, c.URL))
	}
	pingCtx, cancel := context.WithTimeout(ctx, pc.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", RedactDSN(c.URL), redactErr(err, c.URL))
	}
	return pool, nil
}

// PoolStats is a snapshot of a pool's counters, for metrics and health pages.
type PoolStats struct {
	TotalConns           int32
	IdleConns            int32
	AcquiredConns        int32
	ConstructingConns    int32
	MaxConns             int32
	AcquireCount         int64
	AcquireDuration      time.Duration
	EmptyAcquireCount    int64
	CanceledAcquireCount int64
	NewConnsCount        int64
	MaxLifetimeDestroys  int64
	MaxIdleDestroys      int64
	// AcquireTimeouts counts calls that failed with ErrPoolExhausted
	// (BoundedPool.Stats only).
	AcquireTimeouts int64
}

// Stats reads the pool's counters.
func Stats(p *pgxpool.Pool) PoolStats {
	s := p.Stat()
	return PoolStats{
		TotalConns:           s.TotalConns(),
		IdleConns:            s.IdleConns(),
		AcquiredConns:        s.AcquiredConns(),
		ConstructingConns:    s.ConstructingConns(),
		MaxConns:             s.MaxConns(),
		AcquireCount:         s.AcquireCount(),
		AcquireDuration:      s.AcquireDuration(),
		EmptyAcquireCount:    s.EmptyAcquireCount(),
		CanceledAcquireCount: s.CanceledAcquireCount(),
		NewConnsCount:        s.NewConnsCount(),
		MaxLifetimeDestroys:  s.MaxLifetimeDestroyCount(),
		MaxIdleDestroys:      s.MaxIdleDestroyCount(),
	}
}

// password returns the configured password source, or nil.
func (c Config) password() func(ctx context.Context) (string, error) {
	switch {
	case c.PasswordFunc != nil:
		return func(ctx context.Context) (string, error) {
			pw, err := c.PasswordFunc(ctx)
			if err != nil {
				return "", fmt.Errorf("postgres: password: %w", err)
			}
			return pw, nil
		}
	case c.PasswordFile != "":
		file := c.PasswordFile
		return func(context.Context) (string, error) { return ReadPasswordFile(file) }
	}
	return nil
}

// ReadPasswordFile returns the first line of the file at path (without its
// line ending). Its errors name the file, never its content.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("postgres: password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("postgres: password file %s: first line is empty", path)
	}
	return line, nil
}

// NewBoundedPool is NewPool wrapped by Bounded with c.AcquireTimeout.
func NewBoundedPool(ctx context.Context, c Config) (*BoundedPool, error) {
	pool, err := NewPool(ctx, c)
	if err != nil {
		return nil, err
	}
	return Bounded(pool, c.AcquireTimeout), nil
}
