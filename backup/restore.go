package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// RestoreOptions adjusts Restore.
type RestoreOptions struct {
	// Database is the PostgreSQL database to replace; default the database
	// of Config.PostgresURL.
	Database string
	// SurrealDatabase is the SurrealDB database to replace (in
	// Config.SurrealNamespace); default Config.SurrealDatabase.
	SurrealDatabase string
	// Stores limits the restore to these stores; default all in the backup
	// that are configured.
	Stores []string
	// Force restores a backup whose migration version is newer than the
	// code's.
	Force bool
	// KeepPrevious keeps the replaced PostgreSQL database under the name
	// RestoreResult.Previous instead of dropping it.
	KeepPrevious bool
	// NoOwner skips ownership and privileges (pg_restore --no-owner
	// --no-acl), for a server without the original roles.
	NoOwner bool
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	ID              string        `json:"id"`
	Database        string        `json:"database,omitempty"`
	Previous        string        `json:"previous,omitempty"`
	SurrealDatabase string        `json:"surrealdb_database,omitempty"`
	Bytes           int64         `json:"bytes"`
	Duration        time.Duration `json:"duration_ns"`
}

// checkMigration refuses a backup newer than the code unless force.
func (m *Manager) checkMigration(man *Manifest, force bool) error {
	code, err := m.codeMigrationVersion()
	if err != nil {
		return err
	}
	if code == "" || man.MigrationVersion == "" || force {
		return nil
	}
	if compareVersions(man.MigrationVersion, code) > 0 {
		return fmt.Errorf("%w: backup %s is at migration %s, this code knows up to %s (upgrade the code, or force)", ErrNewerMigration, man.ID, man.MigrationVersion, code)
	}
	return nil
}

// Restore restores logical backup id ("latest" for the newest) into the
// configured stores. Every artifact is downloaded and checked first; the
// PostgreSQL archive is restored into a new database that replaces the
// target only after pg_restore succeeded; the SurrealDB export is
// imported into a scratch database first and only then into the target.
// A failure before the switch leaves the targets untouched.
func (m *Manager) Restore(ctx context.Context, id string, opts RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	man, err := m.Show(ctx, id)
	if err != nil {
		return nil, err
	}
	if man.Kind != KindLogical {
		return nil, fmt.Errorf("backup: %s is a %s backup: restore it with RestoreToTime (restore --to-time)", man.ID, man.Kind)
	}
	if err := m.checkMigration(man, opts.Force); err != nil {
		return nil, err
	}
	want := func(s string) bool {
		return man.HasStore(s) && (len(opts.Stores) == 0 || slices.Contains(opts.Stores, s))
	}
	doPG := want(StorePostgres)
	doSur := want(StoreSurreal)
	if doPG && m.cfg.PostgresURL == "" {
		return nil, fmt.Errorf("%w: backup %s holds PostgreSQL but DATABASE_URL is not set", ErrConfig, man.ID)
	}
	if doSur && m.cfg.SurrealURL == "" {
		return nil, fmt.Errorf("%w: backup %s holds SurrealDB but SURREALDB_URL is not set", ErrConfig, man.ID)
	}
	if !doPG && !doSur {
		return nil, fmt.Errorf("backup: %s holds none of the stores asked for", man.ID)
	}
	dir, cleanup, err := m.tempDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	files := map[string]string{}
	res := &RestoreResult{ID: man.ID}
	for _, a := range man.Artifacts {
		if (a.Store == StorePostgres && doPG) || (a.Store == StoreSurreal && doSur) {
			if files[a.Store], err = m.getFile(ctx, a, dir); err != nil {
				return nil, err
			}
			res.Bytes += a.Size
		}
	}

	var fresh, surScratch string
	if doPG {
		target := opts.Database
		if target == "" {
			if target, err = databaseOf(m.cfg.PostgresURL); err != nil {
				return nil, err
			}
		}
		adminDSN, err := withDatabase(m.cfg.PostgresURL, m.cfg.AdminDatabase)
		if err != nil {
			return nil, err
		}
		admin, err := m.connect(ctx, adminDSN)
		if err != nil {
			return nil, err
		}
		defer admin.Close(context.WithoutCancel(ctx))
		fresh = scratchName(target, "restore")
		if err := m.restorePostgresInto(ctx, admin, man.Postgres, files[StorePostgres], fresh, opts.NoOwner); err != nil {
			return nil, err
		}
		var surErr error
		if doSur {
			surScratch, surErr = m.restoreSurrealScratch(ctx, files[StoreSurreal], opts)
		}
		if surErr != nil {
			m.dropDatabase(ctx, admin, fresh)
			return nil, surErr
		}
		prev := scratchName(target, "replaced")
		if res.Previous, err = m.switchDatabase(ctx, admin, fresh, target, prev, opts.KeepPrevious); err != nil {
			m.dropDatabase(ctx, admin, fresh)
			if surScratch != "" {
				_ = m.removeSurrealDB(context.WithoutCancel(ctx), surScratch)
			}
			return nil, err
		}
		res.Database = target
	} else if doSur {
		if surScratch, err = m.restoreSurrealScratch(ctx, files[StoreSurreal], opts); err != nil {
			return nil, err
		}
	}
	if doSur {
		db := opts.SurrealDatabase
		if db == "" {
			db = m.cfg.SurrealDatabase
		}
		if err := m.removeSurrealDB(ctx, db); err != nil {
			return nil, fmt.Errorf("backup: SurrealDB: %w (the restored data is in database %s)", err, surScratch)
		}
		if err := m.importSurreal(ctx, files[StoreSurreal], db); err != nil {
			return nil, fmt.Errorf("backup: SurrealDB database %s was removed but the import failed; the restored data is in database %s: %w", db, surScratch, err)
		}
		_ = m.removeSurrealDB(ctx, surScratch)
		res.SurrealDatabase = db
	}
	res.Duration = time.Since(start)
	m.cfg.Logger.Info("backup restored", "id", man.ID, "database", res.Database, "surrealdb", res.SurrealDatabase, "duration", res.Duration)
	return res, nil
}

