package migrate

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"ariga.io/atlas/schemahcl"
	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	_ "ariga.io/atlas/sql/postgres/postgrescheck" // registers the library's PostgreSQL analyzers
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	"ariga.io/atlas/sql/sqlclient"
)

// Severity of a lint finding under the policy.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityIgnore  Severity = "ignore"
)

// Analyzer names, as used in the lint policy (atlas.hcl lint blocks).
const (
	AnalyzerDestructive  = "destructive"   // DS1xx (library)
	AnalyzerDataDepend   = "data_depend"   // MF1xx (library)
	AnalyzerIncompatible = "incompatible"  // BC1xx (library)
	AnalyzerConDrop      = "condrop"       // CD101 (library)
	AnalyzerZeroDowntime = "zero_downtime" // DL1xx (this package)
	AnalyzerRename       = "rename"        // RN101 (this package)
	analyzerExec         = "exec"          // LT100: the file does not run on the dev database
)

// LintPolicy decides the severity of findings. Codes wins over Analyzers;
// names missing from both take DefaultSeverities.
type LintPolicy struct {
	Analyzers map[string]Severity
	Codes     map[string]Severity
}

// DefaultSeverities is the policy for analyzers the config does not mention.
var defaultSeverities = map[string]Severity{
	AnalyzerDestructive:  SeverityError,
	AnalyzerDataDepend:   SeverityWarning,
	AnalyzerIncompatible: SeverityWarning,
	AnalyzerConDrop:      SeverityWarning,
	AnalyzerZeroDowntime: SeverityError,
	AnalyzerTypes:        SeverityWarning,
	AnalyzerData:         SeverityError,
	AnalyzerRename:       SeverityError,
	analyzerExec:         SeverityError,
}

// DefaultSeverity returns the built-in severity of an analyzer.
func DefaultSeverity(analyzer string) Severity {
	if s, ok := defaultSeverities[analyzer]; ok {
		return s
	}
	return SeverityWarning
}

func (p LintPolicy) severity(analyzer, code string) Severity {
	if s, ok := p.Codes[code]; ok {
		return s
	}
	if s, ok := p.Analyzers[analyzer]; ok {
		return s
	}
	return DefaultSeverity(analyzer)
}

// LintOptions select the files to lint. With neither set, the latest file is linted.
type LintOptions struct {
	// GitBase lints the files added or changed since this git ref
	// (committed, staged, unstaged or untracked).
	GitBase string
	// Latest lints the latest N files.
	Latest int
	// Against is a real database (production or a copy) on which the
	// data-dependent risks of the linted files are checked (DL3xx: values
	// too long, NULLs, casts that fail, duplicates, rows violating a new
	// CHECK or FOREIGN KEY), read-only, and whose table sizes are added to
	// lock findings. Nil skips these checks.
	Against *sql.DB
}

// LintReport is the result of Lint.
type LintReport struct {
	Files    []LintFile `json:"files"`
	Errors   int        `json:"errors"`
	Warnings int        `json:"warnings"`
}

// LintFile holds the findings of one file.
type LintFile struct {
	Name     string    `json:"name"`
	Findings []Finding `json:"findings"`
}

// Finding is one lint diagnostic.
type Finding struct {
	File     string   `json:"file"`
	Code     string   `json:"code"`
	Analyzer string   `json:"analyzer"`
	Severity Severity `json:"severity"`
	Line     int      `json:"line"`
	Text     string   `json:"text"`
	Stmt     string   `json:"stmt,omitempty"`
	Fix      string   `json:"fix,omitempty"`
}

// Failed reports whether any finding has error severity.
func (r *LintReport) Failed() bool { return r.Errors > 0 }

