package migrate

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"ariga.io/atlas/schemahcl"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// ErrEnvNotFound reports an env name missing from the project file.
var ErrEnvNotFound = errors.New("migrate: env not defined in project file")

// Project is the part of an Atlas project file (atlas.hcl) this package
// understands, resolved for one env. The supported subset:
//
//	env "NAME" {
//	  src = "file://schema"          // one directory of *.sql (string or one-element list)
//	  url = getenv("DATABASE_URL")   // target database for apply/status
//	  dev = getenv("DEV_URL")        // dev server; empty: start a throwaway one
//	  migration {
//	    dir              = "file://migrations"
//	    baseline         = "20250101000000"
//	    lock_timeout     = "1m"
//	    revisions_schema = "atlas_schema_revisions"
//	  }
//	  lint { ... }                   // overrides the top-level lint block
//	  diff { ... }                   // overrides the top-level diff block
//	}
//	diff {
//	  zero_downtime = true           // default: concurrent indexes, NOT VALID + VALIDATE, USING INDEX
//	  lock_timeout  = "5s"           // set in generated files that lock existing tables
//	}
//	lint {
//	  latest = 1                     // default file selection
//	  git { base = "origin/main" }   // or: files changed since a ref
//	  destructive   { error = true } // per analyzer: error = true fails the run, false warns
//	  data_depend   { error = false }
//	  incompatible  { error = false }
//	  condrop       { error = false }
//	  zero_downtime { error = true }
//	  rename        { error = true }
//	  skip = ["PG105"]               // per code: ignore, warn or fail
//	  warn = []
//	  fail = []
//	}
//
// Expressions may use the Atlas HCL standard library and getenv(name).
// Variables, data sources, docker:// URLs and HCL schemas are not supported.
type Project struct {
	Env             string
	URL             string
	DevURL          string
	SchemaDir       string
	Dir             string
	Baseline        string
	LockTimeout     time.Duration
	RevisionsSchema string
	Lint            LintPolicy
	LintLatest      int
	LintGitBase     string
	// Diff is the policy for generated files (zero value: zero downtime).
	Diff DiffPolicy
}

type (
	projectSpec struct {
		Envs []*envSpec `spec:"env"`
		Lint *lintSpec  `spec:"lint"`
		Diff *diffSpec  `spec:"diff"`
	}
	diffSpec struct {
		schemahcl.DefaultExtension
	}
	envSpec struct {
		Name      string         `spec:"name,name"`
		URL       string         `spec:"url"`
		Dev       string         `spec:"dev"`
		Migration *migrationSpec `spec:"migration"`
		Lint      *lintSpec      `spec:"lint"`
		Diff      *diffSpec      `spec:"diff"`
		schemahcl.DefaultExtension
	}
	migrationSpec struct {
		Dir             string `spec:"dir"`
		Baseline        string `spec:"baseline"`
		LockTimeout     string `spec:"lock_timeout"`
		RevisionsSchema string `spec:"revisions_schema"`
	}
	lintSpec struct {
		Latest int `spec:"latest"`
		Git    struct {
			Base string `spec:"base"`
		} `spec:"git"`
		schemahcl.DefaultExtension
	}
)

