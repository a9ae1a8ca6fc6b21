package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentical/datalayer/internal/redact"
)

// pgTool returns the path of a PostgreSQL client program.
func (m *Manager) pgTool(name string) string {
	if m.cfg.PGBinDir != "" {
		return filepath.Join(m.cfg.PGBinDir, name)
	}
	pgBinOnce.Do(func() {
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			pgBinDir = strings.TrimSpace(string(out))
		}
	})
	if pgBinDir != "" {
		if _, err := os.Stat(filepath.Join(pgBinDir, name)); err == nil {
			return filepath.Join(pgBinDir, name)
		}
	}
	return name
}

var (
	pgBinOnce sync.Once
	pgBinDir  string
)

// toolConn splits a DSN into what a libpq program gets on its command line
// (no password) and its environment (PGPASSWORD), so the password never
// shows in a process list.
func toolConn(dsn string) (conn string, env []string) {
	env = os.Environ()
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
		return u.String(), env
	}
	return dsn, env
}

// withDatabase returns dsn pointing at database db.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%w: DATABASE_URL %s does not parse", ErrConfig, redact.DSN(dsn))
		}
		u.Path = "/" + db
		u.RawPath = ""
		return u.String(), nil
	}
	return dsn + " dbname='" + strings.ReplaceAll(db, "'", `\'`) + "'", nil
}

func databaseOf(dsn string) (string, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("%w: DATABASE_URL %s does not parse", ErrConfig, redact.DSN(dsn))
	}
	return cfg.Database, nil
}

func (m *Manager) connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("backup: connect to %s: %w", redact.DSN(dsn), redact.Error(err, dsn))
	}
	return c, nil
}

// runTool runs a PostgreSQL client program; its stderr tail goes into the
// error.
func (m *Manager) runTool(ctx context.Context, dsn string, name string, args ...string) ([]byte, error) {
	_, env := toolConn(dsn)
	cmd := exec.CommandContext(ctx, m.pgTool(name), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	m.cfg.Logger.Debug("run", "tool", name)
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("backup: %s: %v: %s", name, err, redact.Text(msg, dsn))
	}
	return stdout.Bytes(), nil
}