// Lint replays the directory up to the files under review on a dev database,
// executes those files statement by statement, and runs the library's
// analyzers plus the PostgreSQL zero-downtime and rename checks on the
// changes. It returns ErrLintFailed (with the report) when the policy
// marks a finding as an error.
func (m *Migrator) Lint(ctx context.Context, opts LintOptions) (*LintReport, error) {
	d, err := m.localDir(false)
	if err != nil {
		return nil, err
	}
	if err := validate(d); err != nil {
		return nil, err
	}
	files, err := d.Files()
	if err != nil {
		return nil, err
	}
	targets, err := m.lintTargets(files, opts)
	if err != nil {
		return nil, err
	}
	report := &LintReport{Files: []LintFile{}}
	if len(targets) == 0 {
		return report, nil
	}
	dbs, err := m.acquireDev(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer m.releaseDev(ctx, dbs...)
	db := dbs[0]
	first := len(files)
	for i, f := range files {
		if targets[f.Name()] {
			first = i
			break
		}
	}
	for _, f := range files[:first] {
		if err := execStmts(ctx, db.drv, f, m.cfg.Dir); err != nil {
			return nil, fmt.Errorf("migrate: lint: replay: %w", err)
		}
	}
	for _, f := range files[first:] {
		if !targets[f.Name()] {
			if err := execStmts(ctx, db.drv, f, m.cfg.Dir); err != nil {
				return nil, fmt.Errorf("migrate: lint: replay: %w", err)
			}
			continue
		}
		lf, err := m.lintFile(ctx, db, f, opts.Against)
		if err != nil {
			return nil, err
		}
		report.Files = append(report.Files, *lf)
		if len(lf.Findings) > 0 && lf.Findings[len(lf.Findings)-1].Code == codeExec {
			break // later files depend on this one
		}
	}
	for _, f := range report.Files {
		for _, x := range f.Findings {
			switch x.Severity {
			case SeverityError:
				report.Errors++
			case SeverityWarning:
				report.Warnings++
			}
		}
	}
	if report.Failed() {
		return report, fmt.Errorf("%w: %d error(s)", ErrLintFailed, report.Errors)
	}
	return report, nil
}

// lintTargets returns the names of the files to lint.
func (m *Migrator) lintTargets(files []amigrate.File, opts LintOptions) (map[string]bool, error) {
	out := map[string]bool{}
	switch {
	case opts.GitBase != "":
		changed, err := gitChanged(m.cfg.Dir, opts.GitBase)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if changed[f.Name()] {
				out[f.Name()] = true
			}
		}
	default:
		n := opts.Latest
		if n <= 0 {
			n = 1
		}
		for i := max(0, len(files)-n); i < len(files); i++ {
			out[files[i].Name()] = true
		}
	}
	return out, nil
}

// gitChanged lists files of dir added or modified since ref, including
// uncommitted and untracked ones.
func gitChanged(dir, ref string) (map[string]bool, error) {
	out := map[string]bool{}
	run := func(args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("migrate: git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); strings.HasSuffix(l, ".sql") {
				out[filepath.Base(l)] = true
			}
		}
		return nil
	}
	if err := run("diff", "--name-only", "--diff-filter=AMR", ref, "--", "."); err != nil {
		return nil, err
	}
	if err := run("ls-files", "--others", "--exclude-standard", "--", "."); err != nil {
		return nil, err
	}
	return out, nil
}

const codeExec = "LT100"

