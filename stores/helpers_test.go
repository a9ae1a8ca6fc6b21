package stores_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/migrate"
	"github.com/agentical/datalayer/stores"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// logBuffer collects slog records for assertions; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// loadConfig builds a config.Config through the loader, as a service does.
func loadConfig(t testing.TB, vars map[string]string) config.Config {
	t.Helper()
	cfg, err := config.FromMap(vars)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// env is the harness's PostgreSQL database and Redis, as variables.
func env(t testing.TB, dsn string, r testinfra.RedisTarget, extra ...string) map[string]string {
	vars := map[string]string{"DATABASE_URL": dsn, "REDIS_URL": r.URL(), "AUTO_MIGRATE": "false"}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return vars
}

// prefixed puts the cache under the test's Redis prefix.
func prefixed(r testinfra.RedisTarget, opts stores.Options) stores.Options {
	prev := opts.Cache
	opts.Cache = func(c *cache.Config) {
		c.Prefix = strings.TrimSuffix(r.Prefix, ":")
		if prev != nil {
			prev(c)
		}
	}
	return opts
}

func open(t testing.TB, cfg config.Config, opts stores.Options) *stores.Stores {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := stores.Open(ctx, cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// proxy forwards a loopback port to target; Pause drops every connection
// and refuses new ones (the server looks down), Resume accepts again. It can
// also start listening late (StartAt) to look like a server still starting.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	ln.Close() // the port is ours to listen on later
	t.Cleanup(p.Pause)
	return p
}

// Resume listens on the proxy's port and forwards connections.
func (p *proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after a Pause
		if p.ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Errorf("proxy: listen %s: %v", p.addr, err)
		return
	}
	go p.serve(p.ln)
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, u); u.Close(); c.Close() }()
	}
}

// Pause closes the listener and every forwarded connection.
func (p *proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// hostPort returns the host:port of a PostgreSQL DSN.
func hostPort(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// withHostPort returns dsn pointing at addr instead.
func withHostPort(t testing.TB, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// discard is a logger that drops everything.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func amigrateDir(t testing.TB, fsys fs.FS) amigrate.Dir {
	t.Helper()
	return migrate.FSDir(fsys)
}

// newBlackhole listens on a loopback port, accepts connections and never
// answers; it returns the address.
func newBlackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func pgxpoolNew(t testing.TB, dsn string) (*pgxpool.Pool, error) {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err == nil {
		t.Cleanup(p.Close)
	}
	return p, err
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
