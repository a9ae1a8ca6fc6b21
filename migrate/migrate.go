package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
)

// Sentinel errors. Wrapped errors carry the details; test with errors.Is.
var (
	// ErrNoChanges reports that schema/ and the migration directory agree.
	ErrNoChanges = errors.New("migrate: no changes")
	// ErrDrift reports that schema/ and the migration directory disagree (Check).
	ErrDrift = errors.New("migrate: schema and migration directory disagree")
	// ErrUnsupported reports objects in schema/ the Atlas library cannot diff.
	ErrUnsupported = errors.New("migrate: unsupported objects in schema")
	// ErrChecksum reports that atlas.sum does not match the directory.
	ErrChecksum = errors.New("migrate: atlas.sum does not match the migration directory")
	// ErrTampered reports an applied file whose content changed since it ran.
	ErrTampered = errors.New("migrate: applied migration file was modified")
	// ErrUnknownRevision reports revisions in the database without a file.
	ErrUnknownRevision = errors.New("migrate: database holds revisions the directory does not")
	// ErrFailedFile reports a migration file that failed to apply.
	ErrFailedFile = errors.New("migrate: migration file failed")
	// ErrLintFailed reports lint findings that the policy marks as errors.
	ErrLintFailed = errors.New("migrate: lint found errors")
	// ErrNoDevDatabase reports that neither DevURL nor StartDev was configured.
	ErrNoDevDatabase = errors.New("migrate: no dev database configured")
	// ErrLocked reports that another migration holds the advisory lock.
	ErrLocked = errors.New("migrate: another migration holds the lock")
)

// Defaults for zero Config fields.
const (
	DefaultSchemaDir       = "schema"
	DefaultDir             = "migrations"
	DefaultRevisionsSchema = "atlas_schema_revisions"
	DefaultLockTimeout     = time.Minute
	// LockName is the advisory lock name the Atlas CLI uses for apply, so the
	// real CLI and this package exclude each other.
	LockName = "atlas_migrate_execute"
	// OperatorVersion is recorded in every revision this package writes.
	OperatorVersion = "datalayer-migrate (Atlas library v0.32.1)"
)

// Config configures a Migrator. The zero value is usable for Apply, Status and
// Hash on ./migrations; Diff and Lint also need a dev database (DevURL or
// StartDev).
type Config struct {
	// Dir is the migration directory. Default "migrations".
	Dir string
	// SchemaDir holds the desired schema as *.sql, applied in name order.
	// Default "schema".
	SchemaDir string
	// DevURL is a PostgreSQL server on which throwaway databases may be
	// created and dropped (the role needs CREATEDB). Its database part is
	// only used to connect.
	DevURL string
	// StartDev starts a throwaway server when DevURL is empty. It returns
	// the server's DSN and a function stopping it.
	StartDev func(ctx context.Context) (dsn string, stop func(context.Context) error, err error)
	// RevisionsSchema holds the atlas_schema_revisions table.
	// Default "atlas_schema_revisions" (the Atlas CLI's).
	RevisionsSchema string
	// LockTimeout bounds the wait for the advisory lock in Apply.
	// Default one minute.
	LockTimeout time.Duration
	// Now returns the current time for new version numbers. Default time.Now.
	Now func() time.Time
	// Lint is the lint policy. The zero value is DefaultLintPolicy.
	Lint LintPolicy
	// CacheDev keeps the replayed migration directory and the loaded
	// schema/ as databases on the dev server, named by the hash of
	// atlas.sum and of schema/, and reuses them in later runs (and later
	// processes): a Check with nothing changed then only inspects them.
	CacheDev bool
	// Diff is the policy for the files Diff writes. The zero value is the
	// zero-downtime policy (see DiffPolicy).
	Diff DiffPolicy
	// Logger receives progress messages. Nil discards them.
	Logger *slog.Logger
}

// Migrator runs migration operations for one Config.
type Migrator struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	dev  *devServer // opened on first use, closed by Close
	free []*devDB   // empty dev databases kept for reuse
}

// New returns a Migrator with defaults filled in. Call Close when done if
// Diff, Check or Lint were used: it drops the dev databases kept for reuse.
func New(cfg Config) *Migrator {
	if cfg.Dir == "" {
		cfg.Dir = DefaultDir
	}
	if cfg.SchemaDir == "" {
		cfg.SchemaDir = DefaultSchemaDir
	}
	if cfg.RevisionsSchema == "" {
		cfg.RevisionsSchema = DefaultRevisionsSchema
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = DefaultLockTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Migrator{cfg: cfg, log: log}
}

// Config returns the effective configuration (defaults filled in).
func (m *Migrator) Config() Config { return m.cfg }

// localDir opens the migration directory, creating it when create is set.
func (m *Migrator) localDir(create bool) (*amigrate.LocalDir, error) {
	if create {
		if err := os.MkdirAll(m.cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	d, err := amigrate.NewLocalDir(m.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: open directory %s: %w", m.cfg.Dir, err)
	}
	return d, nil
}

// Hash rewrites atlas.sum from the files in the migration directory.
func (m *Migrator) Hash() error {
	d, err := m.localDir(true)
	if err != nil {
		return err
	}
	return writeSum(d)
}

func writeSum(d amigrate.Dir) error {
	sum, err := d.Checksum()
	if err != nil {
		return fmt.Errorf("migrate: hash: %w", err)
	}
	if err := amigrate.WriteSumFile(d, sum); err != nil {
		return fmt.Errorf("migrate: write atlas.sum: %w", err)
	}
	return nil
}

// validate checks atlas.sum against the directory, translating the library's
// error into ErrChecksum with the file and reason.
func validate(d amigrate.Dir) error {
	err := amigrate.Validate(d)
	var ce *amigrate.ChecksumError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return fmt.Errorf("%w: %s was %s (run 'migrate hash' only if the change is intended)", ErrChecksum, ce.File, ce.Reason)
	case errors.Is(err, amigrate.ErrChecksumNotFound):
		return fmt.Errorf("%w: atlas.sum is missing", ErrChecksum)
	case errors.Is(err, amigrate.ErrChecksumMismatch), errors.Is(err, amigrate.ErrChecksumFormat):
		return fmt.Errorf("%w: %v", ErrChecksum, err)
	default:
		return fmt.Errorf("migrate: validate directory: %w", err)
	}
}

// FSDir adapts a read-only fs.FS (such as an embed.FS holding *.sql and
// atlas.sum at its root) to the Atlas library's migrate.Dir.
func FSDir(fsys fs.FS) amigrate.Dir { return fsDir{fsys} }

type fsDir struct{ fs.FS }

func (d fsDir) WriteFile(string, []byte) error {
	return errors.New("migrate: directory is read-only")
}

func (d fsDir) Files() ([]amigrate.File, error) {
	names, err := fs.Glob(d.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	files := make([]amigrate.File, 0, len(names))
	for _, n := range names { // fs.Glob returns names sorted
		b, err := fs.ReadFile(d.FS, n)
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", n, err)
		}
		files = append(files, amigrate.NewLocalFile(filepath.Base(n), b))
	}
	return files, nil
}

func (d fsDir) Checksum() (amigrate.HashFile, error) {
	files, err := d.Files()
	if err != nil {
		return nil, err
	}
	return amigrate.NewHashFile(files)
}
