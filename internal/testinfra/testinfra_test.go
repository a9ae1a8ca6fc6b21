package testinfra_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

var (
	schemaA   = testinfra.WithSchemaDir("testdata/schema_a")
	schemaB   = testinfra.WithSchemaDir("testdata/schema_b")
	schemaBad = testinfra.WithSchemaDir("testdata/schema_bad")
)

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func queryInt(t testing.TB, c *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func databaseExists(t testing.TB, name string) bool {
	t.Helper()
	admin := connect(t, testinfra.PostgresServer(t))
	return queryInt(t, admin, "SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
}

func TestPostgresTemplateApplied(t *testing.T) {
	c := connect(t, testinfra.Postgres(t, schemaA))
	if n := queryInt(t, c, "SELECT count(*) FROM widgets WHERE kind = 'small'"); n != 2 {
		t.Errorf("seeded small widgets = %d, want 2", n)
	}
	var db string
	if err := c.QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(db, "t_testpostgrestemplateapplied_") {
		t.Errorf("database name %q does not carry the test name", db)
	}
}

func TestPostgresIsolation(t *testing.T) {
	var writerDB string
	t.Run("writer", func(t *testing.T) {
		c := connect(t, testinfra.Postgres(t, schemaA))
		if _, err := c.Exec(t.Context(), "CREATE TABLE scratch (id int); INSERT INTO widgets (name) VALUES ('delta')"); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRow(t.Context(), "SELECT current_database()").Scan(&writerDB); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, c, "SELECT count(*) FROM widgets"); n != 4 {
			t.Fatalf("widgets after insert = %d", n)
		}
	})
	t.Run("reader", func(t *testing.T) {
		c := connect(t, testinfra.Postgres(t, schemaA))
		if n := queryInt(t, c, "SELECT count(*) FROM pg_tables WHERE tablename = 'scratch'"); n != 0 {
			t.Error("table created by another test is visible")
		}
		if n := queryInt(t, c, "SELECT count(*) FROM widgets"); n != 3 {
			t.Errorf("widgets = %d, want the template's 3", n)
		}
	})
	// The writer's database was dropped when its test ended.
	if writerDB == "" || databaseExists(t, writerDB) {
		t.Errorf("database %q of a finished test still exists", writerDB)
	}
}

func TestPostgresParallel(t *testing.T) {
	var names sync.Map
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			c := connect(t, testinfra.Postgres(t, schemaA))
			var db string
			if err := c.QueryRow(t.Context(), "SELECT current_database()").Scan(&db); err != nil {
				t.Fatal(err)
			}
			if prev, dup := names.LoadOrStore(db, i); dup {
				t.Fatalf("tests %v and %d share database %s", prev, i, db)
			}
			if _, err := c.Exec(t.Context(), "INSERT INTO widgets (name) VALUES ($1)", fmt.Sprint("w", i)); err != nil {
				t.Fatal(err)
			}
			if n := queryInt(t, c, "SELECT count(*) FROM widgets"); n != 4 {
				t.Errorf("widgets = %d, want 3 seeded + 1 own", n)
			}
		})
	}
}

func TestWithSchemaDirSelectsTemplate(t *testing.T) {
	c := connect(t, testinfra.Postgres(t, schemaB))
	if n := queryInt(t, c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('gadgets', 'widgets')"); n != 1 {
		t.Fatalf("tables = %d", n)
	}
	if n := queryInt(t, c, "SELECT count(*) FROM gadgets"); n != 0 {
		t.Errorf("gadgets = %d", n)
	}
}

func TestPostgresServerIsSuperuser(t *testing.T) {
	c := connect(t, testinfra.PostgresServer(t))
	var super bool
	if err := c.QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Error("PostgresServer DSN is not a superuser")
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := testinfra.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(b), "module "+testinfra.ModulePath) {
		t.Errorf("root %s: go.mod %q, %v", root, b, err)
	}
	wd, _ := os.Getwd()
	if rel, err := filepath.Rel(root, wd); err != nil || rel != filepath.Join("internal", "testinfra") {
		t.Errorf("root %s is not two levels above %s", root, wd)
	}
}

