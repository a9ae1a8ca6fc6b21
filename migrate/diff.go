package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
)

// DiffResult describes the migration files Diff planned.
type DiffResult struct {
	// File is the first written (or, for Check, would-be) file name, "" when none.
	File string
	// SQL is the content of all files; with more than one, each starts
	// with a "-- file: NAME" line.
	SQL string
	// Files are the planned files in order: the zero-downtime policy may
	// add a txmode none file for concurrent index builds and a file that
	// validates constraints.
	Files []DiffFile
	// Findings are the PostgreSQL lint checks (DL codes) on the planned
	// files: what no policy can avoid (a table rewrite, a NOT NULL column
	// without default that fails on rows). Lint reports them too.
	Findings []Finding
}

// DiffFile is one planned migration file.
type DiffFile struct {
	Name string
	SQL  string
}

// ErrPlanFails reports a planned file that does not run on a replay of the
// migration directory: Diff refuses to write it.
var ErrPlanFails = errors.New("migrate: planned migration does not run")

// Diff compares schema/ with the migration directory replayed on a dev
// database and writes the next versioned file(s) and atlas.sum. It returns
// ErrNoChanges, writing nothing, when they agree.
func (m *Migrator) Diff(ctx context.Context, name string) (*DiffResult, error) {
	return m.DiffWith(ctx, DiffOptions{Name: name})
}