// restoreSurrealScratch imports the export into a scratch database: proof
// that the target import will go through, and a copy of the restored data
// until it has. The caller removes the scratch database.
func (m *Manager) restoreSurrealScratch(ctx context.Context, file string, opts RestoreOptions) (string, error) {
	db := opts.SurrealDatabase
	if db == "" {
		db = m.cfg.SurrealDatabase
	}
	scratch := scratchName(db, "restore")
	if err := m.importSurreal(ctx, file, scratch); err != nil {
		_ = m.removeSurrealDB(context.WithoutCancel(ctx), scratch)
		return "", fmt.Errorf("backup: SurrealDB import into scratch database %s failed, target untouched: %w", scratch, err)
	}
	return scratch, nil
}

// VerifyOptions adjusts Verify.
type VerifyOptions struct {
	// Restore also restores a logical backup into scratch databases and
	// compares per-table row counts and checksums with those recorded at
	// backup time (PostgreSQL) and the re-exported content (SurrealDB); a
	// base backup is extracted and checked with pg_verifybackup against
	// its backup manifest. Incremental backups get checksums only.
	Restore bool
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	ID        string          `json:"id"`
	OK        bool            `json:"ok"`
	Artifacts []ArtifactCheck `json:"artifacts"`
	Restored  bool            `json:"restored"`
	Tables    []TableCheck    `json:"tables,omitempty"`
	Surreal   string          `json:"surrealdb,omitempty"` // "ok", "different", "" when not checked
	// Base is the pg_verifybackup result of a base backup: "ok", "failed",
	// "" when not checked.
	Base     string        `json:"base,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// ArtifactCheck is one artifact's checksum verification.
type ArtifactCheck struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// TableCheck compares one table after a verify-by-restore.
type TableCheck struct {
	Table        string `json:"table"`
	WantRows     int64  `json:"want_rows"`
	GotRows      int64  `json:"got_rows"`
	WantChecksum string `json:"want_checksum"`
	GotChecksum  string `json:"got_checksum"`
	OK           bool   `json:"ok"`
}

// Verify checks the SHA-256 and sizes of every artifact of backup id and,
// with opts.Restore, restores a logical backup into scratch databases and
// compares the content with what was recorded at backup time. The report
// is returned with an error wrapping ErrVerify, ErrCorrupt or ErrDecrypt
// when something does not match.
func (m *Manager) Verify(ctx context.Context, id string, opts VerifyOptions) (*VerifyReport, error) {
	start := time.Now()
	man, err := m.Show(ctx, id)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{ID: man.ID, OK: true}
	var errs []error
	dir, cleanup, err := m.tempDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	files := map[string]string{}
	for _, a := range man.Artifacts {
		chk := ArtifactCheck{Name: a.Name, Key: a.Key, OK: true}
		var err error
		if opts.Restore && man.Kind != KindIncremental {
			files[a.Store], err = m.getFile(ctx, a, dir)
		} else {
			err = m.get(ctx, a, io.Discard)
		}
		if err != nil {
			chk.OK, chk.Error, rep.OK = false, err.Error(), false
			errs = append(errs, err)
		}
		rep.Artifacts = append(rep.Artifacts, chk)
	}
	if opts.Restore && rep.OK && man.Kind == KindLogical {
		rep.Restored = true
		if f, ok := files[StorePostgres]; ok {
			if err := m.verifyPostgres(ctx, man, f, rep); err != nil {
				rep.OK = false
				errs = append(errs, err)
			}
		}
		if f, ok := files[StoreSurreal]; ok {
			if err := m.verifySurreal(ctx, man, f, rep); err != nil {
				rep.OK = false
				errs = append(errs, err)
			}
		}
	}
	if opts.Restore && rep.OK && man.Kind == KindBase {
		rep.Restored = true
		if err := m.verifyBase(ctx, files[StorePostgres], rep); err != nil {
			rep.OK = false
			errs = append(errs, err)
		}
	}
	rep.Duration = time.Since(start)
	return rep, errors.Join(errs...)
}

func (m *Manager) verifyPostgres(ctx context.Context, man *Manifest, file string, rep *VerifyReport) error {
	if m.cfg.PostgresURL == "" {
		return fmt.Errorf("%w: verify-by-restore needs DATABASE_URL (a server to restore into)", ErrConfig)
	}
	adminDSN, err := withDatabase(m.cfg.PostgresURL, m.cfg.AdminDatabase)
	if err != nil {
		return err
	}
	admin, err := m.connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	base := "verify"
	if man.Postgres != nil && man.Postgres.Database != "" {
		base = man.Postgres.Database
	}
	scratch := scratchName(base, "verify")
	if err := m.restorePostgresInto(ctx, admin, man.Postgres, file, scratch, true); err != nil {
		return fmt.Errorf("%w: pg_restore into a scratch database: %v", ErrVerify, err)
	}
	defer m.dropDatabase(ctx, admin, scratch)
	dsn, err := withDatabase(m.cfg.PostgresURL, scratch)
	if err != nil {
		return err
	}
	conn, err := m.connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	got, err := tableStats(ctx, conn)
	if err != nil {
		return err
	}
	if man.Postgres == nil || man.Postgres.Tables == nil {
		return nil // restored cleanly; nothing recorded to compare
	}
	gotBy := map[string]TableStat{}
	for _, g := range got {
		gotBy[g.Table] = g
	}
	bad := 0
	for _, w := range man.Postgres.Tables {
		g, ok := gotBy[w.Table]
		c := TableCheck{Table: w.Table, WantRows: w.Rows, WantChecksum: w.Checksum, GotRows: g.Rows, GotChecksum: g.Checksum}
		c.OK = ok && g.Rows == w.Rows && g.Checksum == w.Checksum
		if !ok {
			c.GotRows = -1
		}
		if !c.OK {
			bad++
		}
		rep.Tables = append(rep.Tables, c)
		delete(gotBy, w.Table)
	}
	for _, g := range gotBy {
		rep.Tables = append(rep.Tables, TableCheck{Table: g.Table, WantRows: -1, GotRows: g.Rows, GotChecksum: g.Checksum})
		bad++
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d tables differ from the backup-time counts/checksums", ErrVerify, bad, len(rep.Tables))
	}
	return nil
}

// verifySurreal imports the export into a scratch database, exports that
// again and compares the two.
func (m *Manager) verifySurreal(ctx context.Context, man *Manifest, file string, rep *VerifyReport) error {
	if m.cfg.SurrealURL == "" {
		return fmt.Errorf("%w: verify-by-restore needs SURREALDB_URL", ErrConfig)
	}
	scratch := scratchName(man.Surreal.Database, "verify")
	defer func() { _ = m.removeSurrealDB(context.WithoutCancel(ctx), scratch) }()
	if err := m.importSurreal(ctx, file, scratch); err != nil {
		rep.Surreal = "import failed"
		return fmt.Errorf("%w: SurrealDB import into a scratch database: %v", ErrVerify, err)
	}
	h := sha256.New()
	if err := m.exportSurrealTo(ctx, scratch, h); err != nil {
		return err
	}
	var want string
	for _, a := range man.Artifacts {
		if a.Store == StoreSurreal {
			want = a.RawSHA256
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		rep.Surreal = "different"
		return fmt.Errorf("%w: SurrealDB re-export of the restored data differs from the backup (sha256 %s, want %s)", ErrVerify, short(got), short(want))
	}
	rep.Surreal = "ok"
	return nil
}
