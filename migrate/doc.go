// Package migrate implements versioned schema migrations for PostgreSQL on
// the Atlas Go library (ariga.io/atlas): diff, apply, status, lint and hash
// over a migration directory whose files, atlas.sum and revisions table are
// byte-compatible with the Atlas CLI, plus Auto for services that apply
// embedded migrations at startup.
//
// The desired state is plain SQL (schema/*.sql, applied in name order) loaded
// into a throwaway dev database; the current state is the migration directory
// replayed on a second one. Objects the Atlas library does not inspect (views,
// functions, triggers, domains, composite types, extensions, standalone
// sequences, partitions) make Diff fail naming them: they belong in
// hand-written migration files, which every other operation handles like
// generated ones.
//
// Diff resolves renames (confirmed by DiffOptions, "-- migrate:rename"
// comments or a prompt, never a silent drop + add), adds USING casts, puts
// creates before drops, shapes the files under the zero-downtime DiffPolicy
// (concurrent index file, NOT VALID + later VALIDATE, UNIQUE USING INDEX,
// SET LOCAL lock_timeout) and replays them after the directory before
// writing. Lint adds squawk-level PostgreSQL checks (DL codes) and, with
// LintOptions.Against, data checks on a real database.
//
// What the Atlas library leaves to callers is implemented here: the revisions
// table (atlas_schema_revisions.atlas_schema_revisions), one transaction per
// file honouring "-- atlas:txmode none", failed-file bookkeeping outside the
// aborted transaction, detection of applied files edited after the fact, the
// lint replay loader, PostgreSQL zero-downtime checks and rename detection.
package migrate
