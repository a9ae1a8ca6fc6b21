// Command datalayer-gen writes cache-aside, policy-wrapped repositories next
// to the Go packages sqlc generates. Run it after sqlc. Install it through a tools module so its parser (cgo) stays out of your
// module (see the README):
//
//	//go:generate go tool -modfile=tools/go.mod datalayer-gen -f sqlc.yaml
//
// It reads the sqlc configuration (version 1 or 2, YAML or JSON; entries
// with engine postgresql and sql_package pgx/v5 get a repository, others
// are skipped with a note), the query files with their "-- @" directives, the
// schema, and the sqlc output, and writes repo_*.gen.go files into each
// output package. Problems are printed as file:line: message, all at once,
// and nothing is written when there is any.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentical/datalayer/internal/codegen"
	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// version is stamped into generated headers; bump it when output changes shape.
const version = "v0.1.0"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		var l sqlinfo.ErrorList
		if errors.As(err, &l) {
			fmt.Fprintf(os.Stderr, "datalayer-gen: %d problem(s), nothing written\n", len(l))
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("datalayer-gen", flag.ContinueOnError)
	cfg := fs.String("f", "sqlc.yaml", "path of the sqlc configuration (sqlc.yaml, sqlc.yml or sqlc.json)")
	check := fs.Bool("check", false, "do not write; fail if the generated files are out of date")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*cfg)
	if err != nil {
		return err
	}
	note := func(msg string) { fmt.Fprintln(os.Stderr, "datalayer-gen: "+msg) }
	files, err := codegen.Generate(codegen.Options{SqlcConfig: abs, ModuleRoot: filepath.Dir(abs), Version: version, Note: note})
	if err != nil {
		return err
	}
	if *check {
		var stale []string
		for _, f := range files {
			cur, err := os.ReadFile(f.Path)
			if err != nil || string(cur) != string(f.Content) {
				stale = append(stale, f.Path)
			}
		}
		if len(stale) > 0 {
			return fmt.Errorf("datalayer-gen: out of date: %v (run go generate ./...)", stale)
		}
		return nil
	}
	return codegen.Write(files)
}
