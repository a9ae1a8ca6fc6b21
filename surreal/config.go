package surreal

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/redact"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/tlsconfig"
)

// AuthLevel says where the user of Config.Username is defined.
type AuthLevel uint8

const (
	// AuthRoot signs in a root user (the zero value).
	AuthRoot AuthLevel = iota
	// AuthNamespace signs in a user defined ON NAMESPACE Config.Namespace.
	AuthNamespace
	// AuthDatabase signs in a user defined ON DATABASE Config.Database of
	// Config.Namespace.
	AuthDatabase
)

// Config configures Open. Zero fields take the documented defaults; URL,
// Namespace and Database are required.
type Config struct {
	// URL of the server: ws://host:port or wss://host:port (http/https are
	// accepted and mapped to ws/wss). "/rpc" is appended unless present.
	URL string
	// Namespace and Database every connection selects (USE).
	Namespace string
	Database  string

	// Username and Password sign in a user at AuthLevel. Ignored when Token
	// is set.
	Username  string
	Password  string
	AuthLevel AuthLevel
	// PasswordFile, if set, names a file whose first line is the password;
	// it is read again for every new connection, so a rotated password
	// needs no restart. It wins over Password.
	PasswordFile string
	// Token, if set, authenticates every connection with this JWT instead of
	// signing in.
	Token string
	// TLS configures wss:// connections: a private CA, a client
	// certificate, the server name to verify (default the URL's host).
	// Setting it with a ws:// URL is an error.
	TLS tlsconfig.Files

	// PoolSize is the number of WebSocket connections (default 4). Each
	// carries many concurrent requests; calls are spread round-robin.
	PoolSize int
	// DialTimeout bounds one connection attempt including signin and USE
	// (default 10s).
	DialTimeout time.Duration
	// MaxInFlight bounds the requests outstanding on the whole pool
	// (default 1024). A call that finds it reached waits up to
	// AcquireTimeout (default 1s) and then fails with ErrBusy instead of
	// queueing without bound.
	MaxInFlight    int
	AcquireTimeout time.Duration

	// TxAttempts is how many times InTx runs a function whose transaction
	// the server rolled back for a conflict (default 10; 1 disables reruns).
	TxAttempts int

	// Resilience configures the timeout, retry and circuit-breaker policies
	// of every call (see package resilience; the zero value is its defaults).
	// Reads retry infrastructure failures; writes retry only when nothing was
	// sent.
	Resilience resilience.Config

	// Cache, if set, serves Select through cache-aside reads (the server's
	// CBOR bytes are cached, so values decode exactly as without the cache).
	// Writes by record id through the store (Create, Update, Upsert, Merge,
	// Delete, and those in a committed Tx) invalidate the record; after
	// writes through Query, call Store.Invalidate for the tables touched.
	Cache *cache.Cache
	// CacheOptions are the per-read cache settings (zero: the cache's
	// defaults).
	CacheOptions cache.Options

	// Logger, if set, receives reconnects and live-query restarts.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("surreal: Config.URL is required")
	}
	if c.Namespace == "" || c.Database == "" {
		return c, errors.New("surreal: Config.Namespace and Config.Database are required")
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 4
	}
	if c.TxAttempts <= 0 {
		c.TxAttempts = 10
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.AcquireTimeout <= 0 {
		c.AcquireTimeout = time.Second
	}
	return c, nil
}

// endpoint returns the /rpc WebSocket URL.
func (c Config) endpoint() (string, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only
		// its reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("surreal: bad URL %q: %v", Redact(c.URL), redact.Error(err, c.URL))
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("surreal: unsupported URL scheme %q (want ws, wss, http or https)", u.Scheme)
	}
	u.User = nil
	if !strings.HasSuffix(u.Path, "/rpc") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/rpc"
	}
	return u.String(), nil
}

// String describes the configuration without secrets.
func (c Config) String() string {
	auth := "signin"
	if c.Token != "" {
		auth = "token"
	}
	return fmt.Sprintf("surreal.Config{URL:%s NS:%s DB:%s User:%s Auth:%s PasswordFile:%q Pool:%d TLS:%+v}",
		Redact(c.URL), c.Namespace, c.Database, c.Username, auth, c.PasswordFile, c.PoolSize, c.TLS)
}

// Redact removes a password from a URL for logs and errors.
func Redact(raw string) string { return redact.DSN(raw) }

// password returns the password for a new connection.
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("surreal: password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("surreal: password file %s: first line is empty", c.PasswordFile)
	}
	return line, nil
}

// dialer returns the WebSocket dialer for the endpoint, with TLS settings.
func (c Config) dialer(endpoint string) (*websocket.Dialer, error) {
	d := *defaultDialer
	if !c.TLS.Enabled() {
		return &d, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("surreal: bad URL %q", Redact(c.URL))
	}
	if u.Scheme != "wss" {
		return nil, fmt.Errorf("surreal: Config.TLS is set but the URL is %s:// (want wss:// or https://)", u.Scheme)
	}
	tc, err := c.TLS.Client(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("surreal: TLS: %w", err)
	}
	d.TLSClientConfig = tc
	return &d, nil
}
