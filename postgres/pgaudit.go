package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgaudit classes accepted by EnablePgAudit.
var pgauditClasses = map[string]bool{
	"read": true, "write": true, "function": true, "role": true, "ddl": true,
	"misc": true, "misc_set": true, "all": true, "none": true,
}

// ErrPgAuditNotLoaded is returned by EnablePgAudit when the server was not
// started with pgaudit in shared_preload_libraries.
var ErrPgAuditNotLoaded = errors.New("postgres: pgaudit is not loaded (add it to shared_preload_libraries and restart; Debian: apt-get install postgresql-15-pgaudit)")

// EnablePgAudit turns on pgaudit's statement-level session audit for role:
// it creates the extension in the connected database and sets pgaudit.log
// to classes (comma-separated: read, write, function, role, ddl, misc,
// misc_set, all, none; a leading '-' excludes) for the role's new sessions.
// The server log then holds one "AUDIT: SESSION,..." line per audited
// statement. conn must be a superuser connection. This complements
// -- @audit: pgaudit sees every statement, including those made outside the
// repositories, but records no application actor.
func EnablePgAudit(ctx context.Context, conn DBTX, role, classes string) error {
	if role == "" {
		return errors.New("postgres: pgaudit: role is empty")
	}
	var parts []string
	for _, c := range strings.Split(classes, ",") {
		c = strings.TrimSpace(strings.ToLower(c))
		if !pgauditClasses[strings.TrimPrefix(c, "-")] {
			return fmt.Errorf("postgres: pgaudit: unknown class %q (known: read, write, function, role, ddl, misc, misc_set, all, none)", c)
		}
		parts = append(parts, c)
	}
	var loaded bool
	if err := conn.QueryRow(ctx, "SELECT 'pgaudit' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))").Scan(&loaded); err != nil {
		return fmt.Errorf("postgres: pgaudit: %w", err)
	}
	if !loaded {
		return ErrPgAuditNotLoaded
	}
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pgaudit"); err != nil {
		return fmt.Errorf("postgres: pgaudit: create extension: %w", err)
	}
	// ALTER ROLE takes no parameters: quote the identifier and the literal.
	lit := "'" + strings.ReplaceAll(strings.Join(parts, ","), "'", "''") + "'"
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" SET pgaudit.log = "+lit); err != nil {
		return fmt.Errorf("postgres: pgaudit: set pgaudit.log for %s: %w", role, err)
	}
	return nil
}
