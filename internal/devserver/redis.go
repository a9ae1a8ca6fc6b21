package devserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RedisInstallHint says how to get redis-server.
const RedisInstallHint = `install Redis: "apt-get install redis-server" (Debian/Ubuntu), "dnf install redis" (Fedora/RHEL) or "brew install redis" (macOS)`

// RedisConfig configures StartRedis. The zero value is ready to use.
type RedisConfig struct {
	// Binary is the redis-server executable. Empty means redis-server on
	// PATH, else /usr/bin, /usr/local/bin or /opt/homebrew/bin.
	Binary string
	// Port is the 127.0.0.1 TCP port. Zero picks a free port once; restarts
	// reuse it.
	Port int
	// Dir is where the temporary working directory is created; empty means
	// os.TempDir().
	Dir string
	// Args are extra redis-server arguments, e.g. "--maxmemory", "64mb".
	Args []string
}

// Redis is a throwaway redis-server without persistence. Stop and Start
// simulate an outage: the server comes back empty on the same address.
type Redis struct {
	binary string
	port   int
	parent string
	args   []string

	mu      sync.Mutex
	p       *proc
	dir     string
	logPath string
}

// StartRedis starts redis-server on a loopback port and returns once it
// answers PING. ctx bounds the start (two minutes when ctx has no deadline).
// Errors wrap ErrNotInstalled when redis-server is missing.
func StartRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	bin, err := findRedisServer(cfg.Binary)
	if err != nil {
		return nil, err
	}
	r := &Redis{binary: bin, port: cfg.Port, parent: cfg.Dir, args: cfg.Args}
	if err := r.start(ctx, cfg.Port == 0); err != nil {
		return nil, err
	}
	return r, nil
}

// Addr is host:port of the server.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is redis://127.0.0.1:port/0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Port is the TCP port, stable across Stop and Start.
func (r *Redis) Port() int { return r.port }

// Running reports whether the server process is up.
func (r *Redis) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p != nil && !r.p.exited()
}

// Start starts a stopped server again on the same port, empty. Starting a
// running server is a no-op.
func (r *Redis) Start(ctx context.Context) error { return r.start(ctx, false) }

func (r *Redis) start(ctx context.Context, pickPort bool) (err error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p != nil && !r.p.exited() {
		return nil
	}
	parent := r.parent
	if parent == "" {
		parent = defaultParent(nil)
	}
	sweepAbandoned(parent, "devserver-redis-*")
	r.dir, err = makeTempDir(parent, "devserver-redis-", nil)
	if err != nil {
		return err
	}
	if err := claimDir(r.dir); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(r.dir)
			r.p = nil
		}
	}()
	r.logPath = filepath.Join(r.dir, "redis.log")
	logFile, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("devserver: create log: %w", err)
	}
	defer logFile.Close()

	for attempt := 0; ; attempt++ {
		if pickPort {
			if r.port, err = freePort(); err != nil {
				return err
			}
		}
		args := append([]string{
			"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no",
		}, r.args...)
		cmd := exec.Command(r.binary, args...)
		cmd.Dir = r.dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = sysProcAttr(nil, syscall.SIGTERM)
		p, err := startProc(cmd)
		if err != nil {
			return fmt.Errorf("devserver: start redis-server: %w", err)
		}
		err = waitRedis(ctx, p, r.Addr())
		if err == nil {
			r.p = p
			return nil
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.stop(stopCtx, syscall.SIGKILL)
		cancel()
		log := tail(r.logPath, 2048)
		if pickPort && attempt < 3 && addrInUse(log) {
			continue
		}
		return fmt.Errorf("devserver: redis-server did not answer PING on %s: %w\n%s", r.Addr(), err, log)
	}
}

// waitRedis polls PING until +PONG, the process exits, or ctx ends.
func waitRedis(ctx context.Context, p *proc, addr string) error {
	for {
		if p.exited() {
			return fmt.Errorf("redis-server exited: %v", p.err)
		}
		err := Ping(ctx, addr)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// Ping sends one unauthenticated PING to the Redis server at addr and expects
// +PONG; it is the readiness check used by StartRedis.
func Ping(ctx context.Context, addr string) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := dctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("devserver: unexpected PING reply %q", strings.TrimSpace(line))
	}
	return nil
}

// Stop shuts the server down (SIGTERM, SIGKILL when ctx ends first) and
// removes its directory; Start may follow. Stopping a stopped server is a
// no-op.
func (r *Redis) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return nil
	}
	err := r.p.stop(ctx, syscall.SIGTERM)
	r.p = nil
	return errors.Join(err, os.RemoveAll(r.dir))
}

// findRedisServer resolves RedisConfig.Binary.
func findRedisServer(configured string) (string, error) {
	if configured != "" {
		if fi, err := os.Stat(configured); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return configured, nil
		}
		return "", fmt.Errorf("%w: redis-server not found at configured path %s; %s", ErrNotInstalled, configured, RedisInstallHint)
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"} {
		p := filepath.Join(d, "redis-server")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: redis-server not found on PATH or in /usr/bin, /usr/local/bin, /opt/homebrew/bin; %s", ErrNotInstalled, RedisInstallHint)
}
