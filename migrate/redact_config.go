package migrate

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// String describes c with DevURL's password masked. GoString, LogValue and
// MarshalJSON mask it the same way, so fmt, log/slog and encoding/json never
// print it.
func (c Config) String() string {
	return fmt.Sprintf("migrate.Config{Dir: %q, SchemaDir: %q, DevURL: %q, StartDev: %t, RevisionsSchema: %q, LockTimeout: %s}",
		c.Dir, c.SchemaDir, RedactURL(c.DevURL), c.StartDev != nil, c.RevisionsSchema, c.LockTimeout)
}

// GoString is String.
func (c Config) GoString() string { return c.String() }

// LogValue is String, for slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON writes the fields String shows.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{
		"dir": c.Dir, "schema_dir": c.SchemaDir, "dev_url": RedactURL(c.DevURL), "start_dev": c.StartDev != nil,
		"revisions_schema": c.RevisionsSchema, "lock_timeout": c.LockTimeout.String(),
	})
}

// projectView is Project with its URLs' passwords masked; a distinct type,
// so marshalling it does not call Project's methods again.
type projectView Project

func (p Project) redacted() projectView {
	p.URL, p.DevURL = RedactURL(p.URL), RedactURL(p.DevURL)
	return projectView(p)
}

// String describes p with URL's and DevURL's passwords masked (as do
// GoString, LogValue and MarshalJSON).
func (p Project) String() string { return fmt.Sprintf("migrate.Project%+v", p.redacted()) }

// GoString is String.
func (p Project) GoString() string { return p.String() }

// LogValue is String, for slog.
func (p Project) LogValue() slog.Value { return slog.StringValue(p.String()) }

// MarshalJSON writes p with its URLs' passwords masked.
func (p Project) MarshalJSON() ([]byte, error) { return json.Marshal(p.redacted()) }

// String describes the migrator by its Config's String (DevURL's password
// masked); GoString and LogValue say the same.
func (m *Migrator) String() string {
	if m == nil {
		return "migrate.Migrator(nil)"
	}
	return "migrate.Migrator{" + m.cfg.String() + "}"
}

// GoString is String.
func (m *Migrator) GoString() string { return m.String() }

// LogValue is String, for slog.
func (m *Migrator) LogValue() slog.Value { return slog.StringValue(m.String()) }
