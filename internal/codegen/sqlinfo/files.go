package sqlinfo

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
)

// ReadSQLFiles reads every *.sql file directly in dir of fsys (for example
// os.DirFS(moduleRoot) and "schema"), keyed by its path joined to dir, ready
// for LoadSchema or ParseQueryFiles. A directory without .sql files is an
// error: a generator run on the wrong directory should not succeed quietly.
func ReadSQLFiles(fsys fs.FS, dir string) (map[string][]byte, error) {
	matches, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("sqlinfo: %w", err)
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("sqlinfo: no .sql files in %s", dir)
	}
	out := make(map[string][]byte, len(matches))
	for _, m := range matches {
		b, err := fs.ReadFile(fsys, m)
		if err != nil {
			return nil, fmt.Errorf("sqlinfo: %w", err)
		}
		out[m] = b
	}
	return out, nil
}

// ParseQueryFiles parses several query files in name order, collecting every
// error, and rejects a query name defined in two files (sqlc's generated
// methods would collide).
func ParseQueryFiles(files map[string][]byte) ([]Query, error) {
	var ec errs
	names := keysOf(files)
	var all []Query
	where := map[string]string{}
	for _, n := range names {
		qs, err := ParseQueryFile(n, files[n])
		ec.merge(err)
		for _, q := range qs {
			if prev, dup := where[q.Name]; dup && prev != n {
				ec.add(n, q.Line, "query %s already defined in %s", q.Name, prev)
				continue
			}
			where[q.Name] = n
			all = append(all, q)
		}
	}
	slices.SortStableFunc(all, func(a, b Query) int {
		if a.File != b.File {
			if a.File < b.File {
				return -1
			}
			return 1
		}
		return a.Line - b.Line
	})
	return all, ec.err()
}
