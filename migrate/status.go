package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
)

// File states reported by Status.
const (
	StateApplied  = "applied"
	StateBaseline = "baseline"
	StatePending  = "pending"
	StateFailed   = "failed"  // last attempt failed; nothing (txmode file) or part (txmode none) applied
	StateDrifted  = "drifted" // applied, but the file changed since
	StateSkipped  = "skipped" // before the baseline
	StateUnknown  = "unknown" // revision without a file
)

// Status describes a database against the migration directory.
type Status struct {
	// Current is the last applied version, "" when none.
	Current string `json:"current"`
	// Checksum is "" when atlas.sum matches, else the problem.
	Checksum string         `json:"checksum,omitempty"`
	Files    []FileStatus   `json:"files"`
	Counts   map[string]int `json:"counts"`
}

// FileStatus is one file (or orphan revision) in Status.
type FileStatus struct {
	Name       string     `json:"name"`
	Version    string     `json:"version"`
	State      string     `json:"state"`
	Applied    int        `json:"applied_stmts"`
	Total      int        `json:"total_stmts"`
	ExecutedAt *time.Time `json:"executed_at,omitempty"`
	Error      string     `json:"error,omitempty"`
	ErrorStmt  string     `json:"error_stmt,omitempty"`
}

// OK reports whether nothing is pending, failed, drifted or unknown and
// atlas.sum matches.
func (s *Status) OK() bool {
	return s.Checksum == "" && s.Counts[StatePending]+s.Counts[StateFailed]+s.Counts[StateDrifted]+s.Counts[StateUnknown] == 0
}

// Status compares the revisions in db with the migration directory.
func (m *Migrator) Status(ctx context.Context, db *sql.DB) (*Status, error) {
	d, err := m.localDir(false)
	if err != nil {
		return nil, err
	}
	return m.StatusDir(ctx, db, d)
}

// StatusDir is Status for any directory (e.g. embedded with FSDir).
func (m *Migrator) StatusDir(ctx context.Context, db *sql.DB, dir amigrate.Dir) (*Status, error) {
	st := &Status{Counts: map[string]int{}}
	if err := validate(dir); err != nil {
		st.Checksum = err.Error()
	}
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	hashes, err := currentHashes(dir)
	if err != nil {
		return nil, err
	}
	var revs []*amigrate.Revision
	if ok, err := revisionsExist(ctx, db, m.cfg.RevisionsSchema); err != nil {
		return nil, err
	} else if ok {
		if revs, err = (&revisions{conn: db, schema: m.cfg.RevisionsSchema}).ReadRevisions(ctx); err != nil {
			return nil, err
		}
	}
	byVersion := map[string]*amigrate.Revision{}
	baseline := ""
	for _, r := range revs {
		byVersion[r.Version] = r
		if r.Type == amigrate.RevisionTypeBaseline {
			baseline = r.Version
		}
	}
	seen := map[string]bool{}
	for _, f := range files {
		fs := FileStatus{Name: f.Name(), Version: f.Version(), State: StatePending}
		stmts, _ := scanStmts(f)
		fs.Total = len(stmts)
		if r, ok := byVersion[f.Version()]; ok {
			seen[f.Version()] = true
			at := r.ExecutedAt
			fs.ExecutedAt, fs.Applied, fs.Total, fs.Error, fs.ErrorStmt = &at, r.Applied, r.Total, r.Error, r.ErrorStmt
			switch {
			case r.Type == amigrate.RevisionTypeBaseline:
				fs.State = StateBaseline
			case r.Error != "" || r.Applied < r.Total:
				fs.State = StateFailed
			case r.Hash != "" && r.Hash != hashes[f.Version()]:
				fs.State = StateDrifted
			default:
				fs.State = StateApplied
			}
			if fs.State == StateApplied || fs.State == StateBaseline || fs.State == StateDrifted {
				st.Current = f.Version()
			}
		} else if baseline != "" && f.Version() < baseline {
			fs.State = StateSkipped
		}
		st.Files = append(st.Files, fs)
	}
	for _, r := range revs {
		if !seen[r.Version] {
			at := r.ExecutedAt
			st.Files = append(st.Files, FileStatus{Name: r.Version + "_" + r.Description + ".sql", Version: r.Version, State: StateUnknown, ExecutedAt: &at})
		}
	}
	for _, f := range st.Files {
		st.Counts[f.State]++
	}
	return st, nil
}

// WriteText writes a human-readable status.
func (s *Status) WriteText(w io.Writer) error {
	var b strings.Builder
	cur := s.Current
	if cur == "" {
		cur = "none"
	}
	fmt.Fprintf(&b, "Current version: %s\n", cur)
	if s.Checksum != "" {
		fmt.Fprintf(&b, "Checksum: %s\n", s.Checksum)
	}
	for _, st := range []string{StateApplied, StateBaseline, StateSkipped, StatePending, StateFailed, StateDrifted, StateUnknown} {
		if n := s.Counts[st]; n > 0 {
			fmt.Fprintf(&b, "%-9s %d\n", st+":", n)
		}
	}
	for _, f := range s.Files {
		fmt.Fprintf(&b, "  %-9s %s", f.State, f.Name)
		if f.State == StateFailed {
			fmt.Fprintf(&b, " (%d/%d statements)", f.Applied, f.Total)
		}
		b.WriteByte('\n')
		if f.Error != "" {
			fmt.Fprintf(&b, "            error: %s\n", f.Error)
		}
		if f.ErrorStmt != "" {
			fmt.Fprintf(&b, "            statement: %s\n", f.ErrorStmt)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
