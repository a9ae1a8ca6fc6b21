package devserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// defaultStartTimeout bounds a start when the caller's context has no deadline.
const defaultStartTimeout = 2 * time.Minute

// withDefaultTimeout gives ctx a deadline when it has none, so a wedged server
// cannot hang a test binary forever.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultStartTimeout)
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before the server binds it; callers retry on "address in use".
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devserver: pick free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// identity is the OS user a child runs as; nil means the current user.
type identity struct {
	name     string
	uid, gid uint32
}

// lookupIdentity resolves name to uid/gid.
func lookupIdentity(name string) (*identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("devserver: running as root, PostgreSQL must run as another OS user, but user %q does not exist (create it, e.g. \"useradd --system %s\", or run the tests as a non-root user): %w", name, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("devserver: user %q has a non-numeric uid/gid: %w", name, err)
	}
	return &identity{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// childEnv is the parent's environment minus variables that would redirect a
// PostgreSQL child elsewhere (PGDATA, PGPORT, ...), with a neutral locale.
func childEnv() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// reachableBy reports whether every ancestor of dir can be traversed by a user
// who is neither its owner nor root (other-execute bit), which is what a child
// running as another user needs.
func reachableBy(dir string, id *identity) bool {
	if id == nil {
		return true
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return false
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 ||
			(st != nil && st.Uid == id.uid && mode&0o100 != 0) ||
			(st != nil && st.Gid == id.gid && mode&0o010 != 0)
		if !ok {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// defaultParent is os.TempDir(), or /tmp when id could not reach that.
func defaultParent(id *identity) string {
	if dir := os.TempDir(); reachableBy(dir, id) {
		return dir
	}
	return "/tmp"
}

// makeTempDir creates a private temp dir under parent (default
// defaultParent) and hands it to id.
func makeTempDir(parent, pattern string, id *identity) (string, error) {
	if parent == "" {
		parent = defaultParent(id)
	}
	if !reachableBy(parent, id) {
		return "", fmt.Errorf("devserver: directory %s is not reachable by OS user %q; choose a world-traversable directory", parent, id.name)
	}
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", fmt.Errorf("devserver: create temp dir: %w", err)
	}
	if id != nil {
		if err := os.Chown(dir, int(id.uid), int(id.gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("devserver: chown %s to %s: %w", dir, id.name, err)
		}
	}
	return dir, nil
}

// proc is a started child process whose exit is observed by one goroutine.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits; when ctx ends first it escalates to SIGKILL of the
// whole process group (the server's own children included).
func (p *proc) stop(ctx context.Context, sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("devserver: %s did not stop in time and was killed: %w", filepath.Base(p.cmd.Path), ctx.Err())
	}
}

// tail returns the last n bytes of the file at path, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(bytes.TrimSpace(b))
}

// addrInUse reports whether a server log says its port was taken.
func addrInUse(log string) bool {
	return strings.Contains(log, "Address already in use") || strings.Contains(log, "could not bind") ||
		strings.Contains(log, "Could not create server TCP listening socket")
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ownerFile in a server's directory holds the pid of the process that
// started the server, so later starts can tell abandoned directories apart.
const ownerFile = "devserver.owner"

// claimDir records this process as the owner of dir.
func claimDir(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// sweepAbandoned removes directories matching pattern in parent whose owner
// process is gone: a test binary killed by a timeout never runs its cleanup,
// and its server dies with it (parent-death signal) but the directory stays,
// which under /dev/shm would hold memory until reboot. Directories younger
// than a minute, without an owner file, or whose owner lives are kept.
func sweepAbandoned(parent, pattern string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, pattern))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}
