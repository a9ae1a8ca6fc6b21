package backup

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentical/datalayer/internal/redact"
)

// Compression of artifacts.
const (
	CompressionZstd = "zstd" // the default
	CompressionNone = "none"
)

// Config configures a Manager. Zero fields take the documented defaults.
// Printing or logging a Config (fmt, slog, encoding/json) redacts the
// passwords in PostgresURL and SurrealPassword.
type Config struct {
	// Enabled is BACKUP_ENABLED: a service starts no backup machinery when
	// false. The CLI and the Manager do not look at it.
	Enabled bool
	// Dir is the local backup directory (BACKUP_DIR): the store when URL is
	// empty (file://<Dir>). Default "./backups".
	Dir string
	// URL is the storage URL (BACKUP_URL) opened with gocloud.dev/blob:
	// file:///abs/path, s3://bucket?region=..&endpoint=..&use_path_style=true,
	// gs://bucket. Default file://<abs Dir>. A path in the URL's "prefix"
	// query parameter is honoured as gocloud does.
	URL string
	// Compression is "zstd" (default) or "none" (BACKUP_COMPRESSION).
	Compression string
	// CompressionLevel is the zstd level 1 (fastest) to 4 (best); default 1.
	CompressionLevel int
	// AgeRecipients are age X25519 recipients ("age1...") artifacts are
	// encrypted to (BACKUP_AGE_RECIPIENTS). Decrypting needs
	// AgeIdentityFile.
	AgeRecipients []string
	// AgeIdentityFile is a file of age identities ("AGE-SECRET-KEY-1...")
	// used to decrypt (BACKUP_AGE_IDENTITY_FILE).
	AgeIdentityFile string
	// PassphraseFile holds a passphrase (first line) for age's scrypt
	// encryption (BACKUP_PASSPHRASE_FILE); exclusive with AgeRecipients.
	PassphraseFile string
	// PassphraseWorkFactor is the scrypt work factor (log2) used when
	// encrypting with a passphrase; default 18, age's own. Each artifact
	// costs 2^N scrypt work to encrypt and to decrypt.
	PassphraseWorkFactor int

	// KeepDaily, KeepWeekly and KeepMonthly are the retention of Prune
	// (BACKUP_KEEP_DAILY/WEEKLY/MONTHLY): the newest backup of each of the
	// last N days, M ISO weeks and K months that have backups is kept. All
	// zero disables pruning. The newest backup is always kept, and so is
	// the parent chain of every kept incremental backup.
	KeepDaily, KeepWeekly, KeepMonthly int

	// PostgresURL is the database to back up and the default restore
	// target (DATABASE_URL). Empty: PostgreSQL is not backed up.
	PostgresURL string
	// AdminDatabase is the database connected to for CREATE/ALTER/DROP
	// DATABASE during restores. Default "postgres".
	AdminDatabase string
	// PGBinDir holds pg_dump, pg_restore and pg_basebackup. Default: the
	// output of `pg_config --bindir`, else PATH.
	PGBinDir string
	// Jobs is the number of parallel pg_restore jobs. Default 2.
	Jobs int
	// TableChecksums records per-table row counts and content checksums
	// at backup time (used by Verify's restore check). Default true; set
	// NoTableChecksums to skip them on very large databases.
	NoTableChecksums bool

	// SurrealURL is the SurrealDB endpoint (ws://, wss://, http://,
	// https://; a trailing /rpc is ignored). Empty: SurrealDB is not
	// backed up. Export and import use its HTTP /export and /import.
	SurrealURL       string
	SurrealUser      string
	SurrealPassword  string
	SurrealNamespace string
	SurrealDatabase  string

	// Migrations is the code's migration directory (holding atlas.sum).
	// The newest version in its atlas.sum is the code's migration version:
	// restores of newer backups are refused unless forced. Nil: no check.
	Migrations fs.FS

	// AutoEnabled runs backups from a Scheduler (AUTO_BACKUP_ENABLED) every
	// Interval (BACKUP_INTERVAL_HOURS, default 24 h).
	AutoEnabled bool
	Interval    time.Duration

	// Logger receives progress events; default: discard.
	Logger *slog.Logger
	// Progress, when set, is called as bytes of an artifact move (for
	// progress bars). It must be cheap and safe for concurrent use.
	Progress func(ProgressEvent)
}

// ProgressEvent reports the progress of one artifact transfer.
type ProgressEvent struct {
	Op       string // "dump" (pg_dump's output so far), "upload", "download"
	Artifact string
	Bytes    int64 // plain bytes so far
	Total    int64 // plain bytes expected, -1 when unknown
	Done     bool
}

// Validate reports the first problem of the configuration; the message
// names the variable.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// SchedulerWanted reports whether a service should run a Scheduler:
// BACKUP_ENABLED and AUTO_BACKUP_ENABLED.
func (c Config) SchedulerWanted() bool { return c.Enabled && c.AutoEnabled }

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		c.Dir = "backups"
	}
	if c.URL == "" {
		abs, err := filepath.Abs(c.Dir)
		if err != nil {
			return c, fmt.Errorf("%w: BACKUP_DIR %q: %v", ErrConfig, c.Dir, err)
		}
		c.URL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
	}
	switch strings.ToLower(c.Compression) {
	case "", CompressionZstd:
		c.Compression = CompressionZstd
	case CompressionNone, "off", "false":
		c.Compression = CompressionNone
	default:
		return c, fmt.Errorf("%w: BACKUP_COMPRESSION %q: want zstd or none", ErrConfig, c.Compression)
	}
	if c.CompressionLevel == 0 {
		c.CompressionLevel = 1
	}
	if c.CompressionLevel < 1 || c.CompressionLevel > 4 {
		return c, fmt.Errorf("%w: compression level %d: want 1..4", ErrConfig, c.CompressionLevel)
	}
	if len(c.AgeRecipients) > 0 && c.PassphraseFile != "" {
		return c, fmt.Errorf("%w: BACKUP_AGE_RECIPIENTS and BACKUP_PASSPHRASE_FILE are exclusive (age cannot mix a passphrase with recipients)", ErrConfig)
	}
	if c.KeepDaily < 0 || c.KeepWeekly < 0 || c.KeepMonthly < 0 {
		return c, fmt.Errorf("%w: retention counts must not be negative", ErrConfig)
	}
	if c.AdminDatabase == "" {
		c.AdminDatabase = "postgres"
	}
	if c.Jobs <= 0 {
		c.Jobs = 2
	}
	if c.Interval <= 0 {
		c.Interval = 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func (c Config) redacted() Config {
	c.PostgresURL = redact.DSN(c.PostgresURL)
	if c.SurrealPassword != "" {
		c.SurrealPassword = "xxxxx"
	}
	c.SurrealURL = redact.DSN(c.SurrealURL)
	c.URL = redact.DSN(c.URL)
	c.Logger, c.Progress, c.Migrations = nil, nil, nil
	return c
}

type plainConfig Config

// String renders the Config with passwords redacted.
func (c Config) String() string {
	r := c.redacted()
	return fmt.Sprintf("%+v", plainConfig(r))
}

// GoString is String.
func (c Config) GoString() string { return c.String() }

// LogValue redacts passwords in slog output.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON redacts passwords.
func (c Config) MarshalJSON() ([]byte, error) {
	r := c.redacted()
	return json.Marshal(struct {
		plainConfig
		Logger, Progress, Migrations any `json:"-"`
	}{plainConfig: plainConfig(r)})
}
