package codegen_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/codegen"
	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

var (
	corpus     = flag.Bool("corpus", false, "run the sqlc corpus (make corpus)")
	corpusKeep = flag.String("corpus.dir", "", "work in this directory and keep it (default: a temporary one)")
	corpusRun  = flag.String("corpus.run", "", "only cases whose path contains this")
	corpusFrom = flag.String("corpus.root", "", "take the cases from this directory instead (to try other sqlc projects)")
)

// corpusRoot holds the PostgreSQL pgx/v5 cases of sqlc's examples/ and
// internal/endtoend/testdata/ at the sqlc version tools/go.mod pins (only
// their configurations and SQL; cases sqlc is expected to reject are left
// out), under sqlc's LICENSE.
var corpusRoot = "testdata/corpus"

var nameLine = regexp.MustCompile(`^\s*(--|/\*)\s*name:\s*\S+\s+:(one|many)\b`)

// caseResult is what happened to one corpus case.
type caseResult struct {
	dir       string // relative to corpusRoot
	sqlcErr   string // sqlc generate failed: not a case sqlc accepts
	genErr    string // our generator failed (other than @cache refusals)
	buildErr  string // go build or go vet failed on a generated package
	depErr    string // sqlc's own output needs a module that is not served
	refusals  []string
	generated []string // package directories with a repository
	skipped   []string // notes about entries the generator skipped
}

