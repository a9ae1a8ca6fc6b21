// Command datalayer is the project's CLI. Its migrate command group manages
// versioned PostgreSQL migrations on the Atlas library (package
// migrate):
//
//	datalayer migrate diff [name] [--check] [--rename old=new]... [--no-rename]
//	datalayer migrate apply [--baseline V] [--dry-run] [--to V]
//	datalayer migrate status [--json]
//	datalayer migrate lint [--git-base REF | --latest N] [--format text|json|markdown] [--against URL]
//	datalayer migrate hash
//
// Settings come from flags, then the atlas.hcl env (--env, default "local"),
// then the environment: DATABASE_URL for the target database and
// DATALAYER_DEV_URL for the dev server. Without a dev server, diff and lint
// start a throwaway PostgreSQL from local binaries (or Docker when it answers).
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/devserver/dockerserver"
	"github.com/agentical/datalayer/migrate"
)

const usage = `usage: datalayer migrate <command> [flags]

commands:
  diff [name] [--check]   write the next migration from schema/ (--check: fail if one is needed;
                          --rename old=new / table.old=new confirms a rename, --no-rename drops and adds)
  apply                   apply pending migrations (--baseline V, --dry-run, --to V)
  status                  show applied, pending, failed and drifted files (--json)
  lint                    lint new migrations (--git-base REF | --latest N, --format text|json|markdown,
                          --against URL: data checks and table sizes on a real database)
  hash                    rewrite atlas.sum
  dev-stop                stop the dev server kept between runs (DATALAYER_DEV_KEEP=0: none is kept)

common flags (after the command): --config atlas.hcl --env local --dir --schema --url --dev-url -v
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes the CLI and returns the exit code: 0 ok, 1 failure or
// findings, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && args[0] == "backup" {
		return runBackup(ctx, args[1:], stdout, stderr, getenv)
	}
	if len(args) < 2 || args[0] != "migrate" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[1], args[2:]
	fs := flag.NewFlagSet("migrate "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		config   = fs.String("config", "atlas.hcl", "project file")
		env      = fs.String("env", "local", "env block of the project file")
		dir      = fs.String("dir", "", "migration directory (default from atlas.hcl, else migrations)")
		schema   = fs.String("schema", "", "desired schema directory (default from atlas.hcl, else schema)")
		url      = fs.String("url", "", "target database URL (default from atlas.hcl, else $DATABASE_URL)")
		devURL   = fs.String("dev-url", "", "dev server URL (default from atlas.hcl, else $DATALAYER_DEV_URL, else a throwaway server)")
		verbose  = fs.Bool("v", false, "log progress to stderr")
		check    = fs.Bool("check", false, "diff: exit 1 and print the missing SQL when schema/ and migrations/ disagree")
		baseline = fs.String("baseline", "", "apply: mark VERSION as applied on a database with no revisions")
		dryRun   = fs.Bool("dry-run", false, "apply: print pending files without executing")
		to       = fs.String("to", "", "apply: stop after VERSION")
		asJSON   = fs.Bool("json", false, "status: JSON output")
		gitBase  = fs.String("git-base", "", "lint: files changed since this git ref")
		latest   = fs.Int("latest", 0, "lint: the latest N files")
		format   = fs.String("format", "text", "lint: text, json or markdown")
		noRename = fs.Bool("no-rename", false, "diff: write drop + add for rename candidates not confirmed")
		against  = fs.String("against", "", "lint: check data-dependent risks and table sizes on this database URL (read-only)")
		renames  []string
	)
	fs.Func("rename", "diff: confirm a rename, old=new (table) or table.old=new (column); repeatable", func(v string) error {
		renames = append(renames, v)
		return nil
	})
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	if len(positional) > 0 && cmd != "diff" || len(positional) > 1 {
		fmt.Fprintf(stderr, "migrate %s: unexpected arguments %v\n", cmd, positional)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "migrate %s: %v\n", cmd, err)
		return 1
	}
	proj, err := migrate.LoadProject(*config, *env, getenv)
	if errors.Is(err, migrate.ErrEnvNotFound) && *env == "local" && !flagSet(fs, "env") {
		proj, err = migrate.LoadProject(*config, "", getenv)
	}
	if err != nil {
		return fail(err)
	}
	cfg := proj.Config(migrate.Config{DevURL: getenv("DATALAYER_DEV_URL")})
	if *dir != "" {
		cfg.Dir = *dir
	}
	if *schema != "" {
		cfg.SchemaDir = *schema
	}
	if *devURL != "" {
		cfg.DevURL = *devURL
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	keep := getenv("DATALAYER_DEV_KEEP") != "0"
	cfg.StartDev = startDev
	if keep {
		dir := keptDir(getenv)
		cfg.StartDev = func(ctx context.Context) (string, func(context.Context) error, error) {
			dsn, err := keptDevServer(ctx, dir)
			return dsn, func(context.Context) error { return nil }, err
		}
		// Replays and schema loads are kept as databases on the dev server.
		cfg.CacheDev = true
	}
	if cmd == "dev-stop" {
		if err := stopKeptDevServer(ctx, keptDir(getenv)); err != nil {
			return fail(err)
		}
		return 0
	}
	m := migrate.New(cfg)
	defer func() {
		if err := m.Close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(stderr, "migrate: %v\n", err)
		}
	}()
	target := firstNonEmpty(*url, proj.URL, getenv("DATABASE_URL"))

	switch cmd {
	case "diff":
		name := ""
		if len(positional) == 1 {
			name = positional[0]
		}
		start := time.Now()
		if *check {
			res, err := m.Check(ctx)
			if errors.Is(err, migrate.ErrDrift) {
				fmt.Fprintf(stderr, "schema/ and %s disagree; run 'go run ./cmd/datalayer migrate diff <name>'. Missing SQL:\n\n%s", cfg.Dir, res.SQL)
				return 1
			}
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "schema/ and %s are in sync (%s)\n", m.Config().Dir, time.Since(start).Round(time.Millisecond))
			return 0
		}
		opts := migrate.DiffOptions{Name: name, Renames: renames, NoRenames: *noRename}
		if isTerminal(os.Stdin) {
			opts.Confirm = prompt(os.Stdin, stderr)
		}
		res, err := m.DiffWith(ctx, opts)
		if errors.Is(err, migrate.ErrNoChanges) {
			fmt.Fprintln(stdout, "The migration directory is synced with the desired state, no changes to be made")
			return 0
		}
		if err != nil {
			return fail(err)
		}
		for _, f := range res.Files {
			fmt.Fprintf(stdout, "wrote %s/%s\n", m.Config().Dir, f.Name)
		}
		for _, x := range res.Findings {
			fmt.Fprintf(stderr, "%s:%d: %s [%s] %s\n  safe rewrite: %s\n", x.File, x.Line, x.Code, x.Severity, x.Text, x.Fix)
		}
		fmt.Fprintf(stdout, "(%s)\n", time.Since(start).Round(time.Millisecond))
		return 0
	case "apply":
		db, err := openTarget(target)
		if err != nil {
			return fail(err)
		}
		defer db.Close()
		res, err := m.Apply(ctx, db, migrate.ApplyOptions{Baseline: firstNonEmpty(*baseline, proj.Baseline), DryRun: *dryRun, To: *to})
		if res != nil {
			if res.Baseline != "" {
				fmt.Fprintf(stdout, "baseline: %s\n", res.Baseline)
			}
			if len(res.Files) == 0 && err == nil {
				fmt.Fprintln(stdout, "No migration files to execute")
			}
			for _, f := range res.Files {
				switch {
				case *dryRun:
					fmt.Fprintf(stdout, "-- pending: %s (txmode %s)\n", f.Name, f.TxMode)
					for _, s := range f.Stmts {
						fmt.Fprintf(stdout, "%s\n", s)
					}
				case f.Duration > 0:
					fmt.Fprintf(stdout, "applied %s (%d statements, %s)\n", f.Name, len(f.Stmts), f.Duration.Round(time.Millisecond))
				}
			}
		}
		if err != nil {
			return fail(err)
		}
		return 0
	case "status":
		db, err := openTarget(target)
		if err != nil {
			return fail(err)
		}
		defer db.Close()
		st, err := m.Status(ctx, db)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				return fail(err)
			}
		} else if err := st.WriteText(stdout); err != nil {
			return fail(err)
		}
		if !st.OK() {
			return 1
		}
		return 0
	case "lint":
		opts := migrate.LintOptions{GitBase: *gitBase, Latest: *latest}
		if *against != "" {
			db, err := migrate.Open(*against)
			if err != nil {
				return fail(err)
			}
			defer db.Close()
			opts.Against = db
		}
		if opts.GitBase == "" && opts.Latest == 0 {
			opts.GitBase, opts.Latest = proj.LintGitBase, proj.LintLatest
		}
		rep, err := m.Lint(ctx, opts)
		if rep != nil {
			if werr := rep.Write(stdout, *format); werr != nil {
				return fail(werr)
			}
		}
		if errors.Is(err, migrate.ErrLintFailed) {
			return 1
		}
		if err != nil {
			return fail(err)
		}
		return 0
	case "hash":
		if err := m.Hash(); err != nil {
			return fail(err)
		}
		return 0
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
}

func openTarget(url string) (*sql.DB, error) {
	if url == "" {
		return nil, errors.New("no target database: pass --url, set url in atlas.hcl or DATABASE_URL")
	}
	return migrate.Open(url)
}

// startDev starts a throwaway PostgreSQL like the test harness: local
// binaries first (fast, and the same major version CI uses), Docker when they
// are not installed and a Docker endpoint answers a bounded probe.
func startDev(ctx context.Context) (string, func(context.Context) error, error) {
	pg, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{})
	if err == nil {
		return pg.DSN(), pg.Stop, nil
	}
	if !errors.Is(err, devserver.ErrNotInstalled) {
		return "", nil, err
	}
	srv, err := devserver.AcquirePostgres(ctx, devserver.AcquireConfig{
		URLName:    "DATALAYER_DEV_URL",
		Containers: dockerserver.New(dockerserver.Config{}),
	})
	if err != nil {
		return "", nil, err
	}
	return srv.URL, srv.Stop, nil
}

// prompt asks a yes/no question on the terminal; the default is no.
func prompt(in io.Reader, out io.Writer) func(string) (bool, error) {
	r := bufio.NewReader(in)
	return func(q string) (bool, error) {
		fmt.Fprintf(out, "%s [y/N] ", q)
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return false, fmt.Errorf("no answer to %q: %w", q, err)
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// parseInterspersed parses flags that may stand before, between and after
// positional arguments (Go's flag package stops at the first positional),
// and returns the positionals in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return positional, nil
}
