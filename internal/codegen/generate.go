package codegen

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// generatedPrefix names every file this generator writes, so a rerun can
// ignore and replace them and nobody mistakes them for sqlc's.
const generatedPrefix = "repo_"

// dbImportPath is the package holding the error translation the
// repositories use; our own db package refers to it unqualified.
const pgImportPath = "github.com/agentical/datalayer/postgres"

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"join":  strings.Join,
	"quote": func(s string) string { return fmt.Sprintf("%q", s) },
	"quoteAll": func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = fmt.Sprintf("%q", s)
		}
		return strings.Join(q, ", ")
	},
	"ints": func(is []int) string {
		q := make([]string, len(is))
		for i, n := range is {
			q[i] = fmt.Sprint(n)
		}
		return strings.Join(q, ", ")
	},
	"dur": goDuration,
}).ParseFS(templateFS, "templates/*.tmpl"))

// goDuration renders d as a readable Go expression, e.g. 5 * time.Minute.
func goDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}} {
		if d != 0 && d%u.d == 0 {
			return fmt.Sprintf("%d * time.%s", d/u.d, u.name)
		}
	}
	return fmt.Sprintf("%d", int64(d))
}

// Options configures a run.
type Options struct {
	// SqlcConfig is the path of sqlc.yaml (version 2).
	SqlcConfig string
	// ModuleRoot is used to print source positions relative to it. Default:
	// the directory of SqlcConfig.
	ModuleRoot string
	// Version is written into the generated header.
	Version string
}

// File is one generated file.
type File struct {
	Path    string
	Content []byte
}

// Generate reads the sqlc configuration, the queries, the schema and the
// sqlc output, and returns the repository files. Problems in the inputs are
// reported together, each as "file:line: message".
func Generate(opts Options) ([]File, error) {
	if opts.ModuleRoot == "" {
		opts.ModuleRoot = filepath.Dir(opts.SqlcConfig)
	}
	pkgs, err := readSqlcConfig(opts.SqlcConfig)
	if err != nil {
		return nil, err
	}
	var files []File
	var errs []error
	for _, p := range pkgs {
		fs, err := generatePackage(opts, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, fs...)
	}
	return files, errors.Join(errs...)
}

// Write writes files, replacing previous outputs of this generator in the
// same directories. Each file is written to a temporary name and renamed, so
// an interrupted run leaves the old file or the new one, never half of one.
func Write(files []File) error {
	dirs := map[string]bool{}
	keep := map[string]bool{}
	for _, f := range files {
		dirs[filepath.Dir(f.Path)] = true
		keep[f.Path] = true
	}
	for _, f := range files {
		tmp := f.Path + ".tmp"
		if err := os.WriteFile(tmp, f.Content, 0o644); err != nil {
			return fmt.Errorf("codegen: %w", err)
		}
		if err := os.Rename(tmp, f.Path); err != nil {
			return fmt.Errorf("codegen: %w", err)
		}
	}
	for d := range dirs {
		old, _ := filepath.Glob(filepath.Join(d, generatedPrefix+"*.gen.go"))
		for _, o := range old {
			if !keep[o] {
				if err := os.Remove(o); err != nil {
					return fmt.Errorf("codegen: remove stale %s: %w", o, err)
				}
			}
		}
	}
	return nil
}

type pkgModel struct {
	Package       string
	Version       string
	Sources       []string
	SchemaVersion string
	DBQual        string // qualifier of the postgres runtime package
	Imports       []string
	Methods       []*method
}

