package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	pg "github.com/pganalyze/pg_query_go/v6"
)

// ApplyOptions select what Apply does. The zero value applies every pending file.
type ApplyOptions struct {
	// Baseline marks VERSION (and everything before it) as applied on a
	// database that has no revisions yet but already holds the schema.
	Baseline string
	// DryRun reports the pending files without executing anything.
	DryRun bool
	// To stops after applying VERSION (inclusive).
	To string
}

// ApplyResult reports what Apply did (or, for a dry run, would do).
type ApplyResult struct {
	// Files are the pending files in execution order. Without DryRun they
	// were all applied when Apply returns nil.
	Files []AppliedFile
	// Baseline is the version recorded as baseline, if any.
	Baseline string
}

// AppliedFile is one migration file executed by Apply.
type AppliedFile struct {
	Name     string
	Version  string
	TxMode   string // "file" or "none"
	Stmts    []string
	Duration time.Duration
}

// FailedFileError reports the file and statement that failed; the file's
// transaction was rolled back (unless it runs with txmode none) and the
// failure recorded in the revisions table. It matches ErrFailedFile.
type FailedFileError struct {
	File string
	Stmt string
	Err  error
}

func (e *FailedFileError) Error() string {
	if e.Stmt == "" {
		return fmt.Sprintf("migrate: %s failed: %v", e.File, e.Err)
	}
	return fmt.Sprintf("migrate: %s failed at statement %q: %v", e.File, e.Stmt, e.Err)
}

func (e *FailedFileError) Unwrap() error        { return e.Err }
func (e *FailedFileError) Is(target error) bool { return target == ErrFailedFile }

// Open returns a database/sql handle on the pgx driver for dsn.
func Open(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("migrate: parse URL %s: %w", RedactURL(dsn), err)
	}
	return stdlib.OpenDB(*cfg), nil
}

// Apply applies the pending files of the migration directory to db.
func (m *Migrator) Apply(ctx context.Context, db *sql.DB, opts ApplyOptions) (*ApplyResult, error) {
	d, err := m.localDir(false)
	if err != nil {
		return nil, err
	}
	return m.ApplyDir(ctx, db, d, opts)
}

// Auto applies the migrations embedded in fsys (*.sql and atlas.sum at its
// root) to db under the advisory lock, so several instances starting at
// once apply each file exactly once. cfg.Dir is ignored.
func Auto(ctx context.Context, db *sql.DB, fsys fs.FS, cfg Config) (*ApplyResult, error) {
	return New(cfg).ApplyDir(ctx, db, FSDir(fsys), ApplyOptions{})
}

// AutoPool is Auto on a pgx pool.
func AutoPool(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, cfg Config) (*ApplyResult, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	return Auto(ctx, db, fsys, cfg)
}

