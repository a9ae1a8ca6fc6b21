package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/migrate"
	"github.com/agentical/datalayer/migrations"
)

const (
	v1 = "20250101000001"
	v2 = "20250101000002"
	v3 = "20250101000003"
)

// handWritten sets up three hand-written files: two tables and an insert.
func handWritten(t *testing.T, p *project) {
	t.Helper()
	p.addMigration(t, v1+"_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n")
	p.addMigration(t, v2+"_posts.sql", "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\nCREATE INDEX posts_user_idx ON posts (user_id);\n")
	p.addMigration(t, v3+"_seed.sql", "INSERT INTO users (id, email) VALUES (1, 'a@example.com');\n")
}

func states(st *migrate.Status) string {
	var b strings.Builder
	for _, f := range st.Files {
		fmt.Fprintf(&b, "%s=%s ", f.Version, f.State)
	}
	return strings.TrimSpace(b.String())
}

func TestApplyAndStatus(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	handWritten(t, p)
	m := p.migrator(migrate.Config{})
	db, _ := targetDB(t, p.server)

	st, err := m.Status(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if got := states(st); got != v1+"=pending "+v2+"=pending "+v3+"=pending" || st.Current != "" || st.OK() {
		t.Fatalf("fresh status: %s current=%q", got, st.Current)
	}

	// Dry run: reports, changes nothing (not even the revisions table).
	res, err := m.Apply(ctx, db, migrate.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 3 || res.Files[1].Stmts[1] != "CREATE INDEX posts_user_idx ON posts (user_id);" {
		t.Fatalf("dry run: %+v", res.Files)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'atlas_schema_revisions')"); n != 0 {
		t.Fatalf("dry run created %d tables", n)
	}

	// --to stops after v2.
	if res, err = m.Apply(ctx, db, migrate.ApplyOptions{To: v2}); err != nil || len(res.Files) != 2 {
		t.Fatalf("apply --to: %v %+v", err, res)
	}
	st, _ = m.Status(ctx, db)
	if got := states(st); got != v1+"=applied "+v2+"=applied "+v3+"=pending" || st.Current != v2 {
		t.Fatalf("after --to: %s current=%s", got, st.Current)
	}
	if res, err = m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil || len(res.Files) != 1 {
		t.Fatalf("apply rest: %v %+v", err, res)
	}
	if res, err = m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil || len(res.Files) != 0 {
		t.Fatalf("apply again: %v %+v", err, res)
	}
	st, _ = m.Status(ctx, db)
	if !st.OK() || st.Current != v3 || st.Counts[migrate.StateApplied] != 3 {
		t.Fatalf("final status: %s %+v", states(st), st.Counts)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM users"); n != 1 {
		t.Fatalf("seed ran %d times", n)
	}

	// The revisions table has the Atlas CLI's layout and content.
	rows, err := db.QueryContext(ctx, `SELECT column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns
		WHERE table_schema = 'atlas_schema_revisions' AND table_name = 'atlas_schema_revisions' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
	}
	rows.Close()
	wantCols := "version character varying NO, description character varying NO, type bigint NO, applied bigint NO, total bigint NO, executed_at timestamp with time zone NO, execution_time bigint NO, error text YES, error_stmt text YES, hash character varying NO, partial_hashes jsonb YES, operator_version character varying NO"
	if got := strings.Join(cols, ", "); got != wantCols {
		t.Errorf("revisions columns:\n%s\nwant\n%s", got, wantCols)
	}
	var desc string
	var typ, applied, total int
	var hash string
	if err := db.QueryRowContext(ctx, `SELECT description, type, applied, total, hash FROM atlas_schema_revisions.atlas_schema_revisions WHERE version = $1`, v2).
		Scan(&desc, &typ, &applied, &total, &hash); err != nil {
		t.Fatal(err)
	}
	sum := p.read(t, "atlas.sum")
	if desc != "posts" || typ != 2 || applied != 2 || total != 2 || !strings.Contains(sum, v2+"_posts.sql h1:"+hash+"\n") {
		t.Errorf("revision %s: %s type=%d %d/%d hash=%s\natlas.sum:\n%s", v2, desc, typ, applied, total, hash, sum)
	}
}

func TestApplyRollsBackFailingFile(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.addMigration(t, v1+"_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n")
	p.addMigration(t, v2+"_broken.sql", "CREATE TABLE audit (id bigint PRIMARY KEY);\nINSERT INTO users (id) VALUES (1 / 0);\n")
	m := p.migrator(migrate.Config{})
	db, _ := targetDB(t, p.server)

	_, err := m.Apply(ctx, db, migrate.ApplyOptions{})
	var fe *migrate.FailedFileError
	if !errors.Is(err, migrate.ErrFailedFile) || !errors.As(err, &fe) {
		t.Fatalf("apply: %v, want FailedFileError", err)
	}
	if fe.File != v2+"_broken.sql" || fe.Stmt != "INSERT INTO users (id) VALUES (1 / 0);" || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("failure: file=%s stmt=%q err=%v", fe.File, fe.Stmt, err)
	}
	// The file's first statement was rolled back with it.
	if n := queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'audit'"); n != 0 {
		t.Error("audit table survived the rollback")
	}
	st, err := m.Status(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	f := st.Files[1]
	if f.State != migrate.StateFailed || f.Applied != 0 || f.Total != 2 || f.ErrorStmt != fe.Stmt || !strings.Contains(f.Error, "division by zero") {
		t.Fatalf("status of failed file: %+v", f)
	}
	// Fix the file, re-hash, retry: it applies and is recorded with the new hash.
	writeFile(t, filepath.Join(p.dir, v2+"_broken.sql"), "CREATE TABLE audit (id bigint PRIMARY KEY);\nINSERT INTO users (id) VALUES (1);\n")
	if err := m.Hash(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	st, _ = m.Status(ctx, db)
	if !st.OK() || states(st) != v1+"=applied "+v2+"=applied" || st.Files[1].Error != "" {
		t.Fatalf("after retry: %s %+v", states(st), st.Files[1])
	}
}

func TestApplyTxModeNone(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.addMigration(t, v1+"_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n")
	// CREATE INDEX CONCURRENTLY cannot run in a transaction block.
	p.addMigration(t, v2+"_idx.sql", "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCREATE TABLE x (id int REFERENCES nope);\n")
	m := p.migrator(migrate.Config{})
	db, _ := targetDB(t, p.server)
	res, err := m.Apply(ctx, db, migrate.ApplyOptions{})
	if !errors.Is(err, migrate.ErrFailedFile) {
		t.Fatalf("apply: %v", err)
	}
	if res.Files[1].TxMode != "none" {
		t.Errorf("txmode %q", res.Files[1].TxMode)
	}
	// Without a transaction the first statement stays, and progress is recorded.
	if n := queryInt(t, db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_idx'"); n != 1 {
		t.Error("concurrent index missing")
	}
	st, _ := m.Status(ctx, db)
	if f := st.Files[1]; f.State != migrate.StateFailed || f.Applied != 1 || f.Total != 2 {
		t.Fatalf("status: %+v", f)
	}
	// Fixing the failed statement (and adding one) resumes after the applied one.
	writeFile(t, filepath.Join(p.dir, v2+"_idx.sql"), "-- atlas:txmode none\n\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCREATE TABLE x (id int REFERENCES users);\nCREATE INDEX CONCURRENTLY x_id_idx ON x (id);\n")
	if err := m.Hash(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if st, _ = m.Status(ctx, db); !st.OK() {
		t.Fatalf("after resume: %s", states(st))
	}
	// The resumed file counts each statement once (applied > total before).
	if f := st.Files[1]; f.Applied != 3 || f.Total != 3 {
		t.Errorf("resumed revision: applied %d of %d, want 3 of 3", f.Applied, f.Total)
	}
	// Without a transaction a file still runs on one session: SET carries over.
	p.addMigration(t, v3+"_session.sql", "-- atlas:txmode none\n\nSET lock_timeout = '5s';\n"+
		"DO $$ BEGIN IF current_setting('lock_timeout') <> '5s' THEN RAISE EXCEPTION 'lock_timeout not set'; END IF; END $$;\n")
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatalf("session file: %v", err)
	}
}

func TestApplyRefusesTampering(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	handWritten(t, p)
	m := p.migrator(migrate.Config{})
	db, _ := targetDB(t, p.server)
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{To: v2}); err != nil {
		t.Fatal(err)
	}
	orig := p.read(t, v1+"_users.sql")
	origSum := p.read(t, "atlas.sum")
	restore := func() {
		writeFile(t, filepath.Join(p.dir, v1+"_users.sql"), orig)
		writeFile(t, filepath.Join(p.dir, "atlas.sum"), origSum)
	}

	t.Run("edited file", func(t *testing.T) {
		defer restore()
		writeFile(t, filepath.Join(p.dir, v1+"_users.sql"), orig+"-- sneaky\n")
		if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); !errors.Is(err, migrate.ErrChecksum) || !strings.Contains(err.Error(), v1+"_users.sql was edited") {
			t.Fatalf("apply: %v", err)
		}
	})
	t.Run("edited atlas.sum", func(t *testing.T) {
		defer restore()
		writeFile(t, filepath.Join(p.dir, "atlas.sum"), strings.Replace(origSum, v3+"_seed.sql h1:", v3+"_seed.sql h1:AAAA", 1))
		if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); !errors.Is(err, migrate.ErrChecksum) {
			t.Fatalf("apply: %v", err)
		}
	})
	t.Run("applied file edited and re-hashed", func(t *testing.T) {
		defer restore()
		writeFile(t, filepath.Join(p.dir, v1+"_users.sql"), strings.Replace(orig, "email text", "email varchar(320)", 1))
		if err := m.Hash(); err != nil {
			t.Fatal(err)
		}
		_, err := m.Apply(ctx, db, migrate.ApplyOptions{})
		if !errors.Is(err, migrate.ErrTampered) || !strings.Contains(err.Error(), v1+"_users.sql") {
			t.Fatalf("apply: %v", err)
		}
		st, err := m.Status(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if st.Files[0].State != migrate.StateDrifted || st.OK() {
			t.Errorf("status: %s", states(st))
		}
	})
	t.Run("revision without file", func(t *testing.T) {
		defer restore()
		other := newProject(t)
		other.addMigration(t, v1+"_users.sql", orig)
		_, err := other.migrator(migrate.Config{}).Apply(ctx, db, migrate.ApplyOptions{})
		if !errors.Is(err, migrate.ErrUnknownRevision) || !strings.Contains(err.Error(), v2+"_posts.sql") {
			t.Fatalf("apply: %v", err)
		}
	})
	// Untouched, the directory still applies.
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatalf("apply after restore: %v", err)
	}
}

func TestApplyBaseline(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	handWritten(t, p)
	m := p.migrator(migrate.Config{})
	db, _ := targetDB(t, p.server)
	// A database created before migrations existed.
	if _, err := db.ExecContext(ctx, "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL); CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id))"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "baseline") {
		t.Fatalf("apply on a dirty database: %v", err)
	}
	res, err := m.Apply(ctx, db, migrate.ApplyOptions{Baseline: v2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Baseline != v2 || len(res.Files) != 1 || res.Files[0].Version != v3 {
		t.Fatalf("baseline apply: %+v", res)
	}
	st, _ := m.Status(ctx, db)
	if got := states(st); got != v1+"=skipped "+v2+"=baseline "+v3+"=applied" || !st.OK() {
		t.Fatalf("status: %s", got)
	}
}

// TestAutoConcurrentStarters: three service instances start at once; each
// migration file runs exactly once.
func TestAutoConcurrentStarters(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	fsys := fstest.MapFS{}
	p.addMigration(t, v1+"_log.sql", "CREATE TABLE applied_log (file text NOT NULL);\nINSERT INTO applied_log VALUES ('1');\n")
	for i := 2; i <= 6; i++ {
		p.addMigration(t, fmt.Sprintf("2025010100000%d_step.sql", i), fmt.Sprintf("CREATE TABLE t%d (id int);\nSELECT pg_sleep(0.05);\nINSERT INTO applied_log VALUES ('%d');\n", i, i))
	}
	files, _ := filepath.Glob(filepath.Join(p.dir, "*"))
	for _, f := range files {
		fsys[filepath.Base(f)] = &fstest.MapFile{Data: []byte(p.read(t, filepath.Base(f)))}
	}
	_, dsn := targetDB(t, p.server)

	const starters = 3
	var (
		wg      sync.WaitGroup
		errs    = make([]error, starters)
		applied = make([]int, starters)
	)
	for i := range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := migrate.Open(dsn) // one pool per "instance"
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			res, err := migrate.Auto(ctx, db, fsys, migrate.Config{})
			errs[i] = err
			if res != nil {
				applied[i] = len(res.Files)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("starter %d: %v", i, err)
		}
	}
	db, _ := migrate.Open(dsn)
	defer db.Close()
	if n := queryInt(t, db, "SELECT count(*) FROM applied_log"); n != 6 {
		t.Errorf("applied_log has %d rows, want 6 (each file once)", n)
	}
	if n := queryInt(t, db, "SELECT count(DISTINCT file) FROM applied_log"); n != 6 {
		t.Errorf("%d distinct files logged", n)
	}
	if total := applied[0] + applied[1] + applied[2]; total != 6 {
		t.Errorf("starters applied %v files, want 6 in total", applied)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM atlas_schema_revisions.atlas_schema_revisions WHERE applied = total AND error IS NULL"); n != 6 {
		t.Errorf("%d complete revisions", n)
	}
}

// TestAutoEmbeddedMigrations applies the committed migrations (the
// project's real schema) from the embed and checks sqlc's tables exist.
// TestApplyResumesFailedConcurrentIndex: a CREATE UNIQUE INDEX
// CONCURRENTLY that fails (duplicates) leaves an INVALID index; apply drops
// it, so once the data is fixed the resumed file builds the index.
func TestApplyResumesFailedConcurrentIndex(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	p.addMigration(t, v1+"_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY, email text);\nINSERT INTO t VALUES (1, 'a'), (2, 'a');\n")
	p.addMigration(t, v2+"_idx.sql", "-- atlas:txmode none\n\nCREATE UNIQUE INDEX CONCURRENTLY t_email_key ON t (email);\n")
	m := p.migrator(migrate.Config{})
	db, _ := targetDB(t, p.server)
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); !errors.Is(err, migrate.ErrFailedFile) {
		t.Fatalf("apply with duplicates: %v", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM pg_class WHERE relname = 't_email_key'"); n != 0 {
		t.Fatalf("invalid index left behind")
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM t WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, db, migrate.ApplyOptions{}); err != nil {
		t.Fatalf("resume after fixing the data: %v", err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM pg_index WHERE indexrelid = 't_email_key'::regclass AND indisvalid"); n != 1 {
		t.Fatal("index not built")
	}
}

// TestAutoPoolOfOne: the advisory lock and the files share one connection,
// so a pool of one connection applies instead of waiting for a second one.
func TestAutoPoolOfOne(t *testing.T) {
	p := newProject(t)
	_, dsn := targetDB(t, p.server)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	res, err := migrate.AutoPool(ctx, pool, migrations.FS, migrate.Config{})
	if err != nil {
		t.Fatalf("AutoPool with MaxConns=1: %v", err)
	}
	if len(res.Files) == 0 {
		t.Fatal("nothing applied")
	}
	// A file that SETs lock_timeout (session-level, in its transaction)
	// leaves the pooled connection as it found it.
	fsys := fstest.MapFS{"20250101000001_t.sql": {Data: []byte("SET lock_timeout = '3s';\nSET statement_timeout = '7s';\nCREATE TABLE pool_t (id bigint PRIMARY KEY);\n")}}
	sum, err := migrate.FSDir(fsys).Checksum()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sum.MarshalText()
	fsys["atlas.sum"] = &fstest.MapFile{Data: b}
	_, dsn2 := targetDB(t, p.server)
	cfg2, _ := pgxpool.ParseConfig(dsn2)
	cfg2.MaxConns = 1
	pool2, err := pgxpool.NewWithConfig(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	if _, err := migrate.AutoPool(ctx, pool2, fsys, migrate.Config{}); err != nil {
		t.Fatal(err)
	}
	var lt, st string
	if err := pool2.QueryRow(ctx, "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')").Scan(&lt, &st); err != nil || lt != "0" || st != "0" {
		t.Errorf("settings leaked into the pooled connection: lock_timeout %q statement_timeout %q %v", lt, st, err)
	}
}

func TestAutoEmbeddedMigrations(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	db, _ := targetDB(t, p.server)
	res, err := migrate.Auto(ctx, db, migrations.FS, migrate.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) == 0 {
		t.Fatal("no embedded migration applied")
	}
	if n := queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users', 'agents', 'tasks', 'execution_events', 'audit_log')"); n != 5 {
		t.Errorf("%d of 5 spine tables exist", n)
	}
	st, err := migrate.New(migrate.Config{}).StatusDir(ctx, db, migrate.FSDir(migrations.FS))
	if err != nil || !st.OK() {
		t.Fatalf("status: %v %s", err, states(st))
	}
	_ = sql.ErrNoRows
}