func (m *Manager) toolVersion(name string) string {
	out, err := exec.Command(m.pgTool(name), "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// dumpPostgres takes a pg_dump custom-format archive of the configured
// database and, from the same snapshot, per-table row counts and
// checksums.
func (m *Manager) dumpPostgres(ctx context.Context, man *Manifest) error {
	conn, err := m.connect(ctx, m.cfg.PostgresURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("backup: begin snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	info := &PostgresInfo{}
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot(), current_setting('server_version'), d.datname,
			pg_encoding_to_char(d.encoding), d.datcollate, d.datctype
			FROM pg_database d WHERE d.datname = current_database()`).Scan(&snapshot, &info.ServerVersion, &info.Database,
		&info.Encoding, &info.Collate, &info.Ctype); err != nil {
		return fmt.Errorf("backup: export snapshot: %w", err)
	}
	if man.MigrationVersion, err = appliedMigration(ctx, tx); err != nil {
		return err
	}
	dir, cleanup, err := m.tempDir()
	if err != nil {
		return err
	}
	defer cleanup()
	dumpFile := filepath.Join(dir, "postgres.dump")
	conn2, _ := toolConn(m.cfg.PostgresURL)
	args := []string{"--format=custom", "--snapshot=" + snapshot, "--file=" + dumpFile, "--dbname=" + conn2}
	if m.codec.compression == CompressionZstd {
		args = append(args, "--compress=0") // zstd below is faster and smaller
	}
	dumpErr := make(chan error, 1)
	go func() {
		_, err := m.runTool(ctx, m.cfg.PostgresURL, "pg_dump", args...)
		dumpErr <- err
	}()
	stopProgress := m.watchFile(dumpFile, "postgres.dump")
	defer stopProgress()
	if !m.cfg.NoTableChecksums {
		if info.Tables, err = tableStats(ctx, tx); err != nil {
			<-dumpErr
			return err
		}
	}
	if err := <-dumpErr; err != nil {
		return err
	}
	stopProgress()
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("backup: end snapshot: %w", err)
	}
	man.Tools["pg_dump"] = m.toolVersion("pg_dump")
	man.Tools["postgres"] = info.ServerVersion
	man.Postgres = info
	man.Stores = append(man.Stores, StorePostgres)
	f, err := os.Open(dumpFile)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	a, err := m.put(ctx, "postgres.dump", StorePostgres, backupsPrefix+man.ID+"/postgres.dump"+m.codec.suffix(), f, fi.Size())
	if err != nil {
		return err
	}
	man.Artifacts = append(man.Artifacts, a)
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// appliedMigration returns the newest version in an
// atlas_schema_revisions table of the database, or "".
func appliedMigration(ctx context.Context, q querier) (string, error) {
	var schema string
	err := q.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = 'atlas_schema_revisions' AND c.relkind = 'r' ORDER BY n.nspname LIMIT 1`).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("backup: look up migration revisions: %w", err)
	}
	var v string
	err = q.QueryRow(ctx, `SELECT coalesce(max(version), '') FROM `+pgx.Identifier{schema, "atlas_schema_revisions"}.Sanitize()+
		` WHERE error IS NULL OR error = ''`).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("backup: read migration revisions: %w", err)
	}
	return v, nil
}

// tableStats returns every ordinary table's row count and an
// order-independent checksum of its rows' text forms: the sum of the first
// 64 bits of each row's md5.
func tableStats(ctx context.Context, q querier) ([]TableStat, error) {
	rows, err := q.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
		AND n.nspname NOT LIKE 'pg\_temp%' ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	var names [][2]string
	for rows.Next() {
		var s, t string
		if err := rows.Scan(&s, &t); err != nil {
			return nil, err
		}
		names = append(names, [2]string{s, t})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	out := make([]TableStat, 0, len(names))
	for _, n := range names {
		id := pgx.Identifier{n[0], n[1]}.Sanitize()
		st := TableStat{Table: n[0] + "." + n[1]}
		// The sum of every row's 64-bit md5 prefix: order-independent and
		// without a sort (numeric: no overflow).
		err := q.QueryRow(ctx, `SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text
			FROM ONLY `+id+` t`).Scan(&st.Rows, &st.Checksum)
		if err != nil {
			return nil, fmt.Errorf("backup: checksum table %s: %w", st.Table, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// scratchName returns a new database name derived from base.
func scratchName(base, tag string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if len(base) > 40 {
		base = base[:40]
	}
	return base + "_" + tag + "_" + hex.EncodeToString(b)
}

// restorePostgresInto creates database name and pg_restores the archive at
// file into it; on failure the database is dropped.
func (m *Manager) restorePostgresInto(ctx context.Context, admin *pgx.Conn, info *PostgresInfo, file, name string, noOwner bool) error {
	create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE template0"
	if info != nil && info.Encoding != "" {
		create += " ENCODING " + quoteLiteral(info.Encoding) + " LC_COLLATE " + quoteLiteral(info.Collate) + " LC_CTYPE " + quoteLiteral(info.Ctype)
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		return fmt.Errorf("backup: create database %s: %w", name, err)
	}
	dsn, err := withDatabase(m.cfg.PostgresURL, name)
	if err != nil {
		return err
	}
	conn, _ := toolConn(dsn)
	args := []string{"--exit-on-error", "--jobs=" + itoa(int64(m.cfg.Jobs)), "--dbname=" + conn}
	if noOwner {
		args = append(args, "--no-owner", "--no-acl")
	}
	_, err = m.runTool(ctx, dsn, "pg_restore", append(args, file)...)
	if err != nil {
		m.dropDatabase(ctx, admin, name)
		return err
	}
	return nil
}

func (m *Manager) dropDatabase(ctx context.Context, admin *pgx.Conn, name string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := admin.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		m.cfg.Logger.Warn("backup: drop scratch database", "database", name, "err", err)
	}
}

// switchDatabase makes database fresh take the name target. The old target,
// if any, is renamed to previous (and dropped unless keep). Connections to
// the old target are closed first; no one can connect during the switch.
func (m *Manager) switchDatabase(ctx context.Context, admin *pgx.Conn, fresh, target, previous string, keep bool) (kept string, err error) {
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", target).Scan(&exists); err != nil {
		return "", fmt.Errorf("backup: look up database %s: %w", target, err)
	}
	qt, qf, qp := pgx.Identifier{target}.Sanitize(), pgx.Identifier{fresh}.Sanitize(), pgx.Identifier{previous}.Sanitize()
	if !exists {
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+qf+" RENAME TO "+qt); err != nil {
			return "", fmt.Errorf("backup: rename %s to %s: %w", fresh, target, err)
		}
		return "", nil
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+qt+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return "", fmt.Errorf("backup: close database %s to new connections: %w", target, err)
	}
	reopen := func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "ALTER DATABASE "+qt+" WITH ALLOW_CONNECTIONS true")
	}
	var renameErr error
	for attempt := 0; attempt < 20; attempt++ {
		if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", target); err != nil {
			reopen()
			return "", fmt.Errorf("backup: close connections to %s: %w", target, err)
		}
		renameErr = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "ALTER DATABASE "+qt+" RENAME TO "+qp); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "ALTER DATABASE "+qf+" RENAME TO "+qt)
			return err
		})
		var pgErr *pgconn.PgError
		if renameErr == nil || !errors.As(renameErr, &pgErr) || pgErr.Code != "55006" { // object_in_use
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if renameErr != nil {
		reopen()
		return "", fmt.Errorf("backup: switch %s to the restored database: %w", target, renameErr)
	}
	if keep {
		_, _ = admin.Exec(ctx, "ALTER DATABASE "+qp+" WITH ALLOW_CONNECTIONS true")
		return previous, nil
	}
	m.dropDatabase(ctx, admin, previous)
	return "", nil
}

// watchFile reports the growing size of file to Config.Progress (Op
// "dump") until the returned function is called; calling it again is a
// no-op.
func (m *Manager) watchFile(file, name string) func() {
	if m.cfg.Progress == nil {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		ev := ProgressEvent{Op: "dump", Artifact: name, Total: -1}
		for {
			select {
			case <-stop:
				if fi, err := os.Stat(file); err == nil {
					ev.Bytes = fi.Size()
				}
				ev.Done = true
				m.cfg.Progress(ev)
				return
			case <-t.C:
				if fi, err := os.Stat(file); err == nil {
					ev.Bytes = fi.Size()
					m.cfg.Progress(ev)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); <-done }) }
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
