package backup

import "errors"

var (
	// ErrNotFound: no backup with that id (or no backup at all for "latest").
	ErrNotFound = errors.New("backup: not found")
	// ErrCorrupt: an artifact's bytes do not match its manifest (checksum or
	// size), or it cannot be decompressed: corrupted or truncated.
	ErrCorrupt = errors.New("backup: artifact corrupted or truncated")
	// ErrDecrypt: an artifact cannot be decrypted with the configured
	// passphrase or identities.
	ErrDecrypt = errors.New("backup: artifact cannot be decrypted")
	// ErrNewerMigration: the backup's migration version is newer than the
	// code's; pass Force to restore it anyway.
	ErrNewerMigration = errors.New("backup: backup's migration version is newer than the code's")
	// ErrVerify: a verify-by-restore found different row counts or content.
	ErrVerify = errors.New("backup: verification failed")
	// ErrConfig: the configuration is unusable; the message names the field.
	ErrConfig = errors.New("backup: bad configuration")
	// ErrNoBase: no base backup old enough for the requested recovery time.
	ErrNoBase = errors.New("backup: no base backup for that time")
	// ErrWALConflict: a WAL segment of that name is already archived with
	// different content.
	ErrWALConflict = errors.New("backup: WAL segment already archived with different content")
)

// IsCorrupt reports whether err says an artifact is corrupted, truncated
// or cannot be decrypted.
func IsCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrDecrypt) }