// LoadProject evaluates the project file at path and resolves env. getenv
// backs the getenv() HCL function (pass os.Getenv from main; nil yields "").
// A missing file yields a Project with only Env set.
func LoadProject(path, env string, getenv func(string) string) (*Project, error) {
	p := &Project{Env: env}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	state := schemahcl.New(schemahcl.WithFunctions(map[string]function.Function{
		"getenv": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "key", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal(getenv(args[0].AsString())), nil
			},
		}),
	}))
	var spec projectSpec
	if err := state.EvalFiles([]string{path}, &spec, nil); err != nil {
		return nil, fmt.Errorf("migrate: load %s: %w", path, err)
	}
	if spec.Lint != nil {
		if err := applyLintSpec(p, spec.Lint); err != nil {
			return nil, err
		}
	}
	if err := applyDiffSpec(p, spec.Diff); err != nil {
		return nil, err
	}
	var e *envSpec
	for _, x := range spec.Envs {
		if x.Name == env {
			e = x
		}
	}
	if e == nil {
		if env == "" {
			return p, nil
		}
		return nil, fmt.Errorf("%w: %q in %s", ErrEnvNotFound, env, path)
	}
	var err error
	p.URL = e.URL
	if p.DevURL, err = dbURL(e.Dev); err != nil {
		return nil, err
	}
	if attr, ok := e.Extra.Attr("src"); ok {
		srcs, err := attr.Strings()
		if err != nil {
			s, err2 := attr.String()
			if err2 != nil {
				return nil, fmt.Errorf("migrate: env %q: src must be a string or a list of one string", env)
			}
			srcs = []string{s}
		}
		if len(srcs) != 1 {
			return nil, fmt.Errorf("migrate: env %q: src must name exactly one directory of *.sql", env)
		}
		if p.SchemaDir, err = fileURL(srcs[0]); err != nil {
			return nil, err
		}
	}
	if mg := e.Migration; mg != nil {
		if p.Dir, err = fileURL(mg.Dir); err != nil {
			return nil, err
		}
		p.Baseline, p.RevisionsSchema = mg.Baseline, mg.RevisionsSchema
		if mg.LockTimeout != "" {
			if p.LockTimeout, err = time.ParseDuration(mg.LockTimeout); err != nil {
				return nil, fmt.Errorf("migrate: env %q: lock_timeout: %w", env, err)
			}
		}
	}
	if e.Lint != nil {
		if err := applyLintSpec(p, e.Lint); err != nil {
			return nil, err
		}
	}
	if err := applyDiffSpec(p, e.Diff); err != nil {
		return nil, err
	}
	return p, nil
}

func applyDiffSpec(p *Project, d *diffSpec) error {
	if d == nil {
		return nil
	}
	if a, ok := d.Extra.Attr("zero_downtime"); ok {
		b, err := a.Bool()
		if err != nil {
			return fmt.Errorf("migrate: diff.zero_downtime: %w", err)
		}
		p.Diff.Unsafe = !b
	}
	if a, ok := d.Extra.Attr("lock_timeout"); ok {
		v, err := a.String()
		if err != nil {
			return fmt.Errorf("migrate: diff.lock_timeout: %w", err)
		}
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("migrate: diff.lock_timeout %q: want a duration such as \"5s\": %w", v, err)
		}
		p.Diff.LockTimeout = v
	}
	return nil
}

func applyLintSpec(p *Project, l *lintSpec) error {
	if l.Latest != 0 {
		p.LintLatest = l.Latest
	}
	if l.Git.Base != "" {
		p.LintGitBase = l.Git.Base
	}
	if p.Lint.Analyzers == nil {
		p.Lint = LintPolicy{Analyzers: map[string]Severity{}, Codes: map[string]Severity{}}
	}
	for _, r := range l.Extra.Children {
		if a, ok := r.Attr("error"); ok {
			b, err := a.Bool()
			if err != nil {
				return fmt.Errorf("migrate: lint.%s.error: %w", r.Type, err)
			}
			p.Lint.Analyzers[r.Type] = SeverityWarning
			if b {
				p.Lint.Analyzers[r.Type] = SeverityError
			}
		}
	}
	for key, sev := range map[string]Severity{"skip": SeverityIgnore, "warn": SeverityWarning, "fail": SeverityError} {
		if a, ok := l.Extra.Attr(key); ok {
			codes, err := a.Strings()
			if err != nil {
				return fmt.Errorf("migrate: lint.%s: %w", key, err)
			}
			for _, c := range codes {
				p.Lint.Codes[c] = sev
			}
		}
	}
	return nil
}

func fileURL(s string) (string, error) {
	switch {
	case s == "":
		return "", nil
	case strings.HasPrefix(s, "file://"):
		return strings.TrimPrefix(s, "file://"), nil
	case strings.Contains(s, "://"):
		return "", fmt.Errorf("migrate: unsupported location %q: only file:// (or a plain path)", s)
	}
	return s, nil
}

func dbURL(s string) (string, error) {
	if strings.HasPrefix(s, "docker://") {
		return "", fmt.Errorf("migrate: docker:// dev URLs are not supported: leave dev empty to start a throwaway server")
	}
	return s, nil
}

// Config returns a Config with the project's settings over base.
func (p *Project) Config(base Config) Config {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&base.DevURL, p.DevURL)
	set(&base.SchemaDir, p.SchemaDir)
	set(&base.Dir, p.Dir)
	set(&base.RevisionsSchema, p.RevisionsSchema)
	if p.LockTimeout > 0 {
		base.LockTimeout = p.LockTimeout
	}
	if p.Lint.Analyzers != nil {
		base.Lint = p.Lint
	}
	if p.Diff != (DiffPolicy{}) {
		base.Diff = p.Diff
	}
	return base
}
