package codegen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
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
	Methods []goMethod           // Querier methods in interface order
	Structs map[string][]goField // struct types by name, fields in order
	SQL     map[string]string    // query name -> SQL text sqlc emitted ($n params)
	Imports map[string]string    // package name used in code -> import path
}

type goMethod struct {
	Name    string
	Params  []goField // after ctx
	Results []string  // type expressions
	Doc     []string
}

type goField struct {
	Name string
	Type string
}

// readGoPackage parses dir, skipping files this generator wrote (prefix
// generatedPrefix) and tests.
func readGoPackage(dir string) (*goPackage, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("codegen: read sqlc package: %w", err)
	}
	p := &goPackage{Dir: dir, Structs: map[string][]goField{}, SQL: map[string]string{}, Imports: map[string]string{}}
	var querier *ast.InterfaceType
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
			name := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			} else if v := strings.TrimPrefix(name, "v"); name != v && isDigits(v) {
				// ".../pgx/v5" is package pgx
				parts := strings.Split(path, "/")
				name = parts[len(parts)-2]
			}
			p.Imports[name] = path
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					switch t := s.Type.(type) {
					case *ast.InterfaceType:
						if s.Name.Name == "Querier" {
							querier = t
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
	if querier == nil {
		return nil, fmt.Errorf("codegen: %s: no Querier interface (set emit_interface: true in sqlc.yaml)", dir)
	}
	for _, m := range querier.Methods.List {
		ft, ok := m.Type.(*ast.FuncType)
		if !ok || len(m.Names) != 1 {
			continue
		}
		gm := goMethod{Name: m.Names[0].Name}
		if m.Doc != nil {
			for _, c := range m.Doc.List {
				gm.Doc = append(gm.Doc, c.Text)
			}
		}
		for i, fl := range ft.Params.List {
			typ := exprString(fset, fl.Type)
			if i == 0 {
				if typ != "context.Context" {
					return nil, fmt.Errorf("codegen: Querier.%s: first parameter is %s, want context.Context", gm.Name, typ)
				}
				continue
			}
			for _, nm := range fl.Names {
				gm.Params = append(gm.Params, goField{nm.Name, typ})
			}
		}
		if ft.Results != nil {
			for _, fl := range ft.Results.List {
				gm.Results = append(gm.Results, exprString(fset, fl.Type))
			}
		}
		p.Methods = append(p.Methods, gm)
	}
	slices.SortStableFunc(p.Methods, func(a, b goMethod) int { return strings.Compare(a.Name, b.Name) })
	return p, nil
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
