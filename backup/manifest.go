package backup

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// Kind is the kind of a backup.
type Kind string

const (
	// KindLogical is a pg_dump archive (custom format) and/or a SurrealDB
	// export: portable across versions, restored with pg_restore.
	KindLogical Kind = "logical"
	// KindBase is a physical pg_basebackup of the whole cluster: the base
	// of point-in-time recovery with the archived WAL.
	KindBase Kind = "base"
	// KindIncremental is the WAL archived since its parent (a base or an
	// earlier incremental backup).
	KindIncremental Kind = "incremental"
)

// Store names in Manifest.Stores and Artifact.Store.
const (
	StorePostgres = "postgres"
	StoreSurreal  = "surrealdb"
)

// ManifestVersion is the format version of manifests written by this code.
const ManifestVersion = 1

// Manifest describes one backup. It is stored as backups/<id>/manifest.json.
type Manifest struct {
	FormatVersion int    `json:"format_version"`
	ID            string `json:"id"`
	Kind          Kind   `json:"kind"`
	// Parent is the backup an incremental backup continues.
	Parent string `json:"parent,omitempty"`
	// StartedAt and FinishedAt bound the backup; a logical backup is a
	// consistent snapshot taken at StartedAt, a base backup is consistent
	// from FinishedAt on, an incremental covers [parent's end, FinishedAt].
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
	Stores     []string   `json:"stores"`
	Artifacts  []Artifact `json:"artifacts"`
	// MigrationVersion is the newest applied migration of the database
	// (atlas_schema_revisions) or, when it has none, the newest version of
	// the code's atlas.sum.
	MigrationVersion string `json:"migration_version,omitempty"`
	// Tools are the versions of the programs involved (pg_dump, server,
	// surrealdb, datalayer).
	Tools map[string]string `json:"tools"`
	// Compression and Encryption of the artifacts ("zstd"/"none";
	// "age-x25519", "age-scrypt" or "none").
	Compression string `json:"compression"`
	Encryption  string `json:"encryption"`
	// Postgres describes the PostgreSQL part.
	Postgres *PostgresInfo `json:"postgres,omitempty"`
	// Surreal describes the SurrealDB part.
	Surreal *SurrealInfo `json:"surrealdb,omitempty"`
}

// PostgresInfo is the PostgreSQL part of a manifest.
type PostgresInfo struct {
	Database      string `json:"database,omitempty"`
	ServerVersion string `json:"server_version,omitempty"`
	// Encoding, Collate and Ctype of the source database (logical
	// backups): the restored database is created with them.
	Encoding string `json:"encoding,omitempty"`
	Collate  string `json:"collate,omitempty"`
	Ctype    string `json:"ctype,omitempty"`
	// Tables are row counts and content checksums at backup time
	// (logical backups, unless disabled).
	Tables []TableStat `json:"tables,omitempty"`
	// Physical backups: the WAL range and timeline.
	StartLSN     string `json:"start_lsn,omitempty"`
	StopLSN      string `json:"stop_lsn,omitempty"`
	StartSegment string `json:"start_segment,omitempty"`
	StopSegment  string `json:"stop_segment,omitempty"`
	Timeline     int    `json:"timeline,omitempty"`
	// Settings are the source's settings a recovering cluster must not go
	// below (max_connections, max_worker_processes, ...): physical
	// backups only; RestoreToTime writes them into the new cluster.
	Settings map[string]string `json:"settings,omitempty"`
}

// SurrealInfo is the SurrealDB part of a manifest.
type SurrealInfo struct {
	Namespace string `json:"namespace"`
	Database  string `json:"database"`
	Version   string `json:"version,omitempty"`
}

// TableStat is one table's row count and content checksum: the sum of the
// first 64 bits of the md5 of every row's text form, so it does not depend
// on row order.
type TableStat struct {
	Table    string `json:"table"` // schema.name
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// Artifact is one stored object of a backup.
type Artifact struct {
	Name  string `json:"name"`
	Store string `json:"store"`
	// Key is the object's key in the bucket.
	Key string `json:"key"`
	// Size and SHA256 are of the stored (compressed, encrypted) bytes.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// RawSize and RawSHA256 are of the plain bytes.
	RawSize   int64  `json:"raw_size"`
	RawSHA256 string `json:"raw_sha256"`
}

// Size is the total stored size of the artifacts.
func (m *Manifest) Size() int64 {
	var n int64
	for _, a := range m.Artifacts {
		n += a.Size
	}
	return n
}

// RawSize is the total plain size of the artifacts.
func (m *Manifest) RawSize() int64 {
	var n int64
	for _, a := range m.Artifacts {
		n += a.RawSize
	}
	return n
}

// HasStore reports whether the backup holds store s.
func (m *Manifest) HasStore(s string) bool {
	for _, x := range m.Stores {
		if x == s {
			return true
		}
	}
	return false
}

// newID returns a sortable id: UTC time to the millisecond plus 4 random
// hex characters, e.g. 20261201T032000.123Z-a1b2.
func newID(t time.Time) string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	ts := t.UTC().Format("20060102T150405.000Z")
	return strings.Replace(ts, ".", "", 1) + "-" + hex.EncodeToString(b)
}
