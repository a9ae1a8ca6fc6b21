package surrealpeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

//go:embed peer/server.js peer/package.json peer/package-lock.json
var peerFiles embed.FS

// ErrStopped is returned by operations on a peer that has been stopped.
var ErrStopped = errors.New("surrealpeer: peer stopped")

// Config configures Start. The zero value is a valid configuration.
type Config struct {
	// Username and Password of the root user the peer defines at start.
	// Default "root" and a random password.
	Username string
	Password string

	// DataDir keeps the data in a surrealkv store in this directory, so it
	// survives Restart. Default: in memory, lost on Restart.
	DataDir string

	// CacheDir is where the peer's files and node_modules are installed.
	// Default <user cache dir>/datalayer-surrealpeer; each version of the
	// peer's files gets its own subdirectory, installed once.
	CacheDir string

	// Node and NPM are the executables to run. Default "node" and "npm"
	// from PATH.
	Node string
	NPM  string

	// StartTimeout bounds installation plus start-up. Default 2 minutes.
	StartTimeout time.Duration

	// Output receives the peer's stdout and stderr. Default: discarded (the
	// tail is still kept for error messages).
	Output io.Writer

	// Logger, if set, receives start/stop events.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Username == "" {
		c.Username = "root"
	}
	if c.Password == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return c, fmt.Errorf("surrealpeer: random password: %w", err)
		}
		c.Password = hex.EncodeToString(b)
	}
	if c.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		c.CacheDir = filepath.Join(base, "datalayer-surrealpeer")
	}
	if c.Node == "" {
		c.Node = "node"
	}
	if c.NPM == "" {
		c.NPM = "npm"
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 2 * time.Minute
	}
	if c.Output == nil {
		c.Output = io.Discard
	}
	return c, nil
}

// Peer is a running test peer.
type Peer struct {
	cfg  Config
	dir  string
	port int

	mu      sync.Mutex
	proc    *proc // nil while not running
	stopped bool
}

// proc is one run of the node process.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	tail   *tailBuffer
	exited chan struct{}
	err    error // set before exited is closed
}

// Start installs the peer if needed, starts it on a free loopback port and
// waits until it answers GET /health.
func Start(ctx context.Context, cfg Config) (*Peer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	dir, err := Install(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p := &Peer{cfg: cfg, dir: dir}
	// A free port can be taken by someone else between probe and bind: retry.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p.port = port
		err = p.launch(ctx)
		if err == nil {
			return p, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			return nil, err
		}
	}
}

// URL is the WebSocket endpoint base, e.g. ws://127.0.0.1:41234 (clients
// append /rpc).
func (p *Peer) URL() string { return "ws://" + p.Addr() }

// Addr is host:port of the peer.
func (p *Peer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Username is the root user's name.
func (p *Peer) Username() string { return p.cfg.Username }

// Password is the root user's password.
func (p *Peer) Password() string { return p.cfg.Password }

// Stop ends the peer gracefully (SIGTERM, then SIGKILL after 5 s or when ctx
// ends). Stop on a stopped peer is a no-op.
func (p *Peer) Stop(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	return p.terminate(ctx, syscall.SIGTERM)
}

// Kill ends the peer abruptly (SIGKILL), as a crash would; Restart brings it
// back on the same port.
func (p *Peer) Kill(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.terminate(ctx, syscall.SIGKILL)
}

// Pause freezes the peer (SIGSTOP): sockets stay open but nothing answers,
// as with a hung server or a half-open connection. Resume undoes it.
func (p *Peer) Pause() error { return p.signal(syscall.SIGSTOP) }

// Resume continues a paused peer (SIGCONT).
func (p *Peer) Resume() error { return p.signal(syscall.SIGCONT) }

func (p *Peer) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return ErrStopped
	}
	return p.proc.cmd.Process.Signal(sig)
}

