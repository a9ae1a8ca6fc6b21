package codegen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// copyModel is the input of copy.go.tmpl: one copy function per result
// type of a cached read (and the struct types those reach), which the
// method descriptors hand the typed in-process tier (Method.Copy). Types holding something
// the generator cannot copy without reflection (interfaces, maps of
// structs, unknown external types) get none: the runtime copies those by
// reflection.
type copyModel struct {
	Version string
	Package string
	Imports []string
	Funcs   []copyFunc
}

type copyFunc struct {
	Name  string // copy function name
	Type  string // Go type expression
	Stmts []string
}

// noRefTypes hold no memory a caller could change through a copy.
var noRefTypes = map[string]bool{
	"bool": true, "string": true, "byte": true, "rune": true, "int": true, "int8": true, "int16": true,
	"int32": true, "int64": true, "uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"float32": true, "float64": true, "time.Time": true, "time.Duration": true, "uuid.UUID": true,
	"pgtype.Text": true, "pgtype.Int2": true, "pgtype.Int4": true, "pgtype.Int8": true, "pgtype.Float4": true,
	"pgtype.Float8": true, "pgtype.Bool": true, "pgtype.Timestamptz": true, "pgtype.Timestamp": true,
	"pgtype.Date": true, "pgtype.UUID": true, "pgtype.Interval": true, "pgtype.Time": true, "pgtype.Uint32": true,
}

type copyGen struct {
	structs map[string][]goField
	named   map[string]string // non-struct named types -> underlying expression
	funcs   map[string]*copyFunc
	order   []string
	imports map[string]bool
	failed  map[string]bool
}

// buildCopyModel returns nil when no cached read needs a copy function.
func buildCopyModel(gp *goPackage, version string, methods []*method) (*copyModel, error) {
	named, err := namedTypes(gp.Dir)
	if err != nil {
		return nil, err
	}
	g := &copyGen{structs: gp.Structs, named: named, funcs: map[string]*copyFunc{}, imports: map[string]bool{}, failed: map[string]bool{}}
	var results []string
	for _, m := range methods {
		if m.Cache == nil || m.Write {
			continue
		}
		if t := m.ResultType(); t != "" && !slices.Contains(results, t) {
			results = append(results, t)
		}
	}
	slices.Sort(results)
	copyOf := map[string]string{}
	for _, t := range results {
		if name, ok := g.fn(t); ok && name != "" {
			copyOf[t] = name
		}
	}
	for _, m := range methods {
		if name, ok := copyOf[m.ResultType()]; ok && m.Cache != nil && !m.Write {
			t := m.ResultType()
			m.CopyExpr = fmt.Sprintf("func(v %s) %s { %s(&v); return v }", t, t, name)
		}
	}
	if len(g.order) == 0 {
		return nil, nil
	}
	m := &copyModel{Version: version, Package: gp.Name}
	for _, t := range g.order {
		if i := strings.IndexByte(t, '.'); i >= 0 {
			g.imports[strings.TrimLeft(t[:i], "[]*")] = true
		}
	}
	for imp := range g.imports {
		if path, ok := gp.Imports[imp]; ok {
			m.Imports = append(m.Imports, importSpec(imp, path))
		} else {
			m.Imports = append(m.Imports, fmt.Sprintf("%q", imp))
		}
	}
	slices.Sort(m.Imports)
	for _, t := range g.order {
		m.Funcs = append(m.Funcs, *g.funcs[t])
	}
	return m, nil
}