// TestCorpus runs every corpus case through sqlc (from the tools module),
// then this generator with "-- @cache ttl=1m" added to every :one and :many
// query, then go build and go vet of all generated packages in one module.
// A @cache the generator refuses is removed and the refusal counted; the
// case passes when it then generates, builds and vets. It prints the pass
// rate and the refusals by reason.
func TestCorpus(t *testing.T) {
	if !*corpus {
		t.Skip("run with -corpus (make corpus)")
	}
	start := time.Now()
	if *corpusFrom != "" {
		corpusRoot = *corpusFrom
	}
	repoRoot, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	work := *corpusKeep
	if work == "" {
		work = t.TempDir()
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	work, _ = filepath.Abs(work)

	// sqlc, built once from the tools module (cached by the go command).
	sqlc := filepath.Join(work, "bin", "sqlc")
	run(t, repoRoot, nil, "go", "build", "-modfile=tools/go.mod", "-o", sqlc, "github.com/sqlc-dev/sqlc/cmd/sqlc")
	t.Logf("sqlc built in %s", time.Since(start).Round(time.Millisecond))

	mod := filepath.Join(work, "mod")
	_ = os.RemoveAll(mod)
	var cases []*caseResult
	err = filepath.WalkDir(corpusRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch d.Name() {
		case "sqlc.yaml", "sqlc.yml", "sqlc.json":
		default:
			return nil
		}
		rel, _ := filepath.Rel(corpusRoot, filepath.Dir(p))
		if *corpusRun == "" || strings.Contains(rel, *corpusRun) {
			cases = append(cases, &caseResult{dir: filepath.ToSlash(rel)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := copyTree(corpusRoot, filepath.Join(mod, "cases")); err != nil {
		t.Fatal(err)
	}

	phases := []string{}
	phase := func(name string, since time.Time) {
		phases = append(phases, fmt.Sprintf("%s %s", name, time.Since(since).Round(100*time.Millisecond)))
	}
	t0 := time.Now()
	// 1. sqlc generate, with @cache on every read.
	for _, c := range cases {
		dir := filepath.Join(mod, "cases", c.dir)
		if err := addCache(dir); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sqlc, "generate", "-f", configIn(dir))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			c.sqlcErr = firstLine(string(out))
		}
	}

	phase("sqlc", t0)
	t0 = time.Now()
	// 2. One module for every case, with this repository replaced in.
	gomod := fmt.Sprintf("module corpus\n\ngo 1.26.0\n\nrequire github.com/agentical/datalayer v0.0.0\n\nreplace github.com/agentical/datalayer => %s\n", repoRoot)
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, _ := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	// The repositories import the runtime; a blank file makes tidy keep it.
	if err := os.WriteFile(filepath.Join(mod, "deps.go"), []byte("package corpus\n\nimport (\n\t_ \"github.com/agentical/datalayer/postgres\"\n\t_ \"github.com/agentical/datalayer/repo\"\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, mod, nil, "go", "mod", "tidy", "-e")

	phase("tidy", t0)
	t0 = time.Now()
	// 3. The generator, in process; refused @cache lines are removed and
	// counted, then the case is generated again.
	for _, c := range cases {
		if c.sqlcErr != "" {
			continue
		}
		dir := filepath.Join(mod, "cases", c.dir)
		cfg := configIn(dir)
		for attempt := 0; ; attempt++ {
			var notes []string
			files, err := codegen.Generate(codegen.Options{SqlcConfig: cfg, Version: "corpus", Note: func(m string) { notes = append(notes, m) }})
			c.skipped = notes
			if err == nil {
				if err := codegen.Write(files); err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					r, _ := filepath.Rel(mod, filepath.Dir(f.Path))
					c.generated = append(c.generated, filepath.ToSlash(r))
				}
				break
			}
			var l sqlinfo.ErrorList
			if !errors.As(err, &l) || attempt > 3 {
				c.genErr = err.Error()
				break
			}
			var other []string
			drop := map[string][]int{}
			for _, e := range l {
				if strings.HasPrefix(e.Msg, "@cache on ") && e.Line > 0 {
					if !slices.Contains(drop[e.File], e.Line) { // one refusal per query
						drop[e.File] = append(drop[e.File], e.Line)
						c.refusals = append(c.refusals, e.Error())
					}
					continue
				}
				other = append(other, e.Error())
			}
			if len(other) > 0 {
				c.genErr = strings.Join(other, "\n")
				break
			}
			for f, lines := range drop {
				if err := blankLines(filepath.Join(dir, f), lines); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	// 4. go build and go vet of every generated package, in one go.
	var pkgs []string
	owner := map[string]*caseResult{}
	for _, c := range cases {
		for _, g := range c.generated {
			pkgs = append(pkgs, "./"+g)
			owner["corpus/"+g] = c
		}
	}
	phase("datalayer-gen", t0)
	for _, tool := range []string{"build", "vet"} {
		t0 = time.Now()
		buildAll(t, mod, tool, pkgs, owner)
		phase("go "+tool, t0)
	}

	// 5. Report.
	var accepted, passed int
	var failures []string
	reasons := map[string]int{}
	var refusalList []string
	var excluded []string
	for _, c := range cases {
		if c.sqlcErr != "" {
			excluded = append(excluded, fmt.Sprintf("  %s: sqlc: %s", c.dir, c.sqlcErr))
			continue
		}
		if c.depErr != "" {
			excluded = append(excluded, fmt.Sprintf("  %s: %s", c.dir, c.depErr))
			continue
		}
		accepted++
		for _, r := range c.refusals {
			reasons[refusalReason(r)]++
			refusalList = append(refusalList, "  "+c.dir+"/"+r)
		}
		switch {
		case c.genErr != "":
			failures = append(failures, fmt.Sprintf("  %s: generate: %s", c.dir, c.genErr))
		case c.buildErr != "":
			failures = append(failures, fmt.Sprintf("  %s: %s", c.dir, c.buildErr))
		default:
			passed++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "corpus: %d cases, %d accepted by sqlc and buildable, %d generate+build+vet: pass rate %.1f%% (%s)\n",
		len(cases), accepted, passed, 100*float64(passed)/float64(max(accepted, 1)), time.Since(start).Round(time.Second))
	fmt.Fprintf(&b, "time: %s\n", strings.Join(phases, ", "))
	fmt.Fprintf(&b, "refused @cache (removed, case still counted): %d\n", len(refusalList))
	for _, r := range keysSorted(reasons) {
		fmt.Fprintf(&b, "  %4d  %s\n", reasons[r], r)
	}
	if testing.Verbose() {
		b.WriteString(strings.Join(refusalList, "\n") + "\n")
	}
	if len(excluded) > 0 {
		fmt.Fprintf(&b, "not counted (sqlc rejects the case, or its own output cannot build here): %d\n%s\n", len(excluded), strings.Join(excluded, "\n"))
	}
	if len(failures) > 0 {
		fmt.Fprintf(&b, "FAILED: %d\n%s\n", len(failures), strings.Join(failures, "\n"))
	}
	fmt.Print(b.String())
	if len(failures) > 0 {
		t.Errorf("%d of %d sqlc-accepted cases fail", len(failures), accepted)
	}
}

// refusalReason groups a "@cache on X, which ..." message by its reason.
func refusalReason(msg string) string {
	switch {
	case strings.Contains(msg, "locks the rows"):
		return "row lock (FOR UPDATE/SHARE): a cached read would skip the lock"
	case strings.Contains(msg, "uses volatile"), strings.Contains(msg, "VOLATILE function"), strings.Contains(msg, "STABLE"):
		return "volatile function or value (now(), random(), nextval(), ...)"
	case strings.Contains(msg, "reads no table"):
		return "reads no table: no write would invalidate it"
	case strings.Contains(msg, "not a table of the schema"):
		return "reads a system catalog or a table outside the schema"
	case strings.Contains(msg, "which writes"):
		return "the statement writes (data-modifying CTE, RETURNING)"
	}
	return msg
}

var (
	pkgHeader = regexp.MustCompile(`^# (\S+)`)
	fileLine  = regexp.MustCompile(`^(cases/\S+?\.go):\d+`)
	noModule  = regexp.MustCompile(`no required module provides package (\S+?);`)
)

// buildAll runs go build (or vet) on pkgs and assigns each error to its
// case, by the "# pkg" header before a package's errors or by the file name.
// A package that fails to load (a module the proxy does not serve) stops
// the go command before it builds anything: such packages are dropped and
// the rest run again.
func buildAll(t *testing.T, mod, tool string, pkgs []string, owner map[string]*caseResult) {
	t.Helper()
	ownerOfFile := func(f string) (*caseResult, string) {
		pkg := "corpus/" + filepath.ToSlash(filepath.Dir(f))
		return owner[pkg], pkg
	}
	for len(pkgs) > 0 {
		cmd := exec.Command("go", append([]string{tool, "-trimpath"}, pkgs...)...) // -trimpath: the cache survives a new temporary directory
		cmd.Dir = mod
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		var cur *caseResult
		failedLoad := map[string]bool{}
		unattributed := []string{}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			if m := pkgHeader.FindStringSubmatch(l); m != nil {
				cur = owner[m[1]]
				continue
			}
			c := cur
			if m := fileLine.FindStringSubmatch(l); m != nil {
				var pkg string
				c, pkg = ownerOfFile(m[1])
				if m := noModule.FindStringSubmatch(l); m != nil && c != nil {
					failedLoad[pkg] = true
					if !strings.HasPrefix(filepath.Base(l), generatedPrefix) {
						c.depErr = "sqlc's output imports " + m[1] + ", which the module proxy does not serve"
						continue
					}
				}
			}
			if c == nil {
				if !strings.HasPrefix(l, "\t") {
					unattributed = append(unattributed, l)
				}
				continue
			}
			if c.buildErr == "" && c.depErr == "" {
				c.buildErr = tool + ": " + strings.TrimSpace(l)
			}
		}
		if len(failedLoad) == 0 {
			if len(unattributed) > 0 {
				t.Fatalf("go %s: unattributed output:\n%s", tool, strings.Join(unattributed, "\n"))
			}
			return
		}
		pkgs = slices.DeleteFunc(pkgs, func(p string) bool { return failedLoad["corpus/"+strings.TrimPrefix(p, "./")] })
	}
}

const generatedPrefix = "repo_"

func configIn(dir string) string {
	for _, n := range []string{"sqlc.yaml", "sqlc.yml", "sqlc.json"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return filepath.Join(dir, n)
		}
	}
	return filepath.Join(dir, "sqlc.yaml")
}

// addCache puts "-- @cache ttl=1m" under every ":one" and ":many" name line
// of the .sql files in dir (schema files have none).
func addCache(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		var out []string
		changed := false
		for _, l := range lines {
			out = append(out, l)
			if nameLine.MatchString(l) {
				out = append(out, "-- @cache ttl=1m")
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o644)
	})
}

// blankLines empties the given 1-based lines of a file (a refused @cache).
func blankLines(path string, lines []int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ls := strings.Split(string(b), "\n")
	for _, n := range lines {
		if n >= 1 && n <= len(ls) {
			ls[n-1] = "--"
		}
	}
	return os.WriteFile(path, []byte(strings.Join(ls, "\n")), 0o644)
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	for strings.HasPrefix(s, "# ") { // "# package x": the error follows
		_, s, _ = strings.Cut(s, "\n")
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " (+" + strconv.Itoa(strings.Count(s, "\n")) + " lines)"
	}
	return s
}

func keysSorted(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]] > m[out[j]] || m[out[i]] == m[out[j]] && out[i] < out[j] })
	return slices.Clip(out)
}
