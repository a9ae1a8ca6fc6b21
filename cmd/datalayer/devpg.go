package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/internal/devserver"
)

// The kept dev server: when DATALAYER_DEV_URL is unset, diff and lint use a
// PostgreSQL server that stays running between runs (started once, from the
// local binaries, in keptDir) so later runs reuse it and the databases the
// migrate package caches on it. `datalayer migrate dev-stop` stops it;
// DATALAYER_DEV_KEEP=0 starts a throwaway server per run instead.

// keptDir is where the kept server lives: $DATALAYER_DEV_DIR, else
// <tmp>/datalayer-devpg-<uid> (reachable by the postgres user when root).
func keptDir(getenv func(string) string) string {
	if d := getenv("DATALAYER_DEV_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("datalayer-devpg-%d", os.Getuid()))
}

func keptDSN(port string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable&connect_timeout=2", strings.TrimSpace(port))
}

// keptDevServer returns the DSN of the kept server, starting it if it does
// not answer.
func keptDevServer(ctx context.Context, dir string) (string, error) {
	portFile := filepath.Join(dir, "port")
	if b, err := os.ReadFile(portFile); err == nil {
		if dsn := keptDSN(string(b)); ping(ctx, dsn) == nil {
			return dsn, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// One starter at a time.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if b, err := os.ReadFile(portFile); err == nil {
		if dsn := keptDSN(string(b)); ping(ctx, dsn) == nil {
			return dsn, nil
		}
	}
	bin, err := pgBinDir()
	if err != nil {
		return "", err
	}
	cred, err := serverCredential(dir)
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		os.RemoveAll(data)
		if err := runAs(ctx, cred, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
			return "", fmt.Errorf("initdb: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	opts := fmt.Sprintf("-c port=%d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100", port, dir)
	if err := runAs(ctx, cred, filepath.Join(bin, "pg_ctl"), "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-o", opts); err != nil {
		return "", fmt.Errorf("pg_ctl start: %w", err)
	}
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(port)), 0o644); err != nil {
		return "", err
	}
	return keptDSN(strconv.Itoa(port)), nil
}

// stopKeptDevServer stops the kept server, if one runs.
func stopKeptDevServer(ctx context.Context, dir string) error {
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err != nil {
		return nil
	}
	bin, err := pgBinDir()
	if err != nil {
		return err
	}
	cred, err := serverCredential(dir)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, "port"))
	return runAs(ctx, cred, filepath.Join(bin, "pg_ctl"), "stop", "-m", "fast", "-D", data)
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

// serverCredential is the postgres OS user when running as root (PostgreSQL
// refuses root), which then owns dir; nil otherwise.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// runAs runs a PostgreSQL tool detached from our session, so the server
// pg_ctl starts outlives this process.
func runAs(ctx context.Context, cred *syscall.Credential, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: cred}
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(name), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgBinDir finds initdb and pg_ctl: pg_config --bindir, else the newest
// /usr/lib/postgresql/*/bin.
func pgBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: %s", devserver.ErrNotInstalled, devserver.PostgresInstallHint)
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
