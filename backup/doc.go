// Package backup makes, stores, verifies, restores and prunes backups of a
// datalayer service's stores: PostgreSQL (logical pg_dump archives, and
// physical pg_basebackup base backups plus archived WAL for point-in-time
// recovery) and SurrealDB (export/import over its HTTP endpoints).
//
// Every backup has one manifest (manifest.json) beside its artifacts in a
// gocloud.dev/blob bucket (file://, s3://, gs://): id, kind, parent, time
// range, stores, artifacts with sizes and SHA-256, the migration version and
// the tool versions. The manifest is written last, so a backup without one
// is incomplete and never listed. Artifacts are compressed (zstd) and,
// when configured, encrypted with age (X25519 recipients or a passphrase).
//
// Restores never leave a half-restored database: every artifact is
// downloaded and checked (SHA-256 of the stored and of the plain bytes)
// before anything is touched, a PostgreSQL restore goes into a new database
// that replaces the target only once pg_restore succeeded, and a SurrealDB
// restore is first imported into a scratch database. A backup whose
// migration version is newer than the code's is refused unless forced.
//
// Retention (keep N daily, M weekly, K monthly; never the parent of a kept
// incremental) is applied by Prune; a Scheduler makes backups in a running
// service, one instance of many at a time under a PostgreSQL advisory lock.
//
// Layout in the bucket:
//
//	backups/<id>/manifest.json   the manifest (plain JSON, no secrets)
//	backups/<id>/<artifact>      postgres.dump.zst[.age], base.tar.zst[.age], surrealdb.surql.zst[.age]
//	wal/<segment>.zst[.age]      archived WAL (PushWAL, from archive_command)
//	wal/<segment>.json           its artifact record (written last)
package backup