// ApplyDir applies the pending files of dir to db. Each file runs in its own
// transaction unless it starts with "-- atlas:txmode none".
func (m *Migrator) ApplyDir(ctx context.Context, db *sql.DB, dir amigrate.Dir, opts ApplyOptions) (_ *ApplyResult, err error) {
	if err := validate(dir); err != nil {
		return nil, err
	}
	// Everything runs on one connection: the advisory lock is held by a
	// session, and a pool of one connection must not wait for a second.
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	drv, err := postgres.Open(conn)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	unlock, err := advisoryLock(ctx, conn, LockName, m.cfg.LockTimeout)
	if errors.Is(err, schema.ErrLocked) {
		return nil, fmt.Errorf("%w (waited %s)", ErrLocked, m.cfg.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: acquire lock: %w", err)
	}
	defer func() {
		if uerr := unlock(); uerr != nil {
			err = errors.Join(err, fmt.Errorf("migrate: release lock: %w", uerr))
		}
	}()
	if opts.DryRun {
		// Everything a dry run writes (revisions table, baseline) is undone.
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer tx.Rollback()
		txDrv, err := postgres.Open(tx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		res, _, err := m.pending(ctx, txDrv, tx, dir, opts)
		return res, err
	}
	res, pending, err := m.pending(ctx, drv, conn, dir, opts)
	if err != nil || len(pending) == 0 {
		return res, err
	}
	hashes, err := currentHashes(dir)
	if err != nil {
		return res, err
	}
	totals, err := currentTotals(dir)
	if err != nil {
		return res, err
	}
	rrw := &revisions{conn: conn, schema: m.cfg.RevisionsSchema, hashes: hashes, totals: totals}
	for i, f := range pending {
		start := time.Now()
		if err := m.execFile(ctx, conn, drv, rrw, dir, f, res.Files[i].TxMode); err != nil {
			return res, err
		}
		res.Files[i].Duration = time.Since(start)
		m.log.Info("migrate: applied", "file", f.Name(), "took", res.Files[i].Duration)
	}
	return res, nil
}

// pending prepares the revisions table, checks the history against the
// directory and returns the files to run.
func (m *Migrator) pending(ctx context.Context, drv amigrate.Driver, conn schema.ExecQuerier, dir amigrate.Dir, opts ApplyOptions) (*ApplyResult, []amigrate.File, error) {
	if err := ensureRevisions(ctx, conn, m.cfg.RevisionsSchema); err != nil {
		return nil, nil, err
	}
	rrw := &revisions{conn: conn, schema: m.cfg.RevisionsSchema}
	if err := checkHistory(ctx, rrw, dir); err != nil {
		return nil, nil, err
	}
	ex, err := amigrate.NewExecutor(drv, dir, rrw, amigrate.WithBaselineVersion(opts.Baseline), amigrate.WithOperatorVersion(OperatorVersion))
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	res := &ApplyResult{}
	pending, err := ex.Pending(ctx)
	if opts.Baseline != "" {
		if rev, rerr := rrw.ReadRevision(ctx, opts.Baseline); rerr == nil && rev.Type == amigrate.RevisionTypeBaseline {
			res.Baseline = opts.Baseline
		}
	}
	switch {
	case errors.Is(err, amigrate.ErrNoPendingFiles):
		pending = nil
	case err != nil:
		var nc *amigrate.NotCleanError
		if errors.As(err, &nc) {
			return nil, nil, fmt.Errorf("migrate: database is not clean (%s) and has no revisions: use --baseline VERSION", nc.Reason)
		}
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	if opts.To != "" {
		idx := amigrate.FilesLastIndex(pending, func(f amigrate.File) bool { return f.Version() == opts.To })
		if idx == -1 {
			if _, rerr := rrw.ReadRevision(ctx, opts.To); rerr != nil {
				return nil, nil, fmt.Errorf("migrate: version %s is neither pending nor applied", opts.To)
			}
			pending = nil // already there
		} else {
			pending = pending[:idx+1]
		}
	}
	for _, f := range pending {
		stmts, err := amigrate.FileStmts(drv, f)
		if err != nil {
			return nil, nil, fmt.Errorf("migrate: scan %s: %w", f.Name(), err)
		}
		res.Files = append(res.Files, AppliedFile{Name: f.Name(), Version: f.Version(), TxMode: txMode(f), Stmts: stmts})
	}
	return res, pending, nil
}

// txMode returns the file's "-- atlas:txmode" directive: "file" or "none".
func txMode(f amigrate.File) string {
	if lf, ok := f.(*amigrate.LocalFile); ok {
		if ds := lf.Directive("txmode"); len(ds) > 0 && ds[0] == "none" {
			return "none"
		}
	}
	return "file"
}

// execFile runs one file. In a transaction, a failure rolls everything back
// and the failure is recorded afterwards, outside the aborted transaction.
func (m *Migrator) execFile(ctx context.Context, conn *sql.Conn, drv amigrate.Driver, rrw *revisions, dir amigrate.Dir, f amigrate.File, mode string) error {
	opts := []amigrate.ExecutorOption{amigrate.WithOperatorVersion(OperatorVersion), amigrate.WithLogger(slogLogger{m.log})}
	// A file's session settings (SET lock_timeout, even inside a committed
	// transaction) apply to its later statements only: they are reset
	// before the next file and before the connection goes back to the
	// caller's pool (AutoPool shares the service's).
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "RESET ALL") }()
	if mode == "none" {
		ex, err := amigrate.NewExecutor(drv, dir, &revisions{conn: conn, schema: rrw.schema, hashes: rrw.hashes, totals: rrw.totals}, opts...)
		if err != nil {
			return err
		}
		// The executor records progress after every statement itself.
		if err := ex.Execute(ctx, f); err != nil {
			fe := failed(f, err)
			dropInvalidIndex(ctx, conn, fe.Stmt)
			return fe
		}
		return nil
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	txDrv, err := postgres.Open(tx)
	if err == nil {
		var ex *amigrate.Executor
		if ex, err = amigrate.NewExecutor(txDrv, dir, &revisions{conn: tx, schema: rrw.schema, hashes: rrw.hashes, totals: rrw.totals}, opts...); err == nil {
			err = ex.Execute(ctx, f)
		}
	}
	if err == nil {
		if err = tx.Commit(); err == nil {
			return nil
		}
	}
	_ = tx.Rollback()
	ferr := failed(f, err)
	if rerr := recordFailure(ctx, rrw, dir, f, ferr); rerr != nil {
		return errors.Join(ferr, rerr)
	}
	return ferr
}

// dropInvalidIndex removes the INVALID index a failed CREATE INDEX
// CONCURRENTLY leaves behind, so the resumed file can run the statement
// again (it would fail with "already exists").
func dropInvalidIndex(ctx context.Context, conn *sql.Conn, stmt string) {
	res, err := pg.Parse(stmt)
	if err != nil || len(res.Stmts) != 1 {
		return
	}
	is := res.Stmts[0].Stmt.GetIndexStmt()
	if is == nil || !is.Concurrent || is.Idxname == "" {
		return
	}
	name := quoteIdent(is.Idxname)
	if s := is.Relation.GetSchemaname(); s != "" {
		name = quoteIdent(s) + "." + name
	}
	ctx = context.WithoutCancel(ctx)
	var invalid bool
	if err := conn.QueryRowContext(ctx, "SELECT coalesce((SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)", name).Scan(&invalid); err != nil || !invalid {
		return
	}
	_, _ = conn.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name)
}

func failed(f amigrate.File, err error) *FailedFileError {
	fe := &FailedFileError{File: f.Name(), Err: err}
	var se *amigrate.StmtExecError
	if errors.As(err, &se) {
		fe.Stmt, fe.Err = se.Stmt.Text, se.Err
	}
	return fe
}

// recordFailure stores a failed revision with nothing applied, so status
// shows it and the next apply retries the whole file.
func recordFailure(ctx context.Context, rrw *revisions, dir amigrate.Dir, f amigrate.File, fe *FailedFileError) error {
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	hash, _ := sum.SumByName(f.Name())
	stmts, _ := f.Stmts()
	rev, err := rrw.ReadRevision(ctx, f.Version())
	if err != nil {
		rev = &amigrate.Revision{Version: f.Version(), Description: f.Desc(), Type: amigrate.RevisionTypeExecute, ExecutedAt: time.Now()}
	}
	rev.Applied, rev.Total, rev.Hash, rev.PartialHashes = 0, len(stmts), hash, nil
	rev.Error, rev.ErrorStmt = fe.Err.Error(), fe.Stmt
	rev.OperatorVersion = OperatorVersion
	return rrw.WriteRevision(context.WithoutCancel(ctx), rev)
}

// checkHistory refuses revisions without a file and applied files whose
// content changed, even when atlas.sum was re-hashed to match.
func checkHistory(ctx context.Context, rrw *revisions, dir amigrate.Dir) error {
	revs, err := rrw.ReadRevisions(ctx)
	if err != nil || len(revs) == 0 {
		return err
	}
	files, err := dir.Files()
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	byVersion := make(map[string]amigrate.File, len(files))
	for _, f := range files {
		byVersion[f.Version()] = f
	}
	var unknown []string
	for _, r := range revs {
		f, ok := byVersion[r.Version]
		if !ok {
			unknown = append(unknown, r.Version+"_"+r.Description+".sql")
			continue
		}
		// Baselines have no hash; a failed or partial file may be fixed
		// before its retry (the library checks partial statement hashes).
		if r.Type == amigrate.RevisionTypeBaseline || r.Hash == "" || r.Applied < r.Total {
			continue
		}
		if h, _ := sum.SumByName(f.Name()); h != r.Hash {
			return fmt.Errorf("%w: %s differs from the version applied at %s", ErrTampered, f.Name(), r.ExecutedAt.UTC().Format(time.RFC3339))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: %v", ErrUnknownRevision, unknown)
	}
	return nil
}

// advisoryLock takes the session-level advisory lock the Atlas CLI uses for
// name (FNV-32 of the name) on conn, retrying until timeout.
func advisoryLock(ctx context.Context, conn *sql.Conn, name string, timeout time.Duration) (func() error, error) {
	h := fnv.New32()
	h.Write([]byte(name))
	id := int64(h.Sum32())
	deadline := time.Now().Add(timeout)
	wait := 25 * time.Millisecond
	for {
		var ok bool
		if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&ok); err != nil {
			return nil, err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return nil, schema.ErrLocked
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
	return func() error {
		var released bool
		if err := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", id).Scan(&released); err != nil {
			return err
		}
		if !released {
			return fmt.Errorf("migrate: advisory lock %d was not held", id)
		}
		return nil
	}, nil
}

// slogLogger forwards executor events to slog at debug level.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Log(e amigrate.LogEntry) {
	switch e := e.(type) {
	case amigrate.LogStmt:
		s.l.Debug("migrate: exec", "sql", e.SQL)
	case amigrate.LogError:
		s.l.Debug("migrate: error", "sql", e.SQL, "err", e.Error)
	}
}
