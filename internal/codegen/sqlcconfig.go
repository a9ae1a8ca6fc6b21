package codegen

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
)

// sqlcPackage is one sql[] entry of an sqlc.yaml (version 2) that this
// generator can wrap: engine postgresql, Go output with sql_package pgx/v5.
type sqlcPackage struct {
	Schema  []string // files or directories, absolute
	Queries []string // files or directories, absolute
	Out     string   // absolute output directory of the Go package
	Package string
}

type sqlcFile struct {
	Version string `yaml:"version"`
	SQL     []struct {
		Engine  string    `yaml:"engine"`
		Schema  stringish `yaml:"schema"`
		Queries stringish `yaml:"queries"`
		Gen     struct {
			Go *struct {
				Package       string `yaml:"package"`
				Out           string `yaml:"out"`
				SQLPackage    string `yaml:"sql_package"`
				EmitInterface bool   `yaml:"emit_interface"`
			} `yaml:"go"`
		} `yaml:"gen"`
	} `yaml:"sql"`
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

// readSqlcConfig returns the packages of an sqlc.yaml the generator wraps.
// Entries for other engines or drivers are errors, not silently skipped:
// a repository that quietly lost its cache would be worse.
func readSqlcConfig(path string) ([]sqlcPackage, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("codegen: %w", err)
	}
	var f sqlcFile
	if err := yaml.Unmarshal(src, &f); err != nil {
		return nil, fmt.Errorf("codegen: %s: %w", path, err)
	}
	if f.Version != "2" {
		return nil, fmt.Errorf("codegen: %s: version %q not supported, want \"2\"", path, f.Version)
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
	for i, s := range f.SQL {
		g := s.Gen.Go
		if g == nil {
			continue // not a Go target
		}
		where := fmt.Sprintf("%s: sql[%d]", path, i)
		switch {
		case s.Engine != "postgresql":
			return nil, fmt.Errorf("codegen: %s: engine %q not supported, want postgresql", where, s.Engine)
		case g.SQLPackage != "pgx/v5":
			return nil, fmt.Errorf("codegen: %s: sql_package %q not supported, want pgx/v5", where, g.SQLPackage)
		case !g.EmitInterface:
			return nil, fmt.Errorf("codegen: %s: emit_interface must be true (the repository implements Querier)", where)
		case len(s.Queries) == 0 || len(s.Schema) == 0 || g.Out == "":
			return nil, fmt.Errorf("codegen: %s: schema, queries and gen.go.out are required", where)
		}
		pkgs = append(pkgs, sqlcPackage{Schema: abs(s.Schema), Queries: abs(s.Queries), Out: filepath.Join(base, g.Out), Package: g.Package})
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("codegen: %s: no Go package to wrap", path)
	}
	return pkgs, nil
}

// sqlFiles expands files and directories into a sorted list of *.sql files.
func sqlFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.sql"))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	slices.Sort(out)
	return out, nil
}