func generatePackage(opts Options, p sqlcPackage) ([]File, error) {
	rel := func(path string) string {
		if r, err := filepath.Rel(opts.ModuleRoot, path); err == nil {
			return filepath.ToSlash(r)
		}
		return path
	}
	gp, err := readGoPackage(p.Out)
	if err != nil {
		return nil, err
	}
	schemaFiles, err := sqlFiles(p.Schema)
	if err != nil {
		return nil, err
	}
	queryFiles, err := sqlFiles(p.Queries)
	if err != nil {
		return nil, err
	}

	// The schema version is a hash of the schema as sqlc saw it: any change
	// of shape changes every cache key, so old-shaped values are never
	// decoded into new types.
	h := sha256.New()
	schemaSrc := map[string][]byte{}
	for _, f := range schemaFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
		schemaSrc[rel(f)] = b
	}
	schema, err := sqlinfo.LoadSchema(schemaSrc)
	if err != nil {
		return nil, err
	}

	var errs sqlinfo.ErrorList
	queries := map[string]sqlinfo.Query{}
	var sources []string
	for _, f := range queryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		sources = append(sources, rel(f))
		qs, err := sqlinfo.ParseQueryFile(rel(f), b)
		if err != nil {
			var l sqlinfo.ErrorList
			if !errors.As(err, &l) {
				return nil, err
			}
			errs = append(errs, l...)
		}
		for _, q := range qs {
			queries[q.Name] = q
		}
	}

	m := &pkgModel{
		Package:       gp.Name,
		Version:       opts.Version,
		Sources:       append(sources, rel(p.Schema[0])),
		SchemaVersion: hex.EncodeToString(h.Sum(nil))[:16],
	}
	m.DBQual = "dlpg."
	imports := map[string]bool{`"context"`: true, `"time"`: true, `"github.com/agentical/datalayer/repo"`: true}
	imports["dlpg "+fmt.Sprintf("%q", pgImportPath)] = true
	for _, gm := range gp.Methods {
		q, ok := queries[gm.Name]
		if !ok {
			errs = append(errs, &sqlinfo.Error{File: rel(p.Out), Msg: fmt.Sprintf("Querier.%s has no query in %s; rerun sqlc", gm.Name, strings.Join(sources, ", "))})
			continue
		}
		meth, merrs := buildMethod(gp, gm, q, schema)
		errs = append(errs, merrs...)
		if meth == nil {
			continue
		}
		for _, t := range append(slices.Clone(meth.Results), paramTypes(gm)...) {
			for _, pk := range packagesIn(t) {
				if path, ok := gp.Imports[pk]; ok {
					imports[importSpec(pk, path)] = true
				}
			}
		}
		if meth.Batch {
			imports[importSpec("pgx", "github.com/jackc/pgx/v5")] = true
		}
		m.Methods = append(m.Methods, meth)
	}
	linkKeys(m.Methods)
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b *sqlinfo.Error) int {
			if c := strings.Compare(a.File, b.File); c != 0 {
				return c
			}
			return a.Line - b.Line
		})
		return nil, errs
	}
	imports[importSpec("pgx", "github.com/jackc/pgx/v5")] = true
	for imp := range imports {
		m.Imports = append(m.Imports, imp)
	}
	slices.Sort(m.Imports)

	var out []File
	for _, t := range []struct{ tmpl, name string }{
		{"repository.go.tmpl", generatedPrefix + "repository.gen.go"},
	} {
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, t.tmpl, m); err != nil {
			return nil, fmt.Errorf("codegen: template %s: %w", t.tmpl, err)
		}
		src, err := format.Source(b.Bytes())
		if err != nil {
			return nil, fmt.Errorf("codegen: generated %s does not parse: %w\n%s", t.name, err, numbered(b.Bytes()))
		}
		out = append(out, File{Path: filepath.Join(p.Out, t.name), Content: src})
	}
	copies, err := generateCopy(gp, opts.Version, m.Methods, p.Out)
	if err != nil {
		return nil, err
	}
	return append(out, copies...), nil
}

func importSpec(name, path string) string {
	if strings.HasSuffix(path, "/"+name) || path == name {
		return fmt.Sprintf("%q", path)
	}
	return fmt.Sprintf("%s %q", name, path)
}

func paramTypes(gm goMethod) []string {
	var out []string
	for _, p := range gm.Params {
		out = append(out, p.Type)
	}
	return out
}

func numbered(src []byte) string {
	var b strings.Builder
	for i, l := range strings.Split(string(src), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}
