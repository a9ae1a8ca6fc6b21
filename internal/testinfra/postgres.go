package testinfra

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/internal/devserver"
)

// Option adjusts Postgres and NewDatabase.
type Option func(*options)

type options struct {
	schemaDir string
}

// WithSchemaDir makes the template from the *.sql files of dir, applied in
// name order, instead of <module root>/schema.
func WithSchemaDir(dir string) Option {
	return func(o *options) { o.schemaDir = dir }
}

// templateFormat versions how templates are built; bump it when that changes
// so shared servers do not reuse templates built the old way.
const templateFormat = "testinfra-template-v1"

// Postgres returns the DSN of a new database cloned from the schema's
// template; the database is dropped when t ends. It fails t when no server
// can be had or the schema does not apply.
func (h *Harness) Postgres(t testing.TB, opts ...Option) string {
	t.Helper()
	dsn, drop, err := h.newDatabase(t.Context(), t.Name(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// PostgresServer returns a superuser DSN of the server's administrative
// database ("postgres" for servers the harness starts), for tests that
// create databases of their own. It fails t when no server can be had.
func (h *Harness) PostgresServer(t testing.TB) string {
	t.Helper()
	dsn, err := h.PostgresURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// NewDatabase creates a database cloned from the schema's template and
// returns its DSN and a function that drops it. label (e.g. a test or
// benchmark name) becomes part of the database name, for debugging.
func (h *Harness) NewDatabase(ctx context.Context, label string, opts ...Option) (dsn string, drop func(context.Context) error, err error) {
	return h.newDatabase(ctx, label, opts...)
}

func (h *Harness) newDatabase(ctx context.Context, label string, opts ...Option) (string, func(context.Context) error, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if err := h.ensurePostgres(ctx); err != nil {
		return "", nil, err
	}
	dir := o.schemaDir
	if dir == "" {
		dir = h.cfg.SchemaDir
	}
	if dir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return "", nil, err
		}
		dir = filepath.Join(root, "schema")
	}
	tmpl, err := h.template(ctx, dir)
	if err != nil {
		return "", nil, err
	}
	name := "t_" + identPart(label, 40) + "_" + randomSuffix(10)
	create := "CREATE DATABASE " + quoteIdent(name) + " TEMPLATE " + quoteIdent(tmpl)
	if h.pgVer >= 150000 && !h.fsync {
		// FILE_COPY copies the files instead of WAL-logging every block, but
		// checkpoints twice: much faster on our fsync=off servers, 3-4x
		// slower than the default WAL_LOG on a durable shared server.
		create += " STRATEGY FILE_COPY"
	}
	if err := h.execRetryInUse(ctx, create); err != nil {
		return "", nil, fmt.Errorf("testinfra: clone template %s (schema %s): %w", tmpl, dir, err)
	}
	drop := func(ctx context.Context) error {
		if _, err := h.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("testinfra: drop database %s: %w", name, err)
		}
		return nil
	}
	dsn, err := withDatabase(h.pg.URL, name)
	if err != nil {
		return "", nil, errors.Join(err, drop(ctx))
	}
	return dsn, drop, nil
}

// execRetryInUse runs a CREATE DATABASE, retrying while the template is
// briefly in use (SQLSTATE 55006), e.g. by an autovacuum worker or another
// process's CREATE DATABASE on an older server.
func (h *Harness) execRetryInUse(ctx context.Context, sql string) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if _, err = h.admin.Exec(ctx, sql); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// template returns the name of the template database for dir, building it
// once per Harness (and at most once per server for a given content).
func (h *Harness) template(ctx context.Context, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("testinfra: schema dir %s: %w", dir, err)
	}
	h.tmplMu.Lock()
	tp := h.templates[abs]
	if tp == nil {
		tp = &template{}
		h.templates[abs] = tp
	}
	h.tmplMu.Unlock()
	tp.once.Do(func() {
		// Not the caller's context: a template outlives the test that
		// happened to ask first.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		tp.name, tp.err = h.buildTemplate(ctx, abs)
	})
	return tp.name, tp.err
}

type schemaFile struct {
	name string
	sql  string
}