// fn returns the name of the copy function of type expression t ("" when
// t needs none); ok is false when t cannot be copied without reflection.
func (g *copyGen) fn(t string) (name string, ok bool) {
	if noRefTypes[t] {
		return "", true
	}
	if f, seen := g.funcs[t]; seen {
		return f.Name, true
	}
	if g.failed[t] {
		return "", false
	}
	if u, isNamed := g.named[t]; isNamed {
		n, ok := g.fn(u)
		if !ok || n == "" {
			return n, ok
		}
		// A named slice or pointer type: copy through its underlying type.
		return g.add(t, func(f *copyFunc) bool {
			f.Stmts = []string{fmt.Sprintf("u := (%s)(*v)", u), n + "(&u)", fmt.Sprintf("*v = %s(u)", t)}
			return true
		})
	}
	switch {
	case t == "[]byte" || t == "json.RawMessage":
		g.imports["bytes"] = true
		return g.add(t, func(f *copyFunc) bool {
			f.Stmts = []string{"*v = bytes.Clone(*v)"}
			return true
		})
	case t == "pgtype.Numeric":
		g.imports["math/big"] = true
		return g.add(t, func(f *copyFunc) bool {
			f.Stmts = []string{"if v.Int != nil {", "v.Int = new(big.Int).Set(v.Int)", "}"}
			return true
		})
	case strings.HasPrefix(t, "[]"):
		elem := t[2:]
		if bytesFields, ok := g.onlyBytes(elem); ok && len(bytesFields) > 0 {
			// Rows whose only references are byte slices (jsonb, bytea):
			// one buffer for all of them instead of one allocation per row.
			// Each row's slice is capped, so appending to it reallocates.
			g.imports["slices"] = true
			return g.add(t, func(f *copyFunc) bool {
				f.Stmts = []string{"*v = slices.Clone(*v)", "n := 0", "for i := range *v {"}
				for _, fd := range bytesFields {
					f.Stmts = append(f.Stmts, fmt.Sprintf("n += len((*v)[i].%s)", fd))
				}
				f.Stmts = append(f.Stmts, "}", "buf := make([]byte, 0, n)", "for i := range *v {", "e := &(*v)[i]")
				for _, fd := range bytesFields {
					f.Stmts = append(f.Stmts, fmt.Sprintf("if e.%s != nil {", fd), "start := len(buf)",
						fmt.Sprintf("buf = append(buf, e.%s...)", fd), fmt.Sprintf("e.%s = buf[start:len(buf):len(buf)]", fd), "}")
				}
				f.Stmts = append(f.Stmts, "}")
				return true
			})
		}
		return g.add(t, func(f *copyFunc) bool {
			en, ok := g.fn(elem)
			if !ok {
				return false
			}
			g.imports["slices"] = true
			f.Stmts = []string{"*v = slices.Clone(*v)"}
			if en != "" {
				f.Stmts = append(f.Stmts, "for i := range *v {", en+"(&(*v)[i])", "}")
			}
			return true
		})
	case strings.HasPrefix(t, "*"):
		elem := t[1:]
		return g.add(t, func(f *copyFunc) bool {
			en, ok := g.fn(elem)
			if !ok {
				return false
			}
			f.Stmts = []string{"if *v != nil {", "c := **v"}
			if en != "" {
				f.Stmts = append(f.Stmts, en+"(&c)")
			}
			f.Stmts = append(f.Stmts, "*v = &c", "}")
			return true
		})
	}
	fields, isStruct := g.structs[t]
	if !isStruct {
		g.failed[t] = true
		return "", false
	}
	return g.add(t, func(f *copyFunc) bool {
		for _, fd := range fields {
			fn, ok := g.fn(fd.Type)
			if !ok {
				return false
			}
			if fn != "" {
				f.Stmts = append(f.Stmts, fmt.Sprintf("%s(&v.%s)", fn, fd.Name))
			}
		}
		return true
	})
}

// onlyBytes returns the byte-slice fields of struct type t when every other
// field holds no references; ok is false otherwise.
func (g *copyGen) onlyBytes(t string) (fields []string, ok bool) {
	fs, isStruct := g.structs[t]
	if !isStruct {
		return nil, false
	}
	for _, fd := range fs {
		ft := fd.Type
		if u, isNamed := g.named[ft]; isNamed {
			ft = u
		}
		switch {
		case ft == "[]byte" || ft == "json.RawMessage":
			fields = append(fields, fd.Name)
		case noRefTypes[ft]:
		default:
			if _, isNamed := g.named[fd.Type]; isNamed && noRefTypes[g.named[fd.Type]] {
				continue
			}
			return nil, false
		}
	}
	return fields, true
}

// add registers the copy function of t built by body; a type whose body
// needs no statements needs no function.
func (g *copyGen) add(t string, body func(*copyFunc) bool) (string, bool) {
	f := &copyFunc{Name: "dlcopy" + typeIdent(t), Type: t} // prefixed: sqlc declares copyX for a query named CopyX
	g.funcs[t] = f                                         // recursion guard
	if !body(f) {
		delete(g.funcs, t)
		g.failed[t] = true
		return "", false
	}
	if len(f.Stmts) == 0 {
		delete(g.funcs, t)
		return "", true
	}
	g.order = append(g.order, t)
	return f.Name, true
}

func typeIdent(t string) string {
	r := strings.NewReplacer("[]", "Slice", "*", "Ptr")
	parts := strings.Split(r.Replace(t), ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// namedTypes lists the package's non-struct type declarations (enums,
// named slices) with their underlying type expressions.
func namedTypes(dir string) (map[string]string, error) {
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("codegen: %w", err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || strings.HasPrefix(n, generatedPrefix) {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("codegen: %w", err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); isStruct || ts.Assign.IsValid() {
					continue
				}
				var b bytes.Buffer
				if err := printer.Fprint(&b, fset, ts.Type); err != nil {
					return nil, err
				}
				out[ts.Name.Name] = b.String()
			}
		}
	}
	return out, nil
}

// generateCopy renders repo_copy.gen.go, or nothing when no type needs it.
func generateCopy(gp *goPackage, version string, methods []*method, outDir string) ([]File, error) {
	m, err := buildCopyModel(gp, version, methods)
	if err != nil || m == nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, "copy.go.tmpl", m); err != nil {
		return nil, fmt.Errorf("codegen: template copy.go.tmpl: %w", err)
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("codegen: generated %scopy.gen.go does not parse: %w\n%s", generatedPrefix, err, numbered(b.Bytes()))
	}
	return []File{{Path: filepath.Join(outDir, generatedPrefix+"copy.gen.go"), Content: src}}, nil
}