// Restart stops the peer if it runs and starts it again on the same port with
// the same credentials. Data survives only with Config.DataDir.
func (p *Peer) Restart(ctx context.Context) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return ErrStopped
	}
	if err := p.terminate(ctx, syscall.SIGTERM); err != nil {
		p.mu.Unlock()
		return err
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	// The old socket may linger briefly; retry the bind on the same port.
	var err error
	for range 20 {
		if err = p.launch(ctx); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// terminate stops the running process, if any. Callers hold p.mu.
func (p *Peer) terminate(ctx context.Context, sig syscall.Signal) error {
	if p.proc == nil {
		return nil
	}
	pr := p.proc
	cmd, exited := pr.cmd, pr.exited
	p.proc = nil
	_ = pr.stdin.Close()
	_ = cmd.Process.Signal(sig)
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused peer must see the signal
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
	}
	if p.cfg.Logger != nil {
		p.cfg.Logger.Info("surrealpeer stopped", "addr", p.Addr(), "signal", sig.String())
	}
	return nil
}

func (p *Peer) launch(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		return errors.New("surrealpeer: already running")
	}
	args := []string{filepath.Join(p.dir, "server.js"), "--port", strconv.Itoa(p.port), "--host", "127.0.0.1", "--watch-stdin"}
	if p.cfg.DataDir != "" {
		abs, err := filepath.Abs(p.cfg.DataDir)
		if err != nil {
			return fmt.Errorf("surrealpeer: data dir: %w", err)
		}
		args = append(args, "--path", "surrealkv://"+abs)
	}
	// Not CommandContext: the peer outlives the start-up context.
	cmd := exec.Command(p.cfg.Node, args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "SURREALPEER_USER="+p.cfg.Username, "SURREALPEER_PASS="+p.cfg.Password)
	tail := &tailBuffer{max: 16 << 10}
	out := io.MultiWriter(tail, p.cfg.Output)
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("surrealpeer: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("surrealpeer: start node: %w", err)
	}
	pr := &proc{cmd: cmd, stdin: stdin, tail: tail, exited: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		close(pr.exited)
	}()
	p.proc = pr

	client := &http.Client{Timeout: time.Second}
	url := "http://" + p.Addr() + "/health"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && pr.owns(p.port) {
				if p.cfg.Logger != nil {
					p.cfg.Logger.Info("surrealpeer started", "addr", p.Addr())
				}
				return nil
			}
		}
		select {
		case <-pr.exited:
			p.proc = nil
			return fmt.Errorf("surrealpeer: node exited during start-up: %v\n%s", pr.err, tail.String())
		case <-ctx.Done():
			_ = p.terminate(context.Background(), syscall.SIGKILL)
			return fmt.Errorf("surrealpeer: not healthy before deadline: %w\n%s", ctx.Err(), tail.String())
		case <-tick.C:
		}
	}
}

// owns reports whether this process announced the listening port (and not
// some other server that answered /health on it).
func (pr *proc) owns(port int) bool {
	return bytes.Contains(pr.tail.Bytes(), []byte("listening on 127.0.0.1:"+strconv.Itoa(port)))
}

// Install writes the peer's files into a versioned subdirectory of
// cfg.CacheDir and runs `npm ci` there unless a previous install completed.
// Concurrent callers (parallel test binaries) serialise on a file lock. It
// returns the directory holding server.js.
func Install(ctx context.Context, cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	names := []string{"server.js", "package.json", "package-lock.json"}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := peerFiles.ReadFile("peer/" + n)
		if err != nil {
			return "", fmt.Errorf("surrealpeer: embedded %s: %w", n, err)
		}
		files[n] = b
		h.Write([]byte(n))
		h.Write(b)
	}
	dir := filepath.Join(cfg.CacheDir, hex.EncodeToString(h.Sum(nil))[:16])
	stamp := filepath.Join(dir, ".installed")
	if _, err := os.Stat(stamp); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("surrealpeer: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(stamp); err == nil {
		return dir, nil
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), files[n], 0o644); err != nil {
			return "", fmt.Errorf("surrealpeer: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, cfg.NPM, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("surrealpeer: npm ci in %s: %w\n%s", dir, err, out.String())
	}
	if err := os.WriteFile(stamp, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("surrealpeer: %w", err)
	}
	pruneOld(cfg.CacheDir, dir)
	return dir, nil
}

// pruneOld removes installs of other versions of the peer (about 180 MB
// each) that were installed more than a day ago and are not being
// installed right now. A peer still running from one keeps working: its
// files are already loaded.
func pruneOld(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() || dir == keep {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, ".installed"))
		if err != nil || time.Since(st.ModTime()) < 24*time.Hour {
			continue
		}
		f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			_ = os.RemoveAll(dir)
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		_ = f.Close()
	}
}

func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("surrealpeer: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("surrealpeer: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("surrealpeer: waiting for install lock: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("surrealpeer: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}

func (t *tailBuffer) String() string { return string(t.Bytes()) }
