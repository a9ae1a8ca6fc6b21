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
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// queryNameRE finds sqlc query names, for telling a query whose SQL was
// refused from one that is missing.
var queryNameRE = regexp.MustCompile(`(?m)^\s*(?:--|/\*)\s*name:\s*(\S+)`)

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

// goDuration renders d as a readable Go expression, e.g. 5 * time.Minute,
// with timeQual the qualifier of package time ("time.").
func goDuration(timeQual string, d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"}, {time.Millisecond, "Millisecond"}} {
		if d != 0 && d%u.d == 0 {
			return fmt.Sprintf("%d * %s%s", d/u.d, timeQual, u.name)
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
	// Note, when set, receives one message per sqlc entry the generator
	// skips (another engine, another driver): sqlc still generates those
	// packages, without a repository. Default: discard.
	Note func(msg string)
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
	pkgs, skipped, err := readSqlcConfig(opts.SqlcConfig)
	if err != nil {
		return nil, err
	}
	if opts.Note != nil {
		for _, s := range skipped {
			opts.Note("skipped " + s)
		}
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
	BuildTags     string
	Sources       []string
	SchemaVersion string
	DBQual        string // qualifier of the postgres runtime package, with its dot
	Repo          string // qualifier of the repo package, with its dot
	Time          string // qualifier of the time package, with its dot
	True          string // Go's true, even where a query named True hides it
	Imports       []string
	Methods       []*method
	// Querier: sqlc emitted the Querier interface with the signatures the
	// Repository has, so the file asserts that Repository satisfies it.
	Querier bool
	// DBArgument: emit_methods_with_db_argument; New takes no argument and
	// every Queries method takes the connection after ctx.
	DBArgument bool
}

// reservedMethods are the Repository's own methods: a query of the same
// name cannot be wrapped.
var reservedMethods = []string{"Runtime", "WithTx", "InTx"}

// qualifier returns a name for an import that no package-level identifier of
// the sqlc package hides (a query named Repo declares a constant repo).
func qualifier(gp *goPackage, want, alt string) string {
	if gp.Decls[want] {
		return alt
	}
	return want
}

func generatePackage(opts Options, p sqlcPackage) ([]File, error) {
	rel := func(path string) string {
		if r, err := filepath.Rel(opts.ModuleRoot, path); err == nil {
			return filepath.ToSlash(r)
		}
		return path
	}
	gp, err := readGoPackage(p.Out, p.DBArgument)
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
	var schemaSrc []sqlinfo.SourceFile
	for _, f := range schemaFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
		schemaSrc = append(schemaSrc, sqlinfo.SourceFile{Name: rel(f), Src: b})
	}
	schema, err := sqlinfo.LoadSchemaFiles(schemaSrc)
	if err != nil {
		return nil, err
	}

	var errs sqlinfo.ErrorList
	queries := map[string]sqlinfo.Query{}
	var sources []string
	declared := map[string]bool{} // query names in the files, parsed or not
	for _, f := range queryFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		sources = append(sources, rel(f))
		for _, m := range queryNameRE.FindAllSubmatch(b, -1) {
			declared[string(m[1])] = true
		}
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
		BuildTags:     p.BuildTags,
		Sources:       append(sources, rel(p.Schema[0])),
		SchemaVersion: hex.EncodeToString(h.Sum(nil))[:16],
		Querier:       gp.HasQuerier && !p.DBArgument,
		DBArgument:    p.DBArgument,
	}
	dlpg := qualifier(gp, "dlpg", "dlpostgres")
	repoName := qualifier(gp, "repo", "dlrepo")
	timeName := qualifier(gp, "time", "stdtime")
	m.DBQual, m.Repo, m.Time = dlpg+".", repoName+".", timeName+"."
	m.True = "true"
	if gp.Decls["true"] {
		m.True = "(0 == 0)" // sqlc's constant for a query named True hides true
	}
	if gp.Decls["int"] {
		return nil, &sqlinfo.Error{File: rel(p.Out), Msg: fmt.Sprintf("package %s declares int (sqlc's constant for a query named Int), which hides Go's int that the repository needs: rename the query", gp.Name)}
	}
	imports := map[string]bool{`"context"`: true}
	imports[importSpec(repoName, "github.com/agentical/datalayer/repo")] = true
	imports[importSpec(dlpg, pgImportPath)] = true
	needTime := false
	for _, gm := range gp.Methods {
		q, ok := queries[gm.Name]
		if !ok && declared[gm.Name] {
			continue // its own error is reported already
		}
		if !ok {
			errs = append(errs, &sqlinfo.Error{File: rel(p.Out), Msg: fmt.Sprintf("Queries.%s has no query in %s; rerun sqlc generate", gm.Name, strings.Join(sources, ", "))})
			continue
		}
		if slices.Contains(reservedMethods, gm.Name) {
			errs = append(errs, &sqlinfo.Error{File: q.File, Line: q.Line, Msg: fmt.Sprintf("query %s has the name of Repository's own method %s; rename the query", q.Name, gm.Name)})
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
		if meth.Cache != nil || meth.Timeout != 0 {
			needTime = true
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
	if needTime {
		imports[importSpec(timeName, "time")] = true
	}
	for imp := range imports {
		m.Imports = append(m.Imports, imp)
	}
	slices.Sort(m.Imports)

	// The copy functions first: the method descriptors name them.
	copies, err := generateCopy(gp, opts.Version, m.Methods, p.Out)
	if err != nil {
		return nil, err
	}
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
