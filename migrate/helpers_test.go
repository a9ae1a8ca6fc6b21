package migrate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/migrate"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// project is a temporary project: schema/ and migrations/ under one root.
type project struct {
	root, schemaDir, dir string
	server               string
	clock                *fixedClock
	t                    testing.TB
}

// fixedClock always returns the same instant: every diff of a test runs
// "within the same second".
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func newProject(t testing.TB) *project {
	t.Helper()
	root := t.TempDir()
	p := &project{
		root:      root,
		schemaDir: filepath.Join(root, "schema"),
		dir:       filepath.Join(root, "migrations"),
		server:    testinfra.PostgresServer(t),
		clock:     &fixedClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
		t:         t,
	}
	for _, d := range []string{p.schemaDir, p.dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *project) migrator(cfg migrate.Config) *migrate.Migrator {
	cfg.Dir, cfg.SchemaDir, cfg.DevURL, cfg.Now = p.dir, p.schemaDir, p.server, p.clock.Now
	if cfg.LockTimeout == 0 {
		cfg.LockTimeout = 30 * time.Second
	}
	m := migrate.New(cfg)
	p.t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			p.t.Errorf("close migrator: %v", err)
		}
	})
	return m
}

// setSchema replaces schema/ with the given files (name -> SQL).
func (p *project) setSchema(t testing.TB, files map[string]string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(p.schemaDir, "*.sql"))
	for _, f := range old {
		os.Remove(f)
	}
	for name, sql := range files {
		writeFile(t, filepath.Join(p.schemaDir, name), sql)
	}
}

// addMigration writes a hand-written migration file and re-hashes.
func (p *project) addMigration(t testing.TB, name, sql string) {
	t.Helper()
	writeFile(t, filepath.Join(p.dir, name), sql)
	if err := p.migrator(migrate.Config{}).Hash(); err != nil {
		t.Fatal(err)
	}
}

func (p *project) read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// targetDB creates an empty database on the test server, dropped at cleanup.
func targetDB(t testing.TB, server string) (*sql.DB, string) {
	t.Helper()
	ctx := context.Background()
	admin, err := migrate.Open(server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "migtest_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	dsn := replaceDB(t, server, name)
	db, err := migrate.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return db, dsn
}

// replaceDB points a URL or keyword/value DSN at another database.
func replaceDB(t testing.TB, dsn, name string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " dbname=" + name
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
