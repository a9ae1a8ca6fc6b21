package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/schema"
)

// DiffResult describes the migration file Diff planned.
type DiffResult struct {
	// File is the written (or, for Check, would-be) file name, "" when none.
	File string
	// SQL is the file content.
	SQL string
}

// Diff compares schema/ with the migration directory replayed on a dev
// database and writes the next versioned file and atlas.sum. It returns
// ErrNoChanges, writing nothing, when they agree.
func (m *Migrator) Diff(ctx context.Context, name string) (*DiffResult, error) {
	d, err := m.localDir(true)
	if err != nil {
		return nil, err
	}
	plan, err := m.plan(ctx, d, name)
	if err != nil {
		return nil, err
	}
	files, err := d.Files()
	if err != nil {
		return nil, err
	}
	plan.Version = nextVersion(m.cfg.Now(), files)
	planner := amigrate.NewPlanner(nil, d)
	if err := planner.WritePlan(plan); err != nil {
		return nil, fmt.Errorf("migrate: write plan: %w", err)
	}
	f, err := amigrate.DefaultFormatter.FormatFile(plan)
	if err != nil {
		return nil, err
	}
	m.log.Info("migrate: wrote migration", "file", filepath.Join(m.cfg.Dir, f.Name()))
	return &DiffResult{File: f.Name(), SQL: string(f.Bytes())}, nil
}

// Check reports whether schema/ and the migration directory agree. On
// disagreement it returns ErrDrift and the SQL a Diff would write.
func (m *Migrator) Check(ctx context.Context) (*DiffResult, error) {
	d, err := m.localDir(true)
	if err != nil {
		return nil, err
	}
	plan, err := m.plan(ctx, d, "check")
	if errors.Is(err, ErrNoChanges) {
		return &DiffResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	plan.Version = nextVersion(m.cfg.Now(), nil)
	f, err := amigrate.DefaultFormatter.FormatFile(plan)
	if err != nil {
		return nil, err
	}
	return &DiffResult{File: f.Name(), SQL: string(f.Bytes())}, fmt.Errorf("%w: missing migration:\n%s", ErrDrift, f.Bytes())
}

// plan loads both states on throwaway databases and plans the changes.
func (m *Migrator) plan(ctx context.Context, d amigrate.Dir, name string) (*amigrate.Plan, error) {
	if err := validate(d); err != nil {
		return nil, err
	}
	schemaFiles, err := readSQLFiles(m.cfg.SchemaDir)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	dbs, err := m.acquireDev(ctx, 2)
	if err != nil {
		return nil, err
	}
	defer m.releaseDev(ctx, dbs...)
	desired, current := dbs[0], dbs[1]
	m.log.Debug("migrate: dev databases created", "took", time.Since(t0))
	start := time.Now()
	want, err := loadDesired(ctx, desired, schemaFiles)
	if err != nil {
		return nil, err
	}
	m.log.Debug("migrate: desired schema loaded and inspected", "took", time.Since(start))
	start = time.Now()
	planner := amigrate.NewPlanner(current.drv, d, amigrate.PlanWithSchemaQualifier(""), amigrate.PlanWithChecksum(false))
	plan, err := planner.PlanSchema(ctx, name, amigrate.Realm(want))
	if errors.Is(err, amigrate.ErrNoPlan) {
		return nil, ErrNoChanges
	}
	m.log.Debug("migrate: replayed and planned", "took", time.Since(start))
	if err != nil {
		return nil, fmt.Errorf("migrate: plan: %w", err)
	}
	return plan, nil
}

// loadDesired runs the schema files on db, refuses objects the library
// would silently ignore, and inspects the result.
func loadDesired(ctx context.Context, db *devDB, files []amigrate.File) (*schema.Realm, error) {
	for _, f := range files {
		if err := execStmts(ctx, db.drv, f); err != nil {
			return nil, err
		}
	}
	objs, err := unsupportedObjects(ctx, db, files)
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

// unsupportedObjects describes each unsupported object, with the schema
// files mentioning its name as a hint.
func unsupportedObjects(ctx context.Context, db *devDB, files []amigrate.File) ([]string, error) {
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
		var in []string
		for _, f := range files {
			if strings.Contains(strings.ToLower(string(f.Bytes())), strings.ToLower(name)) {
				in = append(in, f.Name())
			}
		}
		if len(in) > 0 {
			desc += " (" + strings.Join(in, ", ") + ")"
		}
		out = append(out, desc)
	}
	return out, rows.Err()
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