func readSchema(dir string) ([]schemaFile, string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err == nil && len(paths) == 0 {
		if _, statErr := os.Stat(dir); statErr != nil {
			err = fmt.Errorf("testinfra: schema dir: %w", statErr)
		} else {
			err = fmt.Errorf("testinfra: schema dir %s holds no *.sql files", dir)
		}
	}
	if err != nil {
		return nil, "", err
	}
	slices.Sort(paths)
	sum := sha256.New()
	sum.Write([]byte(templateFormat))
	files := make([]schemaFile, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("testinfra: read schema: %w", err)
		}
		// Length-prefix each field so ("ab","c") and ("a","bc") differ.
		for _, field := range [][]byte{[]byte(filepath.Base(p)), b} {
			sum.Write(binary.BigEndian.AppendUint64(nil, uint64(len(field))))
			sum.Write(field)
		}
		files = append(files, schemaFile{name: filepath.Base(p), sql: string(b)})
	}
	return files, hex.EncodeToString(sum.Sum(nil))[:20], nil
}

// buildTemplate creates the template under a private name and renames it
// into place. Another process racing on the same server either finds the
// finished template or loses the rename and discards its copy; nobody can
// clone a half-built one.
func (h *Harness) buildTemplate(ctx context.Context, dir string) (string, error) {
	files, hash, err := readSchema(dir)
	if err != nil {
		return "", err
	}
	name := "tmpl_" + hash
	var exists bool
	if err := h.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("testinfra: look up template: %w", err)
	}
	if exists {
		return name, nil
	}
	build := name + "_build_" + randomSuffix(8)
	if _, err := h.admin.Exec(ctx, "CREATE DATABASE "+quoteIdent(build)+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return "", fmt.Errorf("testinfra: create template: %w", err)
	}
	discard := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = h.admin.Exec(dctx, "ALTER DATABASE "+quoteIdent(build)+" IS_TEMPLATE false")
		_, _ = h.admin.Exec(dctx, "DROP DATABASE IF EXISTS "+quoteIdent(build)+" WITH (FORCE)")
	}
	if err := h.applySchema(ctx, build, dir, files); err != nil {
		discard()
		return "", err
	}
	// No connections allowed: CREATE DATABASE ... TEMPLATE fails while
	// anyone is connected to the template. IS_TEMPLATE lets non-owners
	// with CREATEDB clone it.
	if _, err := h.admin.Exec(ctx, "ALTER DATABASE "+quoteIdent(build)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		discard()
		return "", fmt.Errorf("testinfra: mark template: %w", err)
	}
	if _, err := h.admin.Exec(ctx, "ALTER DATABASE "+quoteIdent(build)+" RENAME TO "+quoteIdent(name)); err != nil {
		discard()
		var pgErr *pgconn.PgError
		// Another process won: duplicate_database when it finished first,
		// unique_violation on pg_database's name index when both renamed at once.
		if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
			return name, nil
		}
		return "", fmt.Errorf("testinfra: rename template: %w", err)
	}
	return name, nil
}

func (h *Harness) applySchema(ctx context.Context, db, dir string, files []schemaFile) error {
	dsn, err := withDatabase(h.pg.URL, db)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("testinfra: connect to template: %s", redactIn(err.Error(), dsn))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, f := range files {
		// Without arguments pgx uses the simple protocol, which accepts a
		// whole file of statements (run as one implicit transaction).
		if _, err := conn.Exec(ctx, f.sql); err != nil {
			return fmt.Errorf("testinfra: apply schema %s: %s", filepath.Join(dir, f.name), describeSQLError(err, f.sql))
		}
	}
	return nil
}

// describeSQLError adds line:column to a PostgreSQL error that carries a
// character position.
func describeSQLError(err error, sql string) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Position <= 0 {
		return err.Error()
	}
	runes := []rune(sql)
	pos := min(int(pgErr.Position)-1, len(runes))
	before := string(runes[:pos])
	line := strings.Count(before, "\n") + 1
	col := len([]rune(before[strings.LastIndex(before, "\n")+1:])) + 1
	return fmt.Sprintf("line %d column %d: %s", line, col, err.Error())
}

// withDatabase returns dsn pointing at database db. It handles URL DSNs and
// libpq keyword/value strings.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("testinfra: cannot parse PostgreSQL DSN %s", devserver.RedactURL(dsn))
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	// Later keywords win in libpq keyword/value strings.
	return dsn + " dbname='" + db + "'", nil
}

var kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// identPart turns s into at most n characters of [a-z0-9_].
func identPart(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= n {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }
