package migrate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/agentical/datalayer/internal/devserver"
)

// devServer is a PostgreSQL server on which throwaway databases are created.
type devServer struct {
	admin *sql.DB
	cfg   *pgx.ConnConfig
	stop  func(context.Context) error
}

// openDev connects to the configured dev server, starting one when needed.
func (m *Migrator) openDev(ctx context.Context) (*devServer, error) {
	dsn, stop := m.cfg.DevURL, func(context.Context) error { return nil }
	if dsn == "" {
		if m.cfg.StartDev == nil {
			return nil, ErrNoDevDatabase
		}
		var err error
		if dsn, stop, err = m.cfg.StartDev(ctx); err != nil {
			return nil, fmt.Errorf("migrate: start dev database: %w", err)
		}
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		_ = stop(ctx)
		return nil, fmt.Errorf("migrate: parse dev URL %s: %w", RedactURL(dsn), err)
	}
	admin := stdlib.OpenDB(*cfg)
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		_ = stop(ctx)
		return nil, fmt.Errorf("migrate: connect dev database %s: %w", RedactURL(dsn), err)
	}
	return &devServer{admin: admin, cfg: cfg, stop: stop}, nil
}

func (s *devServer) Close(ctx context.Context) error {
	return errors.Join(s.admin.Close(), s.stop(ctx))
}

// acquireDev returns n empty dev databases, reusing the ones earlier calls
// released: creating and dropping databases dominates a small diff.
func (m *Migrator) acquireDev(ctx context.Context, n int) ([]*devDB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dev == nil {
		srv, err := m.openDev(ctx)
		if err != nil {
			return nil, err
		}
		m.dev = srv
	}
	dbs := make([]*devDB, n)
	k := copy(dbs, m.free)
	m.free = m.free[k:]
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := k; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); dbs[i], errs[i] = m.dev.create(ctx) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, db := range dbs {
			if db != nil {
				db.Close(ctx)
			}
		}
		return nil, err
	}
	return dbs, nil
}

// resetQuery empties a dev database: every user schema goes (with the
// extensions, types and functions in it) and an empty public comes back.
const resetQuery = `DO $$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  CREATE SCHEMA public;
END $$`

// releaseDev empties the databases and keeps them for the next call;
// a database that cannot be emptied is dropped.
func (m *Migrator) releaseDev(ctx context.Context, dbs ...*devDB) {
	ctx = context.WithoutCancel(ctx)
	for _, db := range dbs {
		if db == nil {
			continue
		}
		if db.keep {
			db.Close(ctx)
			continue
		}
		if _, err := db.db.ExecContext(ctx, resetQuery); err != nil {
			db.Close(ctx)
			continue
		}
		m.mu.Lock()
		m.free = append(m.free, db)
		m.mu.Unlock()
	}
}

// Close drops the dev databases Diff, Check and Lint keep for reuse and
// stops a dev server started through StartDev. The Migrator stays usable.
func (m *Migrator) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, db := range m.free {
		errs = append(errs, db.Close(ctx))
	}
	m.free = nil
	if m.dev != nil {
		errs = append(errs, m.dev.Close(ctx))
		m.dev = nil
	}
	return errors.Join(errs...)
}

// devDB is one throwaway database, dropped by Close unless it is a cached
// one (keep), which Close only disconnects from.
type devDB struct {
	db   *sql.DB
	drv  amigrate.Driver
	name string
	srv  *devServer
	keep bool
}

// cachePrefix starts the names of cached dev databases; cacheKeep is how
// many of each kind are kept.
const (
	cachePrefix = "dlcache_"
	cacheKeep   = 6
)

// cached returns the dev database kind_<key>, building it with build when
// it does not exist yet. Building happens under a temporary name that is
// renamed when complete, so a failed or concurrent build never publishes a
// half-loaded database; only the newest cacheKeep of a kind are kept. The
// result must not be modified (clone it with cloneOf).
func (m *Migrator) cached(ctx context.Context, kind, key string, build func(*devDB) error) (*devDB, error) {
	m.mu.Lock()
	if m.dev == nil {
		srv, err := m.openDev(ctx)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		m.dev = srv
	}
	srv := m.dev
	m.mu.Unlock()
	name := cachePrefix + kind + "_" + key
	var exists bool
	if err := srv.admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrate: look up cached dev database: %w", err)
	}
	if !exists {
		tmp, err := srv.create(ctx)
		if err != nil {
			return nil, err
		}
		if err := build(tmp); err != nil {
			tmp.Close(ctx)
			return nil, err
		}
		tmp.db.Close()
		if _, err := srv.admin.ExecContext(ctx, "ALTER DATABASE "+quoteIdent(tmp.name)+" RENAME TO "+quoteIdent(name)); err != nil {
			tmp.Close(ctx) // another process published it first
		}
		// Keep the newest few of this kind (several projects may share a
		// dev server), drop the rest.
		rows, err := srv.admin.QueryContext(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname <> $2 ORDER BY oid DESC OFFSET $3", cachePrefix+kind+"_%", name, cacheKeep-1)
		if err == nil {
			var old []string
			for rows.Next() {
				var n string
				if rows.Scan(&n) == nil {
					old = append(old, n)
				}
			}
			rows.Close()
			for _, n := range old {
				_, _ = srv.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(n)+" WITH (FORCE)")
			}
		}
	}
	return srv.open(ctx, name, true)
}

// cloneOf copies a cached database (which must have no open connection)
// into a new throwaway one.
func (m *Migrator) cloneOf(ctx context.Context, src *devDB) (*devDB, error) {
	src.db.Close()
	return src.srv.createFrom(ctx, src.name)
}

// create makes a fresh empty database from template0.
func (s *devServer) create(ctx context.Context) (*devDB, error) {
	return s.createFrom(ctx, "template0")
}

// createFrom makes a new database copied from template.
func (s *devServer) createFrom(ctx context.Context, template string) (*devDB, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "atlasdev_" + hex.EncodeToString(b[:])
	q := "CREATE DATABASE " + quoteIdent(name) + " TEMPLATE " + quoteIdent(template)
	if template != "template0" {
		q += " STRATEGY FILE_COPY"
	}
	if _, err := s.admin.ExecContext(ctx, q); err != nil {
		return nil, fmt.Errorf("migrate: create dev database: %w", err)
	}
	return s.open(ctx, name, false)
}

// open connects to an existing dev database.
func (s *devServer) open(ctx context.Context, name string, keep bool) (*devDB, error) {
	d := &devDB{name: name, srv: s, keep: keep}
	cfg := s.cfg.Copy()
	cfg.Database = name
	d.db = stdlib.OpenDB(*cfg)
	// One session, so SET statements in a file apply to the statements after it.
	d.db.SetMaxOpenConns(1)
	drv, err := postgres.Open(d.db)
	if err != nil {
		d.Close(ctx)
		return nil, fmt.Errorf("migrate: open dev database: %w", err)
	}
	d.drv = drv
	return d, nil
}

// Close drops the database, ending sessions still connected to it; a
// cached database is only disconnected.
func (d *devDB) Close(ctx context.Context) error {
	err := d.db.Close()
	if d.keep {
		return err
	}
	if _, err2 := d.srv.admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteIdent(d.name)+" WITH (FORCE)"); err2 != nil {
		err = errors.Join(err, fmt.Errorf("migrate: drop dev database: %w", err2))
	}
	return err
}

// execStmts runs the statements of f one by one on drv; an error names
// dir/file:line of the failing statement (the line of the error position
// PostgreSQL reports, when it reports one).
func execStmts(ctx context.Context, drv amigrate.Driver, f amigrate.File, dir string) error {
	stmts, err := amigrate.FileStmtDecls(drv, f)
	if err != nil {
		return fmt.Errorf("migrate: scan %s: %w", filepath.Join(dir, f.Name()), err)
	}
	for _, s := range stmts {
		if _, err := drv.ExecContext(ctx, s.Text); err != nil {
			return fmt.Errorf("migrate: %w", stmtError(filepath.Join(dir, f.Name()), f, s, err))
		}
	}
	return nil
}

// stmtError formats "path:line: message (SQLSTATE) in: statement" for a
// statement of f that failed; the line points at PostgreSQL's error
// position inside the statement when there is one.
func stmtError(path string, f amigrate.File, s *amigrate.Stmt, err error) error {
	line := lineOf(f.Bytes(), s.Pos)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Position > 0 {
		if r := []rune(s.Text); int(pe.Position) <= len(r) {
			line += strings.Count(string(r[:pe.Position-1]), "\n")
		}
	}
	first, _, _ := strings.Cut(strings.TrimSpace(s.Text), "\n")
	if len(first) > 120 {
		first = first[:120] + "..."
	}
	return &StmtError{Path: path, Line: line, Stmt: first, Err: err}
}

// StmtError is a statement of a schema or migration file that failed on a
// dev database.
type StmtError struct {
	Path string // file path
	Line int    // 1-based line of the error
	Stmt string // first line of the statement
	Err  error
}

func (e *StmtError) Error() string {
	return fmt.Sprintf("%s:%d: %v\n\tin: %s", e.Path, e.Line, e.Err, e.Stmt)
}

func (e *StmtError) Unwrap() error { return e.Err }

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// RedactURL hides the password of a URL or keyword/value DSN.
func RedactURL(dsn string) string { return devserver.RedactURL(dsn) }
