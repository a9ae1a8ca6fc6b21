package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agentical/datalayer/resilience"
	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"
)

// Defaults for zero Config fields.
const (
	DefaultAddr              = "127.0.0.1:6379"
	DefaultPrefix            = "dl"
	DefaultTTL               = 5 * time.Minute
	DefaultClientTTL         = 30 * time.Second
	DefaultVersionTTL        = 24 * time.Hour
	DefaultLeaseTTL          = 3 * time.Second
	DefaultLeaseWait         = 250 * time.Millisecond
	DefaultRedisTimeout      = 250 * time.Millisecond
	DefaultRefreshTimeout    = 5 * time.Second
	DefaultBreakerThreshold  = 3
	DefaultBreakerDelay      = time.Second
	DefaultRetryInterval     = 50 * time.Millisecond
	DefaultMaxRetryInterval  = time.Second
	DefaultCacheSizeEachConn = 64 << 20
)

// DefaultUncertainRecheck are the default Config.UncertainRecheck delays.
var DefaultUncertainRecheck = []time.Duration{250 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second}

// Config configures a Cache. The zero value works against a local Redis:
// every zero field takes the documented default.
type Config struct {
	// Addrs are the Redis addresses (host:port); default 127.0.0.1:6379.
	// Several addresses, or one node of a cluster, let rueidis discover a
	// cluster.
	Addrs []string
	// Username and Password authenticate with Redis ACL (AUTH username
	// password); both empty means no AUTH.
	Username, Password string
	// TLS enables TLS with this configuration.
	TLS *tls.Config
	// PasswordFile, if set, holds the ACL password for Username (first
	// line); it is read again on every (re)connect, so a rotated password
	// needs no restart. It wins over Password.
	PasswordFile string
	// Credentials, if set, is called on every (re)connect for the ACL user
	// name and password (a secrets manager); it wins over PasswordFile.
	Credentials func() (username, password string, err error)
	// DB selects a logical database (standalone only).
	DB int
	// ClientName is sent with CLIENT SETNAME.
	ClientName string
	// PoolSize is the rueidis blocking pool size (0: rueidis default).
	PoolSize int
	// PipelineMultiplex is rueidis' 2^n pipelined connections per node
	// (0: rueidis default).
	PipelineMultiplex int
	// Client, if set, is used instead of building one from the fields above;
	// Close does not close it. It must be a RESP3 client with client-side
	// caching enabled unless DisableClientCache is set.
	Client rueidis.Client

	// DisableClientCache turns the in-process tier off: every hit is a Redis
	// round trip.
	DisableClientCache bool
	// ClientTTL caps how long an entry lives in the in-process tier
	// (default 30s). It bounds staleness if an invalidation push is lost.
	ClientTTL time.Duration
	// CacheSizeEachConn is the in-process tier's byte budget per connection
	// (default 64 MiB).
	CacheSizeEachConn int
	// Strict closes the cross-process window of the in-process tier: version
	// keys are read from Redis on every lookup (one round trip), values still
	// come from the in-process tier. See the package doc.
	Strict bool

	// Secret keys the MAC that binds every cached value to its key (see
	// ErrIntegrity). Without it a built-in key is used: corruption and
	// values copied between keys are still caught, but anyone who can
	// write to Redis could forge values. Set it (16+ random bytes, the same
	// in every process sharing the cache) when Redis is shared or exposed.
	// Changing it makes every cached value a miss. Never printed.
	Secret Secret

	// Prefix starts every Redis key (default "dl"); it must not contain '{'
	// or '}'.
	Prefix string
	// SchemaVersion is part of every value key, so values written for
	// another schema are never decoded into the current types.
	SchemaVersion string
	// DefaultTTL is the Redis TTL of values when Options.TTL is zero
	// (default 5m).
	DefaultTTL time.Duration
	// VersionTTL is the TTL of version keys, refreshed on every bump
	// (default 24h). An expired version key is re-created from the Redis
	// clock, never reset to an old number, so expiry is safe.
	VersionTTL time.Duration
	// LeaseTTL bounds how long one process may hold the cross-process load
	// lease of a key (default 3s); LeaseWait is how long other processes
	// wait for the holder's fill before loading themselves (default 250ms;
	// negative disables leases).
	LeaseTTL, LeaseWait time.Duration
	// RedisTimeout bounds every Redis call on the read path (default
	// 250ms): a slow Redis falls back to the loader.
	RedisTimeout time.Duration
	// RefreshTimeout bounds background stale-while-revalidate loads
	// (default 5s).
	RefreshTimeout time.Duration
	// BreakerThreshold consecutive Redis infrastructure failures open the
	// Redis breaker (default 3); while open, Get calls the loader directly
	// and adds no Redis latency. After BreakerDelay (default 1s) one call
	// probes Redis again.
	BreakerThreshold uint
	BreakerDelay     time.Duration
	// RetryInterval and MaxRetryInterval bound the backoff of failed
	// invalidations (defaults 50ms and 1s; a new failure or the breaker
	// closing starts again from RetryInterval).
	RetryInterval, MaxRetryInterval time.Duration
	// UncertainRecheck are the delays after which InvalidateUncertain bumps
	// its versions again (default 250ms, 1s, 5s, 30s): a write whose commit
	// outcome is unknown (a timeout or a broken connection after COMMIT or an
	// autocommit statement was sent) may become visible after its first
	// invalidation, and a reader in between may cache the old row under the
	// new versions. Each later bump makes such an entry unreachable.
	UncertainRecheck []time.Duration
	// CompressThreshold is the encoded size above which values are
	// s2-compressed (default 1024; negative: never).
	CompressThreshold int
	// DecodedEntries is how many decoded values are kept so hits skip the
	// msgpack decode: a hit compares the stored bytes and returns a deep copy
	// (default 10000; negative disables). Types that cannot be deep-copied
	// safely (interfaces, funcs, unexported reference fields) are always
	// decoded. The typed tiers (Typed, one per generated method) share a
	// second budget of the same size.
	DecodedEntries int

	// IsNotFound reports whether a loader error means "no such row", for
	// negative caching (default errors.Is(err, pgx.ErrNoRows)).
	IsNotFound func(error) bool
	// NotFoundError is returned for a negative-cache hit (default
	// pgx.ErrNoRows), so callers see the same error as without the cache.
	NotFoundError error

	// Observer receives hits, misses, fills, invalidations and errors.
	Observer Observer
	// OnRedisStateChange, if set, is called when the Redis breaker changes
	// state (open: the cache is bypassed).
	OnRedisStateChange func(resilience.StateChange)
	// Logger, if set, logs Redis failures and invalidation retries.
	Logger *slog.Logger
}

