package testinfra

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/devserver"
)

// ModulePath is the module whose root ModuleRoot looks for.
const ModulePath = "github.com/agentical/datalayer"

// std is the harness of this test binary. A process-wide value is the point:
// servers are shared by every test of the binary and stopped by Main.
var std struct {
	once     sync.Once
	h        *Harness
	mainRuns atomic.Bool
}

func defaultHarness(t testing.TB) *Harness {
	t.Helper()
	if !std.mainRuns.Load() {
		t.Fatal("testinfra: servers are stopped by testinfra.Main; add\n\tfunc TestMain(m *testing.M) { testinfra.Main(m) }\nto this test package")
	}
	std.once.Do(func() { std.h = New(ConfigFromEnv()) })
	return std.h
}

// Main runs the tests, stops the servers they started and exits. Call it
// from TestMain.
func Main(m *testing.M) {
	std.mainRuns.Store(true)
	code := m.Run()
	std.once.Do(func() {}) // no harness created after this point
	if std.h != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := std.h.Close(ctx)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Postgres returns the DSN of a fresh database for t, cloned from a template
// holding the schema (<module root>/schema unless WithSchemaDir says
// otherwise) and dropped when t ends.
func Postgres(t testing.TB, opts ...Option) string {
	t.Helper()
	return defaultHarness(t).Postgres(t, opts...)
}

// PostgresServer returns a superuser DSN of the shared server's
// administrative database, for tests that create databases of their own.
func PostgresServer(t testing.TB) string {
	t.Helper()
	return defaultHarness(t).PostgresServer(t)
}

// Redis returns the shared Redis server with a key prefix unique to t.
func Redis(t testing.TB) RedisTarget {
	t.Helper()
	return defaultHarness(t).Redis(t)
}

// PrivateRedis starts a redis-server for t alone (local binary), stopped when
// t ends; Stop and Start on it simulate an outage.
func PrivateRedis(t testing.TB) *devserver.Redis {
	t.Helper()
	return defaultHarness(t).PrivateRedis(t)
}

// ModuleRoot walks up from the working directory to the directory whose
// go.mod declares ModulePath. Tests in nested modules (testdata projects)
// do not find it and should pass WithSchemaDir.
func ModuleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testinfra: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if mod, err := modulePathOf(filepath.Join(dir, "go.mod")); err == nil && mod == ModulePath {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("testinfra: no go.mod declaring module %s above %s; pass testinfra.WithSchemaDir", ModulePath, wd)
		}
	}
}

func modulePathOf(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(strings.Split(rest, "//")[0]), `"`), nil
		}
	}
	return "", errors.Join(errors.New("no module line"), s.Err())
}