// lintFile executes f on db statement by statement, recording the schema
// changes each statement makes, and runs all analyzers.
func (m *Migrator) lintFile(ctx context.Context, db *devDB, f amigrate.File, against *sql.DB) (*LintFile, error) {
	lf := &LintFile{Name: f.Name(), Findings: []Finding{}}
	stmts, err := scanStmts(f)
	if err != nil {
		return nil, fmt.Errorf("migrate: scan %s: %w", f.Name(), err)
	}
	from, err := db.drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: lint: inspect: %w", err)
	}
	prev := from
	var changes []*sqlcheck.Change
	for _, s := range stmts {
		if _, err := db.drv.ExecContext(ctx, s.Text); err != nil {
			lf.Findings = append(lf.Findings, m.finding(f, analyzerExec, codeExec, s.Pos,
				fmt.Sprintf("statement fails on an empty dev database: %v", err), s.Text, ""))
			return lf, nil
		}
		if !mayChangeSchema(s.Text) {
			continue
		}
		cur, err := db.drv.InspectSchema(ctx, "", nil)
		if err != nil {
			return nil, fmt.Errorf("migrate: lint: inspect: %w", err)
		}
		diff, err := db.drv.SchemaDiff(prev, cur)
		if err != nil {
			return nil, fmt.Errorf("migrate: lint: diff: %w", err)
		}
		changes = append(changes, &sqlcheck.Change{Stmt: s, Changes: diff})
		prev = cur
	}
	parsed := parseStmts(stmts)
	renames := detectRenames(changes, parsed)
	sum, err := db.drv.SchemaDiff(from, prev)
	if err != nil {
		return nil, fmt.Errorf("migrate: lint: diff: %w", err)
	}
	file := &sqlcheck.File{File: f, Changes: changes, Sum: sum, From: schema.NewRealm(from), To: schema.NewRealm(prev)}
	azs, err := sqlcheck.AnalyzerFor("postgres", libraryAnalyzerConfig())
	if err != nil {
		return nil, fmt.Errorf("migrate: lint: analyzers: %w", err)
	}
	dev := &sqlclient.Client{Name: "postgres", DB: db.db, Driver: db.drv}
	for _, az := range azs {
		name := "library"
		if n, ok := az.(sqlcheck.NamedAnalyzer); ok {
			name = n.Name()
		}
		pass := &sqlcheck.Pass{File: file, Dev: dev, Reporter: sqlcheck.ReportWriterFunc(func(r sqlcheck.Report) {
			for _, d := range r.Diagnostics {
				fix := ""
				for _, s := range append(d.SuggestedFixes, r.SuggestedFixes...) {
					if s.Message != "" {
						fix = s.Message
						break
					}
				}
				lf.Findings = append(lf.Findings, m.finding(f, name, d.Code, d.Pos, d.Text, stmtAt(stmts, d.Pos), fix))
			}
		})}
		if err := az.Analyze(ctx, pass); err != nil {
			return nil, fmt.Errorf("migrate: lint: %s: %w", name, err)
		}
	}
	for _, r := range renames {
		lf.Findings = append(lf.Findings, m.finding(f, AnalyzerRename, CodeRename, r.pos,
			fmt.Sprintf("Column %q of table %q is dropped and %q is added with the same type %s: a rename written as drop + add loses the data", r.from, r.table, r.to, r.typ),
			stmtAt(stmts, r.pos), fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", quoteIdent(r.table), quoteIdent(r.from), quoteIdent(r.to))))
	}
	pgf := pgRules(file, parsed, txMode(f) == "none", nil)
	if against != nil {
		pgf = append(pgf, dataChecks(ctx, against, parsed)...)
		sizes := map[string]string{}
		for i, x := range pgf {
			if x.table == "" || x.analyzer != AnalyzerZeroDowntime {
				continue
			}
			if _, ok := sizes[x.table]; !ok {
				sizes[x.table] = tableSize(ctx, against, x.table)
			}
			if sz := sizes[x.table]; sz != "" {
				pgf[i].text += " (" + sz + ")"
			}
		}
	}
	for _, x := range pgf {
		lf.Findings = append(lf.Findings, m.finding(f, x.analyzer, x.code, x.pos, x.text, stmtAt(stmts, x.pos), x.fix))
	}
	kept := lf.Findings[:0]
	for _, x := range lf.Findings {
		if x.Severity != SeverityIgnore {
			kept = append(kept, x)
		}
	}
	lf.Findings = kept
	sort.SliceStable(lf.Findings, func(i, j int) bool { return lf.Findings[i].Line < lf.Findings[j].Line })
	return lf, nil
}

func (m *Migrator) finding(f amigrate.File, analyzer, code string, pos int, text, stmt, fix string) Finding {
	return Finding{
		File: filepath.Join(m.cfg.Dir, f.Name()), Code: code, Analyzer: analyzer, Severity: m.cfg.Lint.severity(analyzer, code),
		Line: lineOf(f.Bytes(), pos), Text: text, Stmt: strings.TrimSpace(stmt), Fix: fix,
	}
}

// libraryAnalyzerConfig turns off the library analyzers' own "fail on
// finding" switch: the policy decides severity instead.
func libraryAnalyzerConfig() *schemahcl.Resource {
	r := &schemahcl.Resource{Type: "lint"}
	for _, n := range []string{AnalyzerDestructive, AnalyzerDataDepend, AnalyzerIncompatible, AnalyzerConDrop} {
		r.Children = append(r.Children, &schemahcl.Resource{Type: n, Attrs: []*schemahcl.Attr{schemahcl.BoolAttr("error", false)}})
	}
	return r
}

// mayChangeSchema skips the inspection after statements that cannot change the schema.
func mayChangeSchema(stmt string) bool {
	w := strings.ToUpper(firstWord(stmt))
	switch w {
	case "SET", "RESET", "INSERT", "UPDATE", "DELETE", "SELECT", "ANALYZE", "VACUUM", "BEGIN", "COMMIT", "NOTIFY":
		return false
	}
	return true
}

func firstWord(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == ';' || r == '(' }); i >= 0 {
		return s[:i]
	}
	return s
}

func stmtAt(stmts []*amigrate.Stmt, pos int) string {
	for _, s := range stmts {
		if s.Pos == pos {
			return s.Text
		}
	}
	return ""
}

func lineOf(b []byte, pos int) int {
	if pos < 0 || pos > len(b) {
		return 0
	}
	return bytes.Count(b[:pos], []byte("\n")) + 1
}

// scanStmts splits a file with the PostgreSQL statement scanner (dollar
// quotes, BEGIN ATOMIC) without needing a connection.
func scanStmts(f amigrate.File) ([]*amigrate.Stmt, error) {
	return (*postgres.Driver)(nil).ScanStmts(string(f.Bytes()))
}