// DiffWith is Diff with rename confirmations. Before writing, the planned
// files are replayed after the directory on a dev database and must run
// and reach schema/ exactly (ErrPlanFails otherwise).
func (m *Migrator) DiffWith(ctx context.Context, opts DiffOptions) (*DiffResult, error) {
	d, err := m.localDir(true)
	if err != nil {
		return nil, err
	}
	res, err := m.plan(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	for _, f := range res.Files {
		if err := d.WriteFile(f.Name, []byte(f.SQL)); err != nil {
			return nil, fmt.Errorf("migrate: write %s: %w", f.Name, err)
		}
		m.log.Info("migrate: wrote migration", "file", filepath.Join(m.cfg.Dir, f.Name))
	}
	if err := writeSum(d); err != nil {
		return nil, err
	}
	return res, nil
}

// Check reports whether schema/ and the migration directory agree. On
// disagreement it returns ErrDrift and the SQL a Diff would write.
func (m *Migrator) Check(ctx context.Context) (*DiffResult, error) {
	d, err := m.localDir(true)
	if err != nil {
		return nil, err
	}
	res, err := m.plan(ctx, d, DiffOptions{Name: "check", NoRenames: true})
	if errors.Is(err, ErrNoChanges) {
		return &DiffResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	return res, fmt.Errorf("%w: missing migration:\n%s", ErrDrift, res.SQL)
}

// plan loads both states on dev databases, resolves renames, shapes the
// changes under the diff policy and replays the result.
func (m *Migrator) plan(ctx context.Context, d amigrate.Dir, opts DiffOptions) (*DiffResult, error) {
	if err := validate(d); err != nil {
		return nil, err
	}
	schemaFiles, err := readSQLFiles(m.cfg.SchemaDir)
	if err != nil {
		return nil, err
	}
	specs, err := schemaRenames(schemaFiles)
	if err != nil {
		return nil, err
	}
	for _, r := range opts.Renames {
		spec, err := parseRename(r)
		if err != nil {
			return nil, err
		}
		spec.fromFlag = true
		specs = append(specs, spec)
	}
	dirFiles, err := d.Files()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	var (
		desired, current *devDB
		want             *schema.Realm
		errD, errC       error
		wg               sync.WaitGroup
	)
	replay := func(db *devDB) error {
		for _, f := range dirFiles {
			if err := execStmts(ctx, db.drv, f, m.cfg.Dir); err != nil {
				return err
			}
		}
		return nil
	}
	if m.cfg.CacheDev {
		sum, err := d.Checksum()
		if err != nil {
			return nil, fmt.Errorf("migrate: hash directory: %w", err)
		}
		sumText, _ := sum.MarshalText()
		wg.Add(1)
		go func() {
			defer wg.Done()
			desired, errD = m.cached(ctx, "schema", contentKey(schemaFiles), func(db *devDB) error {
				_, err := loadDesired(ctx, db, schemaFiles, m.cfg.SchemaDir)
				return err
			})
			if errD == nil {
				var s *schema.Schema
				if s, errD = desired.drv.InspectSchema(ctx, "", nil); errD == nil {
					want = schema.NewRealm(s)
				}
			}
		}()
		current, errC = m.cached(ctx, "dir", contentKey([]amigrate.File{amigrate.NewLocalFile(OperatorVersion, sumText)}), replay)
		wg.Wait()
		defer m.releaseDev(ctx, desired, current)
	} else {
		dbs, err := m.acquireDev(ctx, 2)
		if err != nil {
			return nil, err
		}
		defer m.releaseDev(ctx, dbs...)
		desired, current = dbs[0], dbs[1]
		wg.Add(1)
		go func() { defer wg.Done(); want, errD = loadDesired(ctx, desired, schemaFiles, m.cfg.SchemaDir) }()
		errC = replay(current)
		wg.Wait()
	}
	if err := errors.Join(errD, errC); err != nil {
		return nil, err
	}
	m.log.Debug("migrate: desired schema and directory loaded", "took", time.Since(t0))
	cur, err := current.drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: inspect replayed directory: %w", err)
	}
	wantS := want.Schemas[0]
	renames, rawRen, err := resolveRenames(ctx, current.drv, cur, wantS, specs, opts)
	if err != nil {
		return nil, err
	}
	changes, err := current.drv.SchemaDiff(cur, wantS)
	if err != nil {
		return nil, fmt.Errorf("migrate: diff: %w", err)
	}
	if len(changes) == 0 && len(renames) == 0 && len(rawRen) == 0 {
		return nil, ErrNoChanges
	}
	g := &groups{renames: renames, rawRen: rawRen, existing: map[string]bool{}, enums: map[string][]string{}}
	for _, o := range wantS.Objects {
		if e, ok := o.(*schema.EnumType); ok {
			g.enums[e.T] = e.Values
		}
	}
	for _, t := range cur.Tables {
		g.existing[t.Name] = true
	}
	if err := m.shape(ctx, current, changes, g); err != nil {
		return nil, err
	}
	files, err := m.planFiles(ctx, current.drv, opts.Name, g)
	if err != nil {
		return nil, err
	}
	res := &DiffResult{}
	v := nextVersion(m.cfg.Now(), dirFiles)
	for i, f := range files {
		if i > 0 {
			t, _ := time.Parse(versionLayout, v)
			v = t.Add(time.Second).Format(versionLayout)
		}
		name := v
		if n := opts.Name + f.suffix; n != "" {
			name += "_" + strings.TrimPrefix(n, "_")
		}
		res.Files = append(res.Files, DiffFile{Name: name + ".sql", SQL: f.content()})
	}
	res.File = res.Files[0].Name
	if len(res.Files) == 1 {
		res.SQL = res.Files[0].SQL
	} else {
		var b strings.Builder
		for _, f := range res.Files {
			fmt.Fprintf(&b, "-- file: %s\n%s", f.Name, f.SQL)
		}
		res.SQL = b.String()
	}
	from := schema.NewRealm(cur)
	prior := map[string]string{}
	for _, df := range res.Files {
		f := amigrate.NewLocalFile(df.Name, []byte(df.SQL))
		stmts, err := scanStmts(f)
		if err != nil {
			return nil, fmt.Errorf("migrate: scan %s: %w", df.Name, err)
		}
		parsed := parseStmts(stmts)
		for _, x := range pgRules(&sqlcheck.File{File: f, From: from}, parsed, txMode(f) == "none", prior) {
			res.Findings = append(res.Findings, m.finding(f, x.analyzer, x.code, x.pos, x.text, stmtAt(stmts, x.pos), x.fix))
		}
		addedChecks(parsed, prior)
	}
	start := time.Now()
	target := current
	if current.keep {
		// The cached replay stays as it is: verify on a copy.
		if target, err = m.cloneOf(ctx, current); err != nil {
			return nil, err
		}
		defer m.releaseDev(ctx, target)
	}
	if err := verifyPlan(ctx, target, res.Files, wantS); err != nil {
		return nil, err
	}
	m.log.Debug("migrate: planned files replayed", "took", time.Since(start))
	return res, nil
}

// contentKey hashes file names and contents into a database name part.
func contentKey(files []amigrate.File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name(), len(f.Bytes()))
		h.Write(f.Bytes())
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// verifyPlan runs the planned files on db, which holds the replayed
// directory, honouring txmode, and checks that the result is schema/.
func verifyPlan(ctx context.Context, db *devDB, files []DiffFile, want *schema.Schema) error {
	for _, df := range files {
		f := amigrate.NewLocalFile(df.Name, []byte(df.SQL))
		stmts, err := scanStmts(f)
		if err != nil {
			return fmt.Errorf("%w: scan %s: %v", ErrPlanFails, df.Name, err)
		}
		none := txMode(f) == "none"
		var tx *sql.Tx
		if !none {
			if tx, err = db.db.BeginTx(ctx, nil); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		for _, s := range stmts {
			if tx != nil {
				_, err = tx.ExecContext(ctx, s.Text)
			} else {
				_, err = db.db.ExecContext(ctx, s.Text)
			}
			if err != nil {
				if tx != nil {
					_ = tx.Rollback()
				}
				return fmt.Errorf("%w: %w", ErrPlanFails, stmtError(df.Name, f, s, err))
			}
		}
		if tx != nil {
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("%w: %s: commit: %v", ErrPlanFails, df.Name, err)
			}
		}
	}
	got, err := db.drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return fmt.Errorf("migrate: inspect after replay: %w", err)
	}
	left, err := db.drv.SchemaDiff(got, want)
	if err != nil {
		return fmt.Errorf("migrate: diff after replay: %w", err)
	}
	if len(left) > 0 {
		var parts []string
		if p, err := db.drv.PlanChanges(ctx, "left", left, func(o *amigrate.PlanOptions) { q := ""; o.SchemaQualifier = &q }); err == nil {
			for _, c := range p.Changes {
				parts = append(parts, c.Cmd)
			}
		}
		return fmt.Errorf("%w: after the planned files the schema still differs from schema/: %s", ErrPlanFails, strings.Join(parts, "; "))
	}
	return nil
}

