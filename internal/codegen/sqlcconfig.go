package codegen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// sqlcPackage is one entry of an sqlc configuration that this generator can
// wrap: engine postgresql, Go output with sql_package pgx/v5.
type sqlcPackage struct {
	Schema  []string // files, directories or glob patterns, absolute
	Queries []string // files, directories or glob patterns, absolute
	Out     string   // absolute output directory of the Go package
	Package string
	// DBArgument: emit_methods_with_db_argument, so New takes no argument
	// and every method takes the connection after ctx.
	DBArgument bool
	// BuildTags is sqlc's build_tags, copied onto the generated file.
	BuildTags string
}

// goOptions are the Go generator options this generator looks at; sqlc
// spells them the same in version 1 (per package) and 2 (gen.go).
type goOptions struct {
	Package        string `yaml:"package" json:"package"`
	Out            string `yaml:"out" json:"out"`
	SQLPackage     string `yaml:"sql_package" json:"sql_package"`
	EmitDBArgument bool   `yaml:"emit_methods_with_db_argument" json:"emit_methods_with_db_argument"`
	BuildTags      string `yaml:"build_tags" json:"build_tags"`
	EmitInterface  bool   `yaml:"emit_interface" json:"emit_interface"`
}

type sqlcFile struct {
	Version string `yaml:"version" json:"version"`
	// Version 2.
	SQL []struct {
		Engine  string    `yaml:"engine" json:"engine"`
		Schema  stringish `yaml:"schema" json:"schema"`
		Queries stringish `yaml:"queries" json:"queries"`
		Gen     struct {
			Go *goOptions `yaml:"go" json:"go"`
		} `yaml:"gen" json:"gen"`
	} `yaml:"sql" json:"sql"`
	// Version 1.
	Packages []struct {
		goOptions `yaml:",inline"`
		Name      string    `yaml:"name" json:"name"`
		Path      string    `yaml:"path" json:"path"`
		Engine    string    `yaml:"engine" json:"engine"`
		Schema    stringish `yaml:"schema" json:"schema"`
		Queries   stringish `yaml:"queries" json:"queries"`
	} `yaml:"packages" json:"packages"`
}

// stringish accepts sqlc's "a string or a list of strings".
type stringish []string

func (s *stringish) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = []string{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

func (s *stringish) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*s = l
	return nil
}

// sqlcEntry is one sql[] (version 2) or packages[] (version 1) entry in a
// common form.
type sqlcEntry struct {
	where   string // "sqlc.yaml: sql[1]"
	engine  string
	schema  []string
	queries []string
	out     string
	pkg     string
	goOpts  *goOptions
}

// readSqlcConfig returns the packages of an sqlc configuration (version 1
// or 2, YAML or JSON) the generator wraps, and one note per entry it skips
// (another engine, another driver, no Go output): sqlc generates those as
// before, without a repository.
func readSqlcConfig(path string) ([]sqlcPackage, []string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("codegen: %w", err)
	}
	var f sqlcFile
	if strings.HasSuffix(path, ".json") {
		err = json.Unmarshal(src, &f)
	} else {
		err = yaml.Unmarshal(src, &f)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("codegen: %s: %w", path, err)
	}
	var entries []sqlcEntry
	switch f.Version {
	case "1":
		for i, p := range f.Packages {
			engine := p.Engine
			if engine == "" {
				engine = "postgresql" // sqlc's default in version 1
			}
			g := p.goOptions
			entries = append(entries, sqlcEntry{
				where: fmt.Sprintf("packages[%d]", i), engine: engine,
				schema: p.Schema, queries: p.Queries, out: p.Path, pkg: p.Name, goOpts: &g,
			})
		}
	case "2":
		for i, s := range f.SQL {
			e := sqlcEntry{where: fmt.Sprintf("sql[%d]", i), engine: s.Engine, schema: s.Schema, queries: s.Queries, goOpts: s.Gen.Go}
			if s.Gen.Go != nil {
				e.out, e.pkg = s.Gen.Go.Out, s.Gen.Go.Package
			}
			entries = append(entries, e)
		}
	default:
		return nil, nil, fmt.Errorf("codegen: %s: version %q not supported, want \"1\" or \"2\"", path, f.Version)
	}

	base := filepath.Dir(path)
	abs := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = filepath.Join(base, p)
		}
		return out
	}
	var pkgs []sqlcPackage
	var skipped []string
	name := filepath.Base(path)
	for _, e := range entries {
		g := e.goOpts
		sqlPkg := ""
		if g != nil {
			sqlPkg = g.SQLPackage
		}
		switch {
		case g == nil:
			skipped = append(skipped, fmt.Sprintf("%s: %s: no Go output (gen.go)", name, e.where))
			continue
		case e.engine != "postgresql":
			skipped = append(skipped, fmt.Sprintf("%s: %s: engine %s (only postgresql is wrapped)", name, e.where, e.engine))
			continue
		case sqlPkg != "pgx/v5":
			if sqlPkg == "" {
				sqlPkg = "database/sql (the default)"
			}
			skipped = append(skipped, fmt.Sprintf("%s: %s: sql_package %s (only pgx/v5 is wrapped)", name, e.where, sqlPkg))
			continue
		case len(e.queries) == 0 || len(e.schema) == 0 || e.out == "":
			return nil, nil, fmt.Errorf("codegen: %s: %s: schema, queries and the output directory are required", path, e.where)
		}
		pkgs = append(pkgs, sqlcPackage{
			Schema: abs(e.schema), Queries: abs(e.queries), Out: filepath.Join(base, e.out), Package: e.pkg,
			DBArgument: g.EmitDBArgument, BuildTags: g.BuildTags,
		})
	}
	if len(pkgs) == 0 {
		return nil, skipped, fmt.Errorf("codegen: %s: no entry with engine postgresql and sql_package pgx/v5 to wrap (%s)", path, strings.Join(skipped, "; "))
	}
	return pkgs, skipped, nil
}

// sqlFiles expands files, directories and glob patterns into *.sql files
// the way sqlc does: paths in the order given, a directory's files in name
// order, hidden files and golang-migrate down migrations (*.down.sql)
// left out.
func sqlFiles(paths []string) ([]string, error) {
	var expanded []string
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[]") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("codegen: %s: %w", p, err)
			}
			expanded = append(expanded, m...)
			continue
		}
		expanded = append(expanded, p)
	}
	var files []string
	for _, p := range expanded {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		if !st.IsDir() {
			files = append(files, filepath.Clean(p))
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		for _, e := range ents {
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	var out []string
	for _, f := range files {
		b := filepath.Base(f)
		if !strings.HasSuffix(b, ".sql") || strings.HasPrefix(b, ".") || strings.HasSuffix(b, ".down.sql") {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}
