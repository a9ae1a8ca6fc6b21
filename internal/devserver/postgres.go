package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotInstalled is wrapped by start errors when the server binaries cannot
// be found; the message names the package to install.
var ErrNotInstalled = errors.New("devserver: server binaries not installed")

// PostgresInstallHint says how to get the PostgreSQL server binaries.
const PostgresInstallHint = `install the PostgreSQL server: "apt-get install postgresql" (Debian/Ubuntu), "dnf install postgresql-server" (Fedora/RHEL) or "brew install postgresql" (macOS)`

// PostgresConfig configures StartPostgres. The zero value is ready to use.
type PostgresConfig struct {
	// BinDir is the directory holding initdb and postgres. Empty means: the
	// output of `pg_config --bindir` (pg_config looked up on PATH), else the
	// newest /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin, else the directory
	// of initdb on PATH.
	BinDir string
	// Port is the 127.0.0.1 TCP port. Zero picks a free port (and picks again
	// if another process takes it first).
	Port int
	// MaxConnections is max_connections; zero means 200, enough for many
	// parallel tests each holding a pool.
	MaxConnections int
	// Dir is where the temporary directory (data, socket, log) is created.
	// Empty means /dev/shm when it is a tmpfs with at least 2 GiB free (a
	// cluster in memory starts and clones several times faster), else
	// os.TempDir(), else /tmp when the server's OS user cannot reach that.
	Dir string
	// User is the OS user that runs PostgreSQL when this process is root
	// (PostgreSQL refuses to run as root). Empty means "postgres". Ignored
	// when not root.
	User string
	// Settings are extra server settings passed as -c name=value; they
	// override the defaults.
	Settings map[string]string
	// NoClusterCache disables the cluster cache: by default the first start
	// keeps a copy of its freshly initialised (never started) data directory
	// in <Dir>/devserver-pgcache-<uid>, and later starts copy it
	// instead of running initdb, which is several times slower.
	NoClusterCache bool
}

// Postgres is a running throwaway PostgreSQL server. Its superuser is
// "postgres" with trust authentication on loopback.
type Postgres struct {
	port    int
	dir     string
	binDir  string
	logPath string
	args    []string  // postgres arguments, for Up after Down
	id      *identity // OS user the server runs as; nil: this process's

	mu      sync.Mutex
	p       *proc
	stopped bool
}

// StartPostgres initialises a cluster in a new temporary directory and starts
// postgres on it, returning once it accepts connections. ctx bounds the whole
// start (two minutes when ctx has no deadline). Errors wrap ErrNotInstalled
// when the binaries are missing.
func StartPostgres(ctx context.Context, cfg PostgresConfig) (_ *Postgres, err error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	binDir, err := findPostgresBinDir(ctx, cfg.BinDir)
	if err != nil {
		return nil, err
	}
	var id *identity
	if os.Geteuid() == 0 {
		name := cfg.User
		if name == "" {
			name = "postgres"
		}
		if id, err = lookupIdentity(name); err != nil {
			return nil, err
		}
	}
	if cfg.Dir == "" {
		if cfg.Dir = memoryDir(id, 2<<30); cfg.Dir == "" {
			cfg.Dir = defaultParent(id)
		}
	}
	sweepAbandoned(cfg.Dir, "devserver-pg-*")
	dir, err := makeTempDir(cfg.Dir, "devserver-pg-", id)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := claimDir(dir); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devserver: create log: %w", err)
	}
	defer logFile.Close() // the children keep their own descriptors

	dataDir := filepath.Join(dir, "data")
	if err := initCluster(ctx, cfg, binDir, dataDir, id, logFile); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(logPath, 2048))
	}

	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": dir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"max_connections":         strconv.Itoa(orDefault(cfg.MaxConnections, 200)),
		"logging_collector":       "off",
	}
	maps.Copy(settings, cfg.Settings)

	s := &Postgres{dir: dir, binDir: binDir, logPath: logPath}
	for attempt := 0; ; attempt++ {
		port := cfg.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		settings["port"] = strconv.Itoa(port)
		args := []string{"-D", dataDir}
		for _, k := range slices.Sorted(maps.Keys(settings)) {
			args = append(args, "-c", k+"="+settings[k])
		}
		// Not CommandContext: the server must outlive ctx, which only bounds the start.
		cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
		cmd.Env = childEnv()
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, which
		// nobody needs since the data is deleted anyway.
		cmd.SysProcAttr = sysProcAttr(id, syscall.SIGQUIT)
		p, err := startProc(cmd)
		if err != nil {
			return nil, fmt.Errorf("devserver: start postgres: %w", err)
		}
		err = waitPostgres(ctx, p, port)
		if err == nil {
			s.port, s.p, s.args, s.id = port, p, args, id
			return s, nil
		}
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = p.stop(stopCtx, syscall.SIGQUIT)
		cancel()
		log := tail(logPath, 2048)
		if cfg.Port == 0 && attempt < 3 && p.exited() && addrInUse(log) {
			continue
		}
		return nil, fmt.Errorf("devserver: postgres did not become ready on port %d: %w\n%s", port, err, log)
	}
}