// loadDesired runs the schema files on db, refuses objects the library
// would silently ignore, and inspects the result.
func loadDesired(ctx context.Context, db *devDB, files []amigrate.File, dir string) (*schema.Realm, error) {
	for _, f := range files {
		if err := execStmts(ctx, db.drv, f, dir); err != nil {
			return nil, err
		}
	}
	objs, err := unsupportedObjects(ctx, db, files, dir)
	if err != nil {
		return nil, err
	}
	if len(objs) > 0 {
		return nil, fmt.Errorf("%w: %s; the Atlas library does not inspect these: move them to a hand-written migration file", ErrUnsupported, strings.Join(objs, ", "))
	}
	s, err := db.drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: inspect desired schema: %w", err)
	}
	return schema.NewRealm(s), nil
}

// unsupportedQuery lists user objects the Atlas library (OSS build) does not
// inspect, so a diff would silently drop them. Extension members are left
// out: the extension itself is reported.
const unsupportedQuery = `
WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace
  WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_toast%' AND nspname NOT LIKE 'pg_temp%'
), ext_member AS (
  SELECT objid FROM pg_depend WHERE deptype = 'e'
)
SELECT 'schema ' || nspname, nspname::text FROM user_ns WHERE nspname <> 'public'
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'materialized view ' WHEN 'f' THEN 'foreign table '
  WHEN 'p' THEN 'partitioned table ' WHEN 'S' THEN 'standalone sequence ' ELSE 'partition ' END || n.nspname || '.' || c.relname, c.relname::text
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
WHERE c.oid NOT IN (SELECT objid FROM ext_member)
  AND (c.relkind IN ('v', 'm', 'f', 'p') OR (c.relkind = 'r' AND c.relispartition)
    OR (c.relkind = 'S' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))))
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END || n.nspname || '.' || p.proname, p.proname::text
FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
WHERE p.oid NOT IN (SELECT objid FROM ext_member)
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || c.relname, t.tgname::text
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN user_ns n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'domain ' WHEN 'r' THEN 'range type ' ELSE 'composite type ' END || n.nspname || '.' || t.typname, t.typname::text
FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
WHERE t.oid NOT IN (SELECT objid FROM ext_member)
  AND (t.typtype IN ('d', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
UNION ALL
SELECT 'extension ' || extname, extname::text FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'rule ' || r.rulename || ' on ' || c.relname, r.rulename::text
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN user_ns n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN'
UNION ALL
SELECT 'policy ' || p.polname || ' on ' || c.relname, p.polname::text
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
ORDER BY 1`