func (cfg *Config) setDefaults() error {
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []string{DefaultAddr}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		return fmt.Errorf("cache: Prefix %q must not contain braces", cfg.Prefix)
	}
	if strings.ContainsAny(cfg.SchemaVersion, "{}") {
		return fmt.Errorf("cache: SchemaVersion %q must not contain braces", cfg.SchemaVersion)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.DefaultTTL, DefaultTTL)
	def(&cfg.ClientTTL, DefaultClientTTL)
	def(&cfg.VersionTTL, DefaultVersionTTL)
	def(&cfg.LeaseTTL, DefaultLeaseTTL)
	def(&cfg.LeaseWait, DefaultLeaseWait)
	def(&cfg.RedisTimeout, DefaultRedisTimeout)
	def(&cfg.RefreshTimeout, DefaultRefreshTimeout)
	def(&cfg.BreakerDelay, DefaultBreakerDelay)
	def(&cfg.RetryInterval, DefaultRetryInterval)
	def(&cfg.MaxRetryInterval, DefaultMaxRetryInterval)
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = DefaultBreakerThreshold
	}
	if cfg.UncertainRecheck == nil {
		cfg.UncertainRecheck = DefaultUncertainRecheck
	}
	for _, d := range cfg.UncertainRecheck {
		if d <= 0 {
			return fmt.Errorf("cache: UncertainRecheck delays must be positive, got %v", d)
		}
	}
	if cfg.DecodedEntries == 0 {
		cfg.DecodedEntries = DefaultDecodedEntries
	}
	if cfg.CacheSizeEachConn == 0 {
		cfg.CacheSizeEachConn = DefaultCacheSizeEachConn
	}
	if cfg.IsNotFound == nil {
		cfg.IsNotFound = func(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
	}
	if cfg.NotFoundError == nil {
		cfg.NotFoundError = pgx.ErrNoRows
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if cfg.ClientTTL <= 0 {
		return errors.New("cache: ClientTTL must be positive (the in-process tier needs a TTL)")
	}
	return nil
}

// ClientOption returns the rueidis options New uses for cfg (defaults
// applied). Useful to build a second client (sessions, tests) alike.
func (cfg Config) ClientOption() rueidis.ClientOption {
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = []string{DefaultAddr}
	}
	size := cfg.CacheSizeEachConn
	if size == 0 {
		size = DefaultCacheSizeEachConn
	}
	return rueidis.ClientOption{
		InitAddress:       addrs,
		Username:          cfg.Username,
		Password:          cfg.Password,
		TLSConfig:         cfg.TLS,
		AuthCredentialsFn: cfg.credentialsFn(),
		SelectDB:          cfg.DB,
		ClientName:        cfg.ClientName,
		BlockingPoolSize:  cfg.PoolSize,
		PipelineMultiplex: cfg.PipelineMultiplex,
		CacheSizeEachConn: size,
		DisableCache:      cfg.DisableClientCache,
		// The cache fails open instead of waiting for rueidis' own retries.
		DisableRetry: true,
		Dialer:       netDialer(),
	}
}

// NewClient builds a rueidis client from cfg, verifying the connection.
func NewClient(ctx context.Context, cfg Config) (rueidis.Client, error) {
	return newClient(ctx, cfg.ClientOption(), cfg.Addrs)
}

func newClient(ctx context.Context, opt rueidis.ClientOption, addrs []string) (rueidis.Client, error) {
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("cache: connect to redis %v: %w", addrs, err)
	}
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, fmt.Errorf("cache: ping redis %v: %w", addrs, err)
	}
	return client, nil
}

// ParseURL fills the connection fields of a Config (Addrs, Username,
// Password, DB, TLS) from a redis://, rediss:// or unix:// URL; the rest
// keeps its defaults. Errors never contain the password.
func ParseURL(url string) (Config, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return Config{}, fmt.Errorf("cache: parse redis URL %s: %w", redactURL(url), redactErr(err, url))
	}
	return Config{
		Addrs:    opt.InitAddress,
		Username: opt.Username,
		Password: opt.Password,
		DB:       opt.SelectDB,
		TLS:      opt.TLSConfig,
	}, nil
}