// fatalTB records what a helper passes to Fatal instead of failing the real
// test, so the harness's failure messages can be asserted.
type fatalTB struct {
	testing.TB
	mu       sync.Mutex
	msg      string
	cleanups []func()
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprint(args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fatalTB) Fatalf(format string, args ...any) { f.Fatal(fmt.Sprintf(format, args...)) }
func (f *fatalTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }

// fatalOf runs fn with a fatalTB and returns the Fatal message ("" if none).
func fatalOf(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f.msg
}

func TestBadSchemaNamesFileAndLine(t *testing.T) {
	msg := fatalOf(t, func(tb testing.TB) { testinfra.Postgres(tb, schemaBad) })
	for _, want := range []string{filepath.Join("schema_bad", "02_broken.sql"), "line 4 column", "syntax error"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	// The half-built template was discarded.
	admin := connect(t, testinfra.PostgresServer(t))
	if n := queryInt(t, admin, "SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_build\\_%'"); n != 0 {
		t.Errorf("%d template build databases left behind", n)
	}
}

func TestMissingSchemaDir(t *testing.T) {
	msg := fatalOf(t, func(tb testing.TB) { testinfra.Postgres(tb, testinfra.WithSchemaDir("testdata/nope")) })
	if !strings.Contains(msg, "nope") || !strings.Contains(msg, "schema dir") {
		t.Errorf("message: %s", msg)
	}
}

// Several test binaries sharing one server (TEST_DATABASE_URL) build the same
// template at once: all succeed, and exactly one template remains.
func TestSharedServerConcurrentTemplateBuild(t *testing.T) {
	server := testinfra.PostgresServer(t)
	// A schema no one has built yet, so the harnesses really race.
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/schema_a/01_widgets.sql")
	if err != nil {
		t.Fatal(err)
	}
	unique := fmt.Sprintf("-- %s %d\n", t.Name(), time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(dir, "01.sql"), append([]byte(unique), src...), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, server)
	before := templates(t, admin)
	const binaries = 4
	var wg sync.WaitGroup
	errs := make([]error, binaries)
	dsns := make([]string, binaries)
	for i := range binaries {
		h := testinfra.New(testinfra.Config{DatabaseURL: server})
		t.Cleanup(func() { h.Close(context.Background()) })
		wg.Go(func() {
			dsn, drop, err := h.NewDatabase(t.Context(), "shared", testinfra.WithSchemaDir(dir))
			errs[i], dsns[i] = err, dsn
			if err == nil {
				t.Cleanup(func() { drop(context.Background()) })
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, dsn := range dsns {
		c := connect(t, dsn)
		if n := queryInt(t, c, "SELECT count(*) FROM pg_tables WHERE tablename = 'widgets'"); n != 1 {
			t.Errorf("database %d lacks the schema", i)
		}
	}
	var added []string
	for _, name := range templates(t, admin) {
		if !slices.Contains(before, name) {
			added = append(added, name)
		}
	}
	if len(added) != 1 {
		t.Errorf("new templates %v; want exactly one", added)
	}
	// Leave a shared server as we found it.
	t.Cleanup(func() {
		ctx := context.Background()
		for _, name := range added {
			ident := pgx.Identifier{name}.Sanitize()
			if _, err := admin.Exec(ctx, "ALTER DATABASE "+ident+" IS_TEMPLATE false"); err != nil {
				t.Error(err)
			}
			if _, err := admin.Exec(ctx, "DROP DATABASE "+ident); err != nil {
				t.Error(err)
			}
		}
	})
	if n := queryInt(t, admin, "SELECT count(*) FROM pg_database WHERE datname LIKE '%\\_build\\_%'"); n != 0 {
		t.Errorf("%d template build databases left behind", n)
	}
}

func templates(t testing.TB, admin *pgx.Conn) []string {
	t.Helper()
	rows, _ := admin.Query(t.Context(), "SELECT datname FROM pg_database WHERE datistemplate AND datname LIKE 'tmpl\\_%'")
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestRedisPrefixUniqueAndCleaned(t *testing.T) {
	var first testinfra.RedisTarget
	var client rueidis.Client
	t.Run("first", func(t *testing.T) {
		first = testinfra.Redis(t)
		client = redisClient(t, first)
		for i := range 3 {
			if err := client.Do(t.Context(), client.B().Set().Key(fmt.Sprint(first.Prefix, i)).Value("v").Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
	})
	second := testinfra.Redis(t)
	if first.Prefix == second.Prefix || !strings.HasPrefix(second.Prefix, "t:testredisprefixuniqueandcleaned:") {
		t.Errorf("prefixes %q and %q", first.Prefix, second.Prefix)
	}
	if first.Addr != second.Addr || first.Addr == "" {
		t.Errorf("shared server addresses differ: %q %q", first.Addr, second.Addr)
	}
	if opt, err := rueidis.ParseURL(second.URL()); err != nil || opt.InitAddress[0] != second.Addr || opt.SelectDB != second.DB {
		t.Errorf("URL() %s does not round-trip: %+v, %v", second.URL(), opt, err)
	}
	withPw := testinfra.RedisTarget{Addr: "h:1", Username: "u", Password: "p w", DB: 3, TLS: true}
	if got := withPw.URL(); got != "rediss://u:p%20w@h:1/3" {
		t.Errorf("URL() = %s", got)
	}
	c := redisClient(t, second)
	keep := second.Prefix + "keep"
	if err := c.Do(t.Context(), c.B().Set().Key(keep).Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	// The first test's keys were deleted when it ended; this test's were not.
	left, err := c.Do(t.Context(), c.B().Keys().Pattern(first.Prefix+"*").Build()).AsStrSlice()
	if err != nil || len(left) != 0 {
		t.Errorf("keys of a finished test: %v, %v", left, err)
	}
	if n, err := c.Do(t.Context(), c.B().Exists().Key(keep).Build()).AsInt64(); err != nil || n != 1 {
		t.Errorf("own key: %d, %v", n, err)
	}
}

func redisClient(t testing.TB, r testinfra.RedisTarget) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{r.Addr}, Username: r.Username, Password: r.Password, SelectDB: r.DB,
		DisableCache: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestPrivateRedisStopStart(t *testing.T) {
	ctx := t.Context()
	r := testinfra.PrivateRedis(t)
	shared := testinfra.Redis(t)
	if r.Addr() == shared.Addr {
		t.Fatal("private server is the shared one")
	}
	c := redisClient(t, testinfra.RedisTarget{Addr: r.Addr()})
	if err := c.Do(ctx, c.B().Set().Key("k").Value("v").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := devserver.Ping(ctx, r.Addr()); err == nil {
		t.Fatal("server answers after Stop")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The same client reconnects to the same address; the data is gone.
	err := c.Do(ctx, c.B().Get().Key("k").Build()).Error()
	if !rueidis.IsRedisNil(err) {
		t.Errorf("GET after restart: %v, want nil reply", err)
	}
}

func TestMissingBinariesSayWhatToInstall(t *testing.T) {
	empty := t.TempDir()
	h := testinfra.New(testinfra.Config{
		NoDocker: true,
		Postgres: devserver.PostgresConfig{BinDir: empty},
		Redis:    devserver.RedisConfig{Binary: filepath.Join(empty, "redis-server")},
	})
	defer h.Close(context.Background())

	_, err := h.PostgresURL(t.Context())
	if !errors.Is(err, devserver.ErrUnavailable) {
		t.Fatalf("PostgresURL: %v", err)
	}
	msg := fatalOf(t, func(tb testing.TB) { h.Postgres(tb, schemaA) })
	for _, want := range []string{"testinfra:", "no PostgreSQL server available", "apt-get install postgresql", "set TEST_DATABASE_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Postgres failure lacks %q:\n%s", want, msg)
		}
	}
	msg = fatalOf(t, func(tb testing.TB) { h.Redis(tb) })
	for _, want := range []string{"no Redis server available", "apt-get install redis-server", "set TEST_REDIS_URL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Redis failure lacks %q:\n%s", want, msg)
		}
	}
	msg = fatalOf(t, func(tb testing.TB) { h.PrivateRedis(tb) })
	if !strings.Contains(msg, "apt-get install redis-server") {
		t.Errorf("PrivateRedis failure: %s", msg)
	}
}

func TestURLPasswordsNeverInErrors(t *testing.T) {
	const secret = "Sup3rSecretPw"
	for _, cfg := range []testinfra.Config{
		{DatabaseURL: "postgres://u:" + secret + "@127.0.0.1:1/db?sslmode=disable", RedisURL: "redis://u:" + secret + "@127.0.0.1:1/0"},
		{DatabaseURL: "host=127.0.0.1 port=1 user=u password=" + secret + " sslmode=disable", RedisURL: "redis://:" + secret + "@127.0.0.1:1/0"},
		{DatabaseURL: "postgres://u:" + secret + "@127.0.0.1:notaport/db", RedisURL: "redis://u:" + secret + "@127.0.0.1:notaport/0"},
	} {
		h := testinfra.New(cfg)
		_, pgErr := h.PostgresURL(t.Context())
		_, redisErr := h.RedisURL(t.Context())
		msgs := []string{
			fmt.Sprint(pgErr), fmt.Sprint(redisErr),
			fatalOf(t, func(tb testing.TB) { h.Postgres(tb, schemaA) }),
			fatalOf(t, func(tb testing.TB) { h.Redis(tb) }),
		}
		for _, msg := range msgs {
			if msg == "<nil>" || msg == "" {
				t.Errorf("%s: expected a failure", devserver.RedactURL(cfg.DatabaseURL))
			}
			if strings.Contains(msg, secret) {
				t.Errorf("password leaked: %s", msg)
			}
		}
		h.Close(context.Background())
	}
}
