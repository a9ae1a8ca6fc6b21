package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/agentical/datalayer/backup"
)

// Backup variables read by BackupFromMap (besides DATABASE_URL and the
// SURREALDB_* connection variables, which say what is backed up).
const (
	EnvBackupEnabled        = "BACKUP_ENABLED"
	EnvBackupDir            = "BACKUP_DIR"
	EnvBackupURL            = "BACKUP_URL"
	EnvAutoBackupEnabled    = "AUTO_BACKUP_ENABLED"
	EnvBackupIntervalHours  = "BACKUP_INTERVAL_HOURS"
	EnvBackupCompression    = "BACKUP_COMPRESSION"
	EnvBackupAgeRecipients  = "BACKUP_AGE_RECIPIENTS"
	EnvBackupAgeIdentity    = "BACKUP_AGE_IDENTITY_FILE"
	EnvBackupPassphraseFile = "BACKUP_PASSPHRASE_FILE"
	EnvBackupKeepDaily      = "BACKUP_KEEP_DAILY"
	EnvBackupKeepWeekly     = "BACKUP_KEEP_WEEKLY"
	EnvBackupKeepMonthly    = "BACKUP_KEEP_MONTHLY"
	EnvBackupPGBinDir       = "BACKUP_PG_BIN_DIR"
	EnvBackupJobs           = "BACKUP_JOBS"
)

// LoadBackup is BackupFromMap over environ (KEY=value entries).
func LoadBackup(environ []string) (backup.Config, error) {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return BackupFromMap(vars)
}

// BackupFromMap maps the backup variables to a backup.Config. It does not
// need the rest of the configuration to be valid, so that archive_command
// (`datalayer backup wal-push`) works with only BACKUP_* set. Unset
// variables keep backup.Config's defaults; SURREALDB_NAMESPACE, _DATABASE
// and _USERNAME default as in Defaults(Development). Every problem is
// returned, joined, as *Error naming the variable.
func BackupFromMap(vars map[string]string) (backup.Config, error) {
	var errs []error
	get := func(k string) string { return strings.TrimSpace(vars[k]) }
	fail := func(k, reason string) { errs = append(errs, &Error{Var: k, Reason: reason}) }
	boolVar := func(k string) bool {
		v := get(k)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(k, "must be true or false, got "+strconv.Quote(v))
		}
		return b
	}
	intVar := func(k string, lo, hi int) int {
		v := get(k)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			fail(k, "must be an integer between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi)+", got "+strconv.Quote(v))
		}
		return n
	}
	sur := Defaults(Development).Surreal
	c := backup.Config{
		Enabled:          boolVar(EnvBackupEnabled),
		Dir:              get(EnvBackupDir),
		URL:              get(EnvBackupURL),
		Compression:      get(EnvBackupCompression),
		AgeIdentityFile:  get(EnvBackupAgeIdentity),
		PassphraseFile:   get(EnvBackupPassphraseFile),
		KeepDaily:        intVar(EnvBackupKeepDaily, 0, 3660),
		KeepWeekly:       intVar(EnvBackupKeepWeekly, 0, 520),
		KeepMonthly:      intVar(EnvBackupKeepMonthly, 0, 1200),
		AutoEnabled:      boolVar(EnvAutoBackupEnabled),
		PGBinDir:         get(EnvBackupPGBinDir),
		Jobs:             intVar(EnvBackupJobs, 0, 64),
		PostgresURL:      get("DATABASE_URL"),
		SurrealURL:       get("SURREALDB_URL"),
		SurrealUser:      firstSet(get("SURREALDB_USERNAME"), sur.Username),
		SurrealPassword:  vars["SURREALDB_PASSWORD"],
		SurrealNamespace: firstSet(get("SURREALDB_NAMESPACE"), sur.Namespace),
		SurrealDatabase:  firstSet(get("SURREALDB_DATABASE"), sur.Database),
	}
	for _, r := range strings.FieldsFunc(get(EnvBackupAgeRecipients), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		c.AgeRecipients = append(c.AgeRecipients, r)
	}
	if v := get(EnvBackupIntervalHours); v != "" {
		h, err := strconv.ParseFloat(v, 64)
		if err != nil || h <= 0 || h > 24*366 || math.IsNaN(h) {
			fail(EnvBackupIntervalHours, "must be a number of hours > 0 (e.g. 24 or 0.5), got "+strconv.Quote(v))
		} else {
			c.Interval = time.Duration(h * float64(time.Hour))
		}
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			// backup's messages name the variable and never a secret.
			reason := strings.TrimPrefix(err.Error(), backup.ErrConfig.Error()+": ")
			name := "BACKUP_*"
			if first, rest, ok := strings.Cut(reason, " "); ok && strings.HasPrefix(first, "BACKUP_") {
				name, reason = strings.TrimSuffix(first, ":"), rest
			}
			errs = append(errs, &Error{Var: name, Reason: reason})
		}
	}
	return c, errors.Join(errs...)
}

func firstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
