package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	surrealdb "github.com/surrealdb/surrealdb.go"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// env is one test's PostgreSQL database, optional SurrealDB database and
// file:// store.
type env struct {
	dsn      string
	dbName   string
	storeDir string
	sur      *surrealpeer.Target
}

func newEnv(t *testing.T, withSurreal bool) *env {
	t.Helper()
	e := &env{dsn: testinfra.Postgres(t), storeDir: t.TempDir()}
	u, err := url.Parse(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	e.dbName = strings.TrimPrefix(u.Path, "/")
	if withSurreal {
		tg := surrealpeer.ForTest(t)
		e.sur = &tg
	}
	return e
}

func (e *env) config() backup.Config {
	cfg := backup.Config{
		URL:         "file://" + e.storeDir,
		PostgresURL: e.dsn,
		Migrations:  migrationsFS("20260101000000"),
	}
	if e.sur != nil {
		cfg.SurrealURL, cfg.SurrealUser, cfg.SurrealPassword = e.sur.URL, e.sur.Username, e.sur.Password
		cfg.SurrealNamespace, cfg.SurrealDatabase = e.sur.Namespace, e.sur.Database
	}
	return cfg
}

func migrationsFS(versions ...string) fstest.MapFS {
	sum := "h1:dirhash=\n"
	for _, v := range versions {
		sum += v + "_step.sql h1:x=\n"
	}
	return fstest.MapFS{"atlas.sum": {Data: []byte(sum)}}
}

func newManager(t *testing.T, cfg backup.Config) *backup.Manager {
	t.Helper()
	m, err := backup.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// seedUsers inserts n users named u<i>@x.
func seedUsers(t *testing.T, dsn string, n int) {
	t.Helper()
	c := connect(t, dsn)
	exec(t, c, `INSERT INTO users (email, display_name) SELECT 'u' || i || '@x', 'User ' || i FROM generate_series(1, $1) i`, n)
	_ = c.Close(t.Context())
}

// userEmails returns the sorted emails in the database (fresh connection).
func userEmails(t *testing.T, dsn string) []string {
	t.Helper()
	c := connect(t, dsn)
	defer c.Close(context.Background())
	rows, err := c.Query(t.Context(), "SELECT email FROM users ORDER BY email")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// databasesLike returns the databases whose names start with prefix.
func databasesLike(t *testing.T, prefix string) []string {
	t.Helper()
	c := connect(t, testinfra.PostgresServer(t))
	defer c.Close(context.Background())
	rows, err := c.Query(t.Context(), "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", prefix)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func surrealDB(t *testing.T, tg *surrealpeer.Target, db string) *surrealdb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := surrealdb.FromEndpointURLString(ctx, tg.URL)
	if err != nil {
		t.Fatalf("surrealdb connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if _, err := c.SignIn(ctx, surrealdb.Auth{Username: tg.Username, Password: tg.Password}); err != nil {
		t.Fatalf("surrealdb signin: %v", err)
	}
	if err := c.Use(ctx, tg.Namespace, db); err != nil {
		t.Fatalf("surrealdb use: %v", err)
	}
	return c
}

func surrealQuery(t *testing.T, c *surrealdb.DB, q string) []any {
	t.Helper()
	res, err := surrealdb.Query[[]any](t.Context(), c, q, nil)
	if err != nil {
		t.Fatalf("surrealdb %s: %v", q, err)
	}
	if len(*res) == 0 {
		return nil
	}
	return (*res)[len(*res)-1].Result
}

// surrealNames returns the sorted names of the person table.
func surrealNames(t *testing.T, c *surrealdb.DB) []string {
	t.Helper()
	var out []string
	for _, r := range surrealQuery(t, c, "SELECT VALUE name FROM person ORDER BY name") {
		s, _ := r.(string)
		out = append(out, s)
	}
	return out
}

// artifactPath is the file of the first artifact of a backup in a file://
// store whose name starts with prefix.
func artifactPath(t *testing.T, e *env, man *backup.Manifest, prefix string) string {
	t.Helper()
	for _, a := range man.Artifacts {
		if strings.HasPrefix(a.Name, prefix) {
			return filepath.Join(e.storeDir, filepath.FromSlash(a.Key))
		}
	}
	t.Fatalf("no artifact %s* in %s", prefix, man.ID)
	return ""
}

func mustErrIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// writeManifest stores man in e's file:// store as is.
func writeManifest(t *testing.T, e *env, man *backup.Manifest) {
	t.Helper()
	b, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.storeDir, "backups", man.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "manifest.json"), string(b))
}