// unsupportedObjects describes each unsupported object with the schema
// file that created it: when there are any, the files are loaded again one
// by one on the emptied database to see which file adds which object.
func unsupportedObjects(ctx context.Context, db *devDB, files []amigrate.File, dir string) ([]string, error) {
	list := func() ([]string, error) {
		rows, err := db.db.QueryContext(ctx, unsupportedQuery)
		if err != nil {
			return nil, fmt.Errorf("migrate: list unsupported objects: %w", err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var desc, name string
			if err := rows.Scan(&desc, &name); err != nil {
				return nil, err
			}
			out = append(out, desc)
		}
		return out, rows.Err()
	}
	objs, err := list()
	if err != nil || len(objs) == 0 {
		return objs, err
	}
	if _, err := db.db.ExecContext(ctx, resetQuery); err != nil {
		return objs, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		if err := execStmts(ctx, db.drv, f, dir); err != nil {
			return nil, err
		}
		now, err := list()
		if err != nil {
			return nil, err
		}
		for _, o := range now {
			if !seen[o] {
				seen[o] = true
				out = append(out, fmt.Sprintf("%s (%s)", o, filepath.Join(dir, f.Name())))
			}
		}
	}
	return out, nil
}

// readSQLFiles returns dir/*.sql in name order.
func readSQLFiles(dir string) ([]amigrate.File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("migrate: no *.sql files in %s", dir)
	}
	sort.Strings(names)
	files := make([]amigrate.File, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		files = append(files, amigrate.NewLocalFile(filepath.Base(n), b))
	}
	return files, nil
}

const versionLayout = "20060102150405"

// nextVersion returns now as an Atlas version (UTC, second resolution), or
// one second past the latest existing version when that is not earlier, so
// two diffs within one second never collide.
func nextVersion(now time.Time, files []amigrate.File) string {
	v := now.UTC().Truncate(time.Second)
	if len(files) > 0 {
		if last, err := time.Parse(versionLayout, files[len(files)-1].Version()); err == nil && !last.Before(v) {
			v = last.Add(time.Second)
		}
	}
	return v.Format(versionLayout)
}

// CheckDatabase compares the public schema of a live database with
// schema/ (the revisions schema is not part of it). On disagreement it
// returns ErrDrift and the SQL that would bring the database to schema/.
func (m *Migrator) CheckDatabase(ctx context.Context, db *sql.DB) (*DiffResult, error) {
	schemaFiles, err := readSQLFiles(m.cfg.SchemaDir)
	if err != nil {
		return nil, err
	}
	dbs, err := m.acquireDev(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer m.releaseDev(ctx, dbs...)
	want, err := loadDesired(ctx, dbs[0], schemaFiles, m.cfg.SchemaDir)
	if err != nil {
		return nil, err
	}
	drv, err := postgres.Open(db)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	got, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: inspect database: %w", err)
	}
	changes, err := drv.SchemaDiff(got, want.Schemas[0])
	if err != nil {
		return nil, fmt.Errorf("migrate: diff: %w", err)
	}
	if len(changes) == 0 {
		return &DiffResult{}, nil
	}
	q := ""
	p, err := drv.PlanChanges(ctx, "drift", changes, func(o *amigrate.PlanOptions) { o.SchemaQualifier = &q })
	if err != nil {
		return nil, fmt.Errorf("migrate: plan: %w", err)
	}
	f := &planFile{}
	for _, c := range p.Changes {
		f.stmts = append(f.stmts, planStmt{c.Comment, c.Cmd})
	}
	res := &DiffResult{SQL: f.content()}
	return res, fmt.Errorf("%w: the database differs from schema/:\n%s", ErrDrift, res.SQL)
}
