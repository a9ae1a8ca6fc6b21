package schema

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentical/datalayer/surreal"
)

//go:embed *.surql
var files embed.FS

// ErrChanged is returned when a file that was already applied has changed.
var ErrChanged = errors.New("schema: applied file changed")

// File is one versioned schema file.
type File struct {
	Version  int
	Name     string // file name, e.g. 001_agentical.surql
	Checksum string // hex sha256 of the content
	SQL      string
}

// Version is a row of schema_version: a file applied to the database.
type Version struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Checksum  string    `json:"checksum"`
	AppliedAt time.Time `json:"applied_at"`
}

var fileName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.surql$`)

// Files returns the embedded schema files in version order.
func Files() ([]File, error) { return load(files) }

func load(fsys fs.FS) ([]File, error) {
	names, err := fs.Glob(fsys, "*.surql")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var out []File
	seen := map[int]string{}
	for _, n := range names {
		m := fileName.FindStringSubmatch(path.Base(n))
		if m == nil {
			return nil, fmt.Errorf("schema: %s: name must be <version>_<name>.surql", n)
		}
		v, _ := strconv.Atoi(m[1])
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("schema: version %d used by %s and %s", v, prev, n)
		}
		seen[v] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		sql := string(b)
		// Apply wraps each file in its own transaction.
		for _, line := range strings.Split(strings.ToUpper(sql), "\n") {
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "BEGIN") || strings.HasPrefix(t, "COMMIT") || strings.HasPrefix(t, "CANCEL") {
				return nil, fmt.Errorf("schema: %s: must not contain BEGIN/COMMIT/CANCEL", n)
			}
		}
		sum := sha256.Sum256(b)
		out = append(out, File{Version: v, Name: path.Base(n), Checksum: hex.EncodeToString(sum[:]), SQL: sql})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

const versionTable = `
DEFINE TABLE IF NOT EXISTS schema_version SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS version ON schema_version TYPE int;
DEFINE FIELD IF NOT EXISTS name ON schema_version TYPE string;
DEFINE FIELD IF NOT EXISTS checksum ON schema_version TYPE string;
DEFINE FIELD IF NOT EXISTS applied_at ON schema_version TYPE datetime DEFAULT time::now();
`

// Applied returns the versions recorded in the database, in order.
func Applied(ctx context.Context, s *surreal.Store) ([]Version, error) {
	if _, err := surreal.QueryRaw(ctx, s, versionTable, nil); err != nil {
		return nil, fmt.Errorf("schema: version table: %w", err)
	}
	vs, err := surreal.Query[[]Version](ctx, s, "SELECT version, name, checksum, applied_at FROM schema_version ORDER BY version", nil)
	if err != nil {
		return nil, fmt.Errorf("schema: read versions: %w", err)
	}
	return vs, nil
}

// Apply applies the embedded schema files that are not yet recorded, each in
// its own transaction together with its schema_version record. It returns
// the versions it applied (none when the database is up to date). A recorded
// file whose checksum differs fails with ErrChanged.
func Apply(ctx context.Context, s *surreal.Store) ([]int, error) {
	fs, err := Files()
	if err != nil {
		return nil, err
	}
	return apply(ctx, s, fs)
}

func apply(ctx context.Context, s *surreal.Store, fs []File) ([]int, error) {
	done, err := Applied(ctx, s)
	if err != nil {
		return nil, err
	}
	byVersion := map[int]Version{}
	for _, v := range done {
		byVersion[v.Version] = v
	}
	var applied []int
	for _, f := range fs {
		if v, ok := byVersion[f.Version]; ok {
			if v.Checksum != f.Checksum {
				return applied, fmt.Errorf("%w: %s (recorded %s as %.12s, now %.12s)", ErrChanged, f.Name, v.Name, v.Checksum, f.Checksum)
			}
			continue
		}
		q := "BEGIN TRANSACTION;\n" + f.SQL + "\n;CREATE $rid CONTENT { version: $version, name: $name, checksum: $checksum };\nCOMMIT TRANSACTION;"
		_, err := surreal.QueryRaw(ctx, s, q, map[string]any{"rid": surreal.Record("schema_version", f.Version), "version": f.Version, "name": f.Name, "checksum": f.Checksum})
		if err != nil {
			if errors.Is(err, surreal.ErrConflict) {
				// Another process applied it at the same time: verify it.
				if err := recheck(ctx, s, f); err != nil {
					return applied, err
				}
				continue
			}
			return applied, fmt.Errorf("schema: apply %s: %w", f.Name, err)
		}
		applied = append(applied, f.Version)
	}
	return applied, nil
}

func recheck(ctx context.Context, s *surreal.Store, f File) error {
	done, err := Applied(ctx, s)
	if err != nil {
		return err
	}
	for _, v := range done {
		if v.Version == f.Version {
			if v.Checksum != f.Checksum {
				return fmt.Errorf("%w: %s", ErrChanged, f.Name)
			}
			return nil
		}
	}
	return fmt.Errorf("schema: apply %s: conflict but version not recorded", f.Name)
}
