package devserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// initdbArgs are the initdb options after -D; they are part of the cache key.
// 1 MB WAL segments instead of 16 MB: less to write and copy per start.
var initdbArgs = []string{"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--wal-segsize=1"}

// initCluster fills dataDir with a new cluster: a copy of the cached one when
// there is one, else initdb (then caching the result).
func initCluster(ctx context.Context, cfg PostgresConfig, binDir, dataDir string, id *identity, log *os.File) error {
	cacheDir := ""
	if !cfg.NoClusterCache {
		cacheDir = clusterCacheDir(binDir, dataDir, id)
	}
	if cacheDir != "" {
		if _, err := os.Stat(cacheDir); err == nil {
			if copyTree(ctx, cacheDir, dataDir) == nil {
				return nil
			}
			_ = os.RemoveAll(dataDir) // a failed copy falls back to initdb
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), append([]string{"-D", dataDir}, initdbArgs...)...)
	cmd.Env = childEnv()
	cmd.Dir = filepath.Dir(dataDir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr(id, syscall.SIGKILL)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("devserver: initdb in %s: %w", dataDir, err)
	}
	if cacheDir != "" {
		storeCluster(ctx, dataDir, cacheDir)
	}
	return nil
}

// clusterCacheDir is the cache entry for this installation and user, beside
// the server's own temporary directory (so the copy stays on one file
// system), or "" when the cache root is unusable. The key covers the binaries (path, size,
// mtime, so an upgrade misses) and the initdb options.
func clusterCacheDir(binDir, dataDir string, id *identity) string {
	fi, err := os.Stat(filepath.Join(binDir, "postgres"))
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintln(h, binDir, fi.Size(), fi.ModTime().UnixNano(), initdbArgs)
	if id != nil {
		fmt.Fprintln(h, id.uid, id.gid)
	}
	root := filepath.Join(filepath.Dir(filepath.Dir(dataDir)), "devserver-pgcache-"+strconv.Itoa(os.Geteuid()))
	if err := os.Mkdir(root, 0o700); err != nil && !os.IsExist(err) {
		return ""
	}
	// /tmp is shared: use the root only if it is ours and private.
	st, err := os.Lstat(root)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
		return ""
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Geteuid() {
		return ""
	}
	return filepath.Join(root, hex.EncodeToString(h.Sum(nil))[:24])
}

// storeCluster copies a fresh data directory into the cache under a private
// name and renames it into place, so readers never see a partial copy. Any
// failure just leaves the cache empty.
func storeCluster(ctx context.Context, dataDir, cacheDir string) {
	tmp := fmt.Sprintf("%s.tmp-%d-%s", cacheDir, os.Getpid(), rand.Text())
	if err := copyTree(ctx, dataDir, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return
	}
	if err := os.Rename(tmp, cacheDir); err != nil { // another process was first
		_ = os.RemoveAll(tmp)
	}
}

// copyTree copies src to dst keeping modes and owners (cp -a), which
// PostgreSQL requires of its data directory.
func copyTree(ctx context.Context, src, dst string) error {
	out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("devserver: cp -a %s %s: %w: %s", src, dst, err, out)
	}
	return nil
}
