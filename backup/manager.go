package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// Manager makes, lists, verifies, restores and prunes backups in one
// bucket. Its methods are safe for concurrent use, but two restores of the
// same target must not run at once.
type Manager struct {
	cfg    Config
	bucket *blob.Bucket
	owned  bool
	codec  *codec
}

// New opens the configured storage and checks the configuration.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	return NewWithBucket(ctx, cfg, nil)
}

// NewWithBucket is New with an already opened bucket (nil: open
// cfg.URL). The Manager does not close a bucket it was given.
func NewWithBucket(ctx context.Context, cfg Config, b *blob.Bucket) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newCodec(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, codec: c, bucket: b}
	if b == nil {
		if m.bucket, err = openBucket(ctx, cfg.URL); err != nil {
			return nil, err
		}
		m.owned = true
	}
	return m, nil
}

// Config returns the configuration with defaults filled in.
func (m *Manager) Config() Config { return m.cfg }

// Close closes the bucket if the Manager opened it.
func (m *Manager) Close() error {
	if m.owned {
		return m.bucket.Close()
	}
	return nil
}

// CreateOptions selects what Create backs up.
type CreateOptions struct {
	// Kind is KindLogical (default), KindBase or KindIncremental.
	Kind Kind
	// Stores limits a logical backup to these stores; default all
	// configured ones.
	Stores []string
}

// Create makes a backup and returns its manifest, which is written last:
// a failed backup leaves no manifest (its partial artifacts are deleted).
func (m *Manager) Create(ctx context.Context, opts CreateOptions) (*Manifest, error) {
	switch opts.Kind {
	case "", KindLogical:
		return m.createLogical(ctx, opts.Stores)
	case KindBase:
		return m.createBase(ctx)
	case KindIncremental:
		return m.createIncremental(ctx)
	}
	return nil, fmt.Errorf("backup: unknown kind %q: want logical, base or incremental", opts.Kind)
}

func (m *Manager) newManifest(kind Kind) *Manifest {
	now := time.Now().UTC()
	return &Manifest{
		FormatVersion: ManifestVersion,
		ID:            newID(now),
		Kind:          kind,
		StartedAt:     now,
		Tools:         map[string]string{"datalayer": moduleVersion()},
		Compression:   m.codec.compression,
		Encryption:    m.codec.encryption,
	}
}

// finish writes the manifest, or deletes the artifacts after a failure.
func (m *Manager) finish(ctx context.Context, man *Manifest, err error) (*Manifest, error) {
	if err == nil {
		man.FinishedAt = time.Now().UTC()
		err = m.writeManifest(ctx, man)
	}
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, a := range man.Artifacts {
			if strings.HasPrefix(a.Key, backupsPrefix) {
				_ = m.bucket.Delete(dctx, a.Key)
			}
		}
		return nil, err
	}
	m.cfg.Logger.Info("backup created", "id", man.ID, "kind", man.Kind, "bytes", man.Size())
	return man, nil
}

func (m *Manager) createLogical(ctx context.Context, stores []string) (*Manifest, error) {
	want := func(s string) bool { return len(stores) == 0 || slices.Contains(stores, s) }
	for _, s := range stores {
		if s != StorePostgres && s != StoreSurreal {
			return nil, fmt.Errorf("backup: unknown store %q: want %s or %s", s, StorePostgres, StoreSurreal)
		}
	}
	doPG := want(StorePostgres) && m.cfg.PostgresURL != ""
	doSur := want(StoreSurreal) && m.cfg.SurrealURL != ""
	if !doPG && !doSur {
		return nil, fmt.Errorf("%w: nothing to back up: set DATABASE_URL and/or SURREALDB_URL", ErrConfig)
	}
	man := m.newManifest(KindLogical)
	var err error
	if doPG {
		err = m.dumpPostgres(ctx, man)
	}
	if err == nil && doSur {
		err = m.exportSurreal(ctx, man)
	}
	if err == nil && man.MigrationVersion == "" {
		man.MigrationVersion, err = m.codeMigrationVersion()
	}
	return m.finish(ctx, man, err)
}

// List returns the complete backups, oldest first.
func (m *Manager) List(ctx context.Context) ([]*Manifest, error) {
	objs, err := m.listKeys(ctx, backupsPrefix)
	if err != nil {
		return nil, err
	}
	var out []*Manifest
	for _, o := range objs {
		rest, ok := strings.CutPrefix(o.Key, backupsPrefix)
		if !ok {
			continue
		}
		id, file, ok := strings.Cut(rest, "/")
		if !ok || file != manifestName {
			continue
		}
		man, err := m.readManifest(ctx, id)
		if errors.Is(err, ErrCorrupt) {
			// One unreadable manifest must not stop listing (and pruning)
			// the others; that backup is never pruned either.
			m.cfg.Logger.Warn("backup: skipping unreadable manifest", "id", id, "err", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, man)
	}
	slices.SortFunc(out, func(a, b *Manifest) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Show returns the manifest of backup id; "latest" (or "") is the newest.
func (m *Manager) Show(ctx context.Context, id string) (*Manifest, error) {
	if id == "" || id == "latest" {
		all, err := m.List(ctx)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("%w: the store holds no backup", ErrNotFound)
		}
		return all[len(all)-1], nil
	}
	return m.readManifest(ctx, id)
}

// codeMigrationVersion is the newest version in Config.Migrations'
// atlas.sum, or "" without one.
func (m *Manager) codeMigrationVersion() (string, error) {
	if m.cfg.Migrations == nil {
		return "", nil
	}
	return MigrationVersion(m.cfg.Migrations)
}

// MigrationVersion returns the newest migration version listed in
// dir/atlas.sum ("" when dir has no atlas.sum).
func MigrationVersion(dir fs.FS) (string, error) {
	f, err := dir.Open("atlas.sum")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("backup: read atlas.sum: %w", err)
	}
	defer f.Close()
	var newest string
	s := bufio.NewScanner(f)
	for line := 1; s.Scan(); line++ {
		text := strings.TrimSpace(s.Text())
		if line == 1 || text == "" {
			continue // the first line is the directory's hash
		}
		name, _, _ := strings.Cut(text, " ")
		v, _, _ := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		if compareVersions(v, newest) > 0 {
			newest = v
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("backup: read atlas.sum: %w", err)
	}
	return newest, nil
}

// compareVersions orders migration versions: numerically when both are
// digits (shorter is smaller), else as strings.
func compareVersions(a, b string) int {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel+" + s.Value[:12]
			}
		}
		return "devel " + bi.GoVersion
	}
	return v + " " + bi.GoVersion
}

// tempDir makes a scratch directory for downloads.
func (m *Manager) tempDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "datalayer-backup-")
	if err != nil {
		return "", nil, fmt.Errorf("backup: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