// waitPostgres polls until the server accepts a connection, the process
// exits, or ctx ends.
func waitPostgres(ctx context.Context, p *proc, port int) error {
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=2", port)
	for {
		if p.exited() {
			return fmt.Errorf("postgres exited: %v", p.err)
		}
		c, err := pgconn.Connect(ctx, dsn)
		if err == nil {
			return c.Close(ctx)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// DSN is the superuser URL of the "postgres" database over TCP.
func (s *Postgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the TCP port on 127.0.0.1.
func (s *Postgres) Port() int { return s.port }

// SocketDir is the directory of the server's unix socket.
func (s *Postgres) SocketDir() string { return s.dir }

// BinDir is the directory the server binaries came from (useful for pg_dump
// and friends of the same version).
func (s *Postgres) BinDir() string { return s.binDir }

// Stop shuts the server down (immediate shutdown, escalating to SIGKILL when
// ctx ends first) and removes its directory. Stopping twice is a no-op.
func (s *Postgres) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	err := s.p.stop(ctx, syscall.SIGQUIT)
	return errors.Join(err, os.RemoveAll(s.dir))
}

// findPostgresBinDir resolves PostgresConfig.BinDir.
func findPostgresBinDir(ctx context.Context, configured string) (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if configured != "" {
		if has(configured) {
			return configured, nil
		}
		return "", fmt.Errorf("%w: initdb and postgres not found in configured directory %s; %s", ErrNotInstalled, configured, PostgresInstallHint)
	}
	var looked []string
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		dir := strings.TrimSpace(string(out))
		if err == nil && has(dir) {
			return dir, nil
		}
		looked = append(looked, "pg_config --bindir ("+dir+")")
	} else {
		looked = append(looked, "pg_config (not on PATH)")
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		dirs, _ := filepath.Glob(pattern)
		// Newest major version first: compare the numeric path element.
		slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
		for _, d := range dirs {
			if has(d) {
				return d, nil
			}
		}
		looked = append(looked, pattern)
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		// Follow symlinks (e.g. /usr/local/bin/initdb -> .../15/bin/initdb)
		// so postgres is taken from the same installation.
		if real, err := filepath.EvalSymlinks(initdb); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(initdb)) {
			return filepath.Dir(initdb), nil
		}
	}
	looked = append(looked, "initdb on PATH")
	return "", fmt.Errorf("%w: PostgreSQL server binaries (initdb, postgres) not found (looked at %s); %s",
		ErrNotInstalled, strings.Join(looked, ", "), PostgresInstallHint)
}

// versionOf extracts the first number in a path such as /usr/lib/postgresql/15/bin.
func versionOf(path string) int {
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r < '0' || r > '9' }) {
		if n, err := strconv.Atoi(part); err == nil {
			return n
		}
	}
	return 0
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
