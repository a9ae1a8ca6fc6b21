package codegen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// goPackage is what the generator needs from an sqlc output package, read
// from its source with go/parser: the generated repository lives in the
// same package, so type expressions can be copied as written and no type
// checking (or loading of dependencies) is needed.
type goPackage struct {
	Dir     string
	Name    string
	Methods []goMethod // exported methods of *Queries that take ctx first, by name
	// HasQuerier: sqlc emitted the Querier interface (emit_interface).
	HasQuerier bool
	Structs    map[string][]goField // struct types by name, fields in order
	SQL        map[string]string    // query name -> SQL text sqlc emitted ($n params)
	Imports    map[string]string    // package name used in code -> import path
	Decls      map[string]bool      // package-level identifiers (consts, vars, types, funcs)
}

type goMethod struct {
	Name    string
	DBArg   bool      // takes db DBTX after ctx (emit_methods_with_db_argument)
	Params  []goField // after ctx (and db)
	Results []string  // type expressions
	Doc     []string
}

type goField struct {
	Name string
	Type string
}

// readGoPackage parses dir, skipping files this generator wrote (prefix
// generatedPrefix) and tests.
func readGoPackage(dir string, dbArgument bool) (*goPackage, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("codegen: read sqlc package: %w", err)
	}
	p := &goPackage{Dir: dir, Structs: map[string][]goField{}, SQL: map[string]string{}, Imports: map[string]string{}, Decls: map[string]bool{}}
	unnamed := map[string]bool{} // import paths without an explicit name
	var queryDecls []*ast.FuncDecl
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || strings.HasPrefix(n, generatedPrefix) {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		if p.Name == "" {
			p.Name = f.Name.Name
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if imp.Name != nil {
				p.Imports[imp.Name.Name] = path
			} else {
				unnamed[path] = true
			}
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				if fd.Recv == nil {
					p.Decls[fd.Name.Name] = true
				}
				if isQueriesMethod(fd) {
					queryDecls = append(queryDecls, fd)
				}
				continue
			}
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					p.Decls[s.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range s.Names {
						p.Decls[n.Name] = true
					}
				}
				switch s := s.(type) {
				case *ast.TypeSpec:
					switch t := s.Type.(type) {
					case *ast.InterfaceType:
						if s.Name.Name == "Querier" {
							p.HasQuerier = true
						}
					case *ast.StructType:
						var fields []goField
						for _, fl := range t.Fields.List {
							for _, nm := range fl.Names {
								fields = append(fields, goField{nm.Name, exprString(fset, fl.Type)})
							}
						}
						p.Structs[s.Name.Name] = fields
					}
				case *ast.ValueSpec:
					if gd.Tok != token.CONST || len(s.Values) != 1 {
						continue
					}
					lit, ok := s.Values[0].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					text, err := strconv.Unquote(lit.Value)
					if err != nil || !strings.HasPrefix(text, "-- name: ") {
						continue
					}
					if f := strings.Fields(strings.TrimPrefix(text, "-- name: ")); len(f) > 0 {
						p.SQL[f[0]] = text
					}
				}
			}
		}
	}
	if p.Name == "" {
		return nil, fmt.Errorf("codegen: %s: no Go files; run sqlc generate first", dir)
	}
	names, err := packageNames(dir, unnamed)
	if err != nil {
		return nil, err
	}
	for path, name := range names {
		if _, taken := p.Imports[name]; !taken {
			p.Imports[name] = path
		}
	}
	for _, fd := range queryDecls {
		gm := goMethod{Name: fd.Name.Name}
		if fd.Doc != nil {
			for _, c := range fd.Doc.List {
				gm.Doc = append(gm.Doc, c.Text)
			}
		}
		params := fd.Type.Params.List
		for i, fl := range params {
			typ := exprString(fset, fl.Type)
			names := fl.Names
			if i == 0 {
				if len(names) > 1 {
					// (ctx, db DBTX) never happens in sqlc output, but be safe.
					return nil, fmt.Errorf("codegen: %s: Queries.%s: unexpected parameter list", dir, gm.Name)
				}
				continue // ctx context.Context, checked by isQueriesMethod
			}
			if i == 1 && dbArgument {
				if typ != "DBTX" {
					return nil, fmt.Errorf("codegen: %s: Queries.%s: second parameter is %s, want DBTX (emit_methods_with_db_argument)", dir, gm.Name, typ)
				}
				gm.DBArg = true
				continue
			}
			for _, nm := range names {
				gm.Params = append(gm.Params, goField{nm.Name, typ})
			}
		}
		if fd.Type.Results != nil {
			for _, fl := range fd.Type.Results.List {
				n := max(1, len(fl.Names))
				for range n {
					gm.Results = append(gm.Results, exprString(fset, fl.Type))
				}
			}
		}
		p.Methods = append(p.Methods, gm)
	}
	slices.SortStableFunc(p.Methods, func(a, b goMethod) int { return strings.Compare(a.Name, b.Name) })
	return p, nil
}

// isQueriesMethod reports whether fd is an exported method of *Queries
// whose first parameter is ctx context.Context: a query method (WithTx and
// the like are not).
func isQueriesMethod(fd *ast.FuncDecl) bool {
	if fd.Recv == nil || len(fd.Recv.List) != 1 || !fd.Name.IsExported() {
		return false
	}
	st, ok := fd.Recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	if id, ok := st.X.(*ast.Ident); !ok || id.Name != "Queries" {
		return false
	}
	ps := fd.Type.Params.List
	if len(ps) == 0 {
		return false
	}
	sel, ok := ps[0].Type.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Context" {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == "context"
}

// packageNames returns the package name of every import path: the
// conventional name (last element, without a /vN suffix) when it is a Go
// identifier, and otherwise the name the go command reads from the
// package's source (a path ending in pgvector-go names package pgvector).
func packageNames(dir string, paths map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	var ask []string
	for path := range paths {
		elems := strings.Split(path, "/")
		last := elems[len(elems)-1]
		if v := strings.TrimPrefix(last, "v"); v != last && isDigits(v) && len(elems) > 1 {
			last = elems[len(elems)-2] // ".../pgx/v5" is package pgx
		}
		if token.IsIdentifier(last) && !strings.HasPrefix(path, "gopkg.in/") {
			out[path] = last
			continue
		}
		ask = append(ask, path)
	}
	if len(ask) == 0 {
		return out, nil
	}
	slices.Sort(ask)
	cmd := exec.Command("go", append([]string{"list", "-find", "-e", "-f", "{{.ImportPath}} {{.Name}}"}, ask...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("codegen: %s: go list %s: %v\n%s", dir, strings.Join(ask, " "), err, stderr.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		path, name, ok := strings.Cut(l, " ")
		if ok && name != "" {
			out[path] = name
		}
	}
	for _, path := range ask {
		if _, ok := out[path]; !ok {
			return nil, fmt.Errorf("codegen: %s: cannot find the package name of import %q (go list found no package; run go mod tidy)", dir, path)
		}
	}
	return out, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func exprString(fset *token.FileSet, e ast.Expr) string {
	var b bytes.Buffer
	_ = printer.Fprint(&b, fset, e)
	return b.String()
}

// packagesIn returns the package qualifiers a type expression uses.
func packagesIn(typ string) []string {
	var out []string
	e, err := parser.ParseExpr(typ)
	if err != nil {
		return nil
	}
	ast.Inspect(e, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok {
				out = append(out, id.Name)
			}
		}
		return true
	})
	return out
}
