package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/migrations"
)

const backupUsage = `usage: datalayer backup <command> [flags]

commands:
  create   [--kind logical|base|incremental] [--store postgres|surrealdb]   make a backup
  list                                       list backups, oldest first
  show     [ID|latest]                       print a manifest
  verify   [ID|latest] [--restore]           check checksums (--restore: restore into scratch databases and compare)
  restore  [ID|latest] [--force] [--keep-previous] [--no-owner] [--database NAME] [--store S]
  restore  --to-time T --pgdata DIR [--owner USER]   point-in-time: build a new cluster from a base backup and WAL
  prune    [--dry-run]                       apply BACKUP_KEEP_DAILY/WEEKLY/MONTHLY
  auto     [--kind K]                        one scheduler round (for cron): back up if due (BACKUP_INTERVAL_HOURS), under an advisory lock, then prune
  wal-push PATH                              archive_command = 'datalayer backup wal-push %p'
  wal-fetch NAME PATH                        restore_command = 'datalayer backup wal-fetch %f %p'

common flags: --json (machine-readable output), --migrations DIR (default ./migrations, else the embedded ones), -v
settings come from the environment: BACKUP_DIR, BACKUP_URL, BACKUP_COMPRESSION, BACKUP_AGE_RECIPIENTS,
BACKUP_AGE_IDENTITY_FILE, BACKUP_PASSPHRASE_FILE, BACKUP_KEEP_DAILY/WEEKLY/MONTHLY, BACKUP_INTERVAL_HOURS,
DATABASE_URL, SURREALDB_URL/USERNAME/PASSWORD/NAMESPACE/DATABASE
`

// runBackup executes `datalayer backup ...`: 0 ok, 1 failure, 2 usage.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		io.WriteString(stderr, backupUsage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("backup "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		asJSON       = fs.Bool("json", false, "JSON output")
		verbose      = fs.Bool("v", false, "log to stderr")
		migDir       = fs.String("migrations", "", "migration directory holding atlas.sum")
		kind         = fs.String("kind", "logical", "create, auto: logical, base or incremental")
		stores       = fs.String("store", "", "create/restore: only this store (postgres or surrealdb), comma-separated")
		withRestore  = fs.Bool("restore", false, "verify: also restore into scratch databases and compare")
		force        = fs.Bool("force", false, "restore: even a backup newer than the code's migrations")
		keepPrevious = fs.Bool("keep-previous", false, "restore: keep the replaced database")
		noOwner      = fs.Bool("no-owner", false, "restore: skip ownership and privileges")
		database     = fs.String("database", "", "restore: target database (default DATABASE_URL's)")
		toTime       = fs.String("to-time", "", "restore: point in time (RFC 3339, 'YYYY-MM-DD HH:MM:SS' UTC, or latest: the end of the archived WAL)")
		pgdata       = fs.String("pgdata", "", "restore --to-time: new data directory")
		owner        = fs.String("owner", "", "restore --to-time: chown the data directory to this OS user")
		dryRun       = fs.Bool("dry-run", false, "prune: only report")
	)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "backup %s: %v\n", cmd, err)
		return 1
	}
	environ := os.Environ()
	if getenv != nil {
		environ = environWith(getenv)
	}
	cfg, err := config.LoadBackup(environ)
	if err != nil {
		return fail(err)
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg.Migrations = migrationsDir(*migDir)
	if !*asJSON && isTerminalWriter(stderr) && cmd != "wal-push" && cmd != "wal-fetch" {
		cfg.Progress = newBars(stderr).update
	}
	arg := func(i int, def string) string {
		if i < len(positional) {
			return positional[i]
		}
		return def
	}
	var storeList []string
	if *stores != "" {
		storeList = strings.Split(*stores, ",")
	}
	switch cmd {
	case "create", "list", "show", "verify", "restore", "prune", "auto", "wal-push", "wal-fetch":
	default:
		io.WriteString(stderr, backupUsage)
		return 2
	}
	m, err := backup.New(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	out := func(v any, text func()) int {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				return fail(err)
			}
		} else {
			text()
		}
		return 0
	}

	switch cmd {
	case "create":
		man, err := m.Create(ctx, backup.CreateOptions{Kind: backup.Kind(*kind), Stores: storeList})
		if err != nil {
			return fail(err)
		}
		return out(man, func() {
			fmt.Fprintf(stdout, "created %s backup %s: %s stored (%s plain) in %s\n", man.Kind, man.ID,
				bytesText(man.Size()), bytesText(man.RawSize()), man.FinishedAt.Sub(man.StartedAt).Round(time.Millisecond))
		})
	case "list":
		all, err := m.List(ctx)
		if err != nil {
			return fail(err)
		}
		if all == nil {
			all = []*backup.Manifest{}
		}
		return out(all, func() {
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSTORES\tSIZE\tSTARTED\tDURATION\tMIGRATION\tPARENT")
			for _, b := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Kind, strings.Join(b.Stores, ","), bytesText(b.Size()),
					b.StartedAt.Format(time.RFC3339), b.FinishedAt.Sub(b.StartedAt).Round(time.Millisecond), dash(b.MigrationVersion), dash(b.Parent))
			}
			tw.Flush()
		})
	case "show":
		man, err := m.Show(ctx, arg(0, "latest"))
		if err != nil {
			return fail(err)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(man); err != nil {
			return fail(err)
		}
		return 0
	case "verify":
		rep, err := m.Verify(ctx, arg(0, "latest"), backup.VerifyOptions{Restore: *withRestore})
		if rep != nil {
			out(rep, func() {
				for _, a := range rep.Artifacts {
					fmt.Fprintf(stdout, "%-4s %s %s\n", okText(a.OK), a.Name, a.Error)
				}
				for _, t := range rep.Tables {
					fmt.Fprintf(stdout, "%-4s table %s rows %d/%d checksum %s/%s\n", okText(t.OK), t.Table, t.GotRows, t.WantRows, short(t.GotChecksum), short(t.WantChecksum))
				}
				if rep.Base != "" {
					fmt.Fprintf(stdout, "%-4s pg_verifybackup of the extracted base backup\n", okText(rep.Base == "ok"))
				}
				if rep.Surreal != "" {
					fmt.Fprintf(stdout, "%-4s surrealdb re-export %s\n", okText(rep.Surreal == "ok"), rep.Surreal)
				}
				fmt.Fprintf(stdout, "backup %s: %s (%s)\n", rep.ID, map[bool]string{true: "verified", false: "FAILED"}[rep.OK], rep.Duration.Round(time.Millisecond))
			})
		}
		if err != nil {
			return fail(err)
		}
		return 0
	case "restore":
		if *toTime != "" {
			t, err := parseTime(*toTime)
			if err != nil {
				return fail(err)
			}
			res, err := m.RestoreToTime(ctx, t, backup.PITROptions{DataDir: *pgdata})
			if err != nil {
				return fail(err)
			}
			if *owner != "" {
				if err := chownTree(res.DataDir, *owner); err != nil {
					return fail(err)
				}
			}
			return out(res, func() {
				stop := "the end of the archived WAL"
				if !res.Target.IsZero() {
					stop = res.Target.UTC().Format(time.RFC3339Nano)
				}
				fmt.Fprintf(stdout, "prepared %s from base %s and %d WAL files; recovery stops at %s.\nstart it with: pg_ctl -D %s start\n",
					res.DataDir, res.BaseID, res.WALSegments, stop, res.DataDir)
			})
		}
		res, err := m.Restore(ctx, arg(0, "latest"), backup.RestoreOptions{
			Database: *database, Stores: storeList, Force: *force, KeepPrevious: *keepPrevious, NoOwner: *noOwner,
		})
		if err != nil {
			return fail(err)
		}
		return out(res, func() {
			fmt.Fprintf(stdout, "restored %s", res.ID)
			if res.Database != "" {
				fmt.Fprintf(stdout, " into PostgreSQL database %s", res.Database)
			}
			if res.SurrealDatabase != "" {
				fmt.Fprintf(stdout, " and SurrealDB database %s", res.SurrealDatabase)
			}
			fmt.Fprintf(stdout, " (%s)\n", res.Duration.Round(time.Millisecond))
			if res.Previous != "" {
				fmt.Fprintf(stdout, "the replaced database is kept as %s\n", res.Previous)
			}
		})
	case "prune":
		res, err := m.Prune(ctx, backup.PruneOptions{DryRun: *dryRun})
		if err != nil {
			return fail(err)
		}
		return out(res, func() {
			verb := "deleted"
			if res.DryRun {
				verb = "would delete"
			}
			fmt.Fprintf(stdout, "kept %d backups, %s %d %v and %d WAL files\n", len(res.Kept), verb, len(res.Deleted), res.Deleted, res.WALDeleted)
		})
	case "auto":
		s, err := backup.NewScheduler(m, backup.SchedulerConfig{Kind: backup.Kind(*kind)})
		if err != nil {
			return fail(err)
		}
		res, err := s.RunOnce(ctx)
		if err != nil {
			return fail(err)
		}
		return out(res, func() {
			if res.Ran {
				fmt.Fprintf(stdout, "created backup %s\n", res.Manifest.ID)
			} else {
				fmt.Fprintf(stdout, "skipped: %s\n", res.Skipped)
			}
		})
	case "wal-push":
		if len(positional) != 1 {
			io.WriteString(stderr, backupUsage)
			return 2
		}
		if err := m.PushWAL(ctx, positional[0]); err != nil {
			return fail(err)
		}
		return 0
	case "wal-fetch":
		if len(positional) != 2 {
			io.WriteString(stderr, backupUsage)
			return 2
		}
		if err := m.FetchWAL(ctx, positional[0], positional[1]); err != nil {
			return fail(err)
		}
		return 0
	}
	return 2
}

// environWith rebuilds KEY=value entries through getenv, so tests can
// inject variables; only the variables the backup loader reads matter.
func environWith(getenv func(string) string) []string {
	var out []string
	for _, k := range []string{
		config.EnvBackupEnabled, config.EnvBackupDir, config.EnvBackupURL, config.EnvAutoBackupEnabled,
		config.EnvBackupIntervalHours, config.EnvBackupCompression, config.EnvBackupAgeRecipients,
		config.EnvBackupAgeIdentity, config.EnvBackupPassphraseFile, config.EnvBackupKeepDaily,
		config.EnvBackupKeepWeekly, config.EnvBackupKeepMonthly, config.EnvBackupPGBinDir, config.EnvBackupJobs,
		"DATABASE_URL", "SURREALDB_URL", "SURREALDB_USERNAME", "SURREALDB_PASSWORD", "SURREALDB_NAMESPACE", "SURREALDB_DATABASE",
	} {
		if v := getenv(k); v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func migrationsDir(dir string) fs.FS {
	if dir != "" {
		return os.DirFS(dir)
	}
	if _, err := os.Stat(filepath.Join("migrations", "atlas.sum")); err == nil {
		return os.DirFS("migrations")
	}
	return migrations.FS
}

func parseTime(s string) (time.Time, error) {
	if s == "latest" {
		return time.Time{}, nil // the end of the archived WAL
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--to-time %q: want RFC 3339 (2026-12-01T03:20:00Z) or 'YYYY-MM-DD HH:MM:SS' in UTC", s)
}

func chownTree(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--owner: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// isTerminalWriter reports whether w is an interactive terminal (see
// isTerminal: /dev/null is a character device but no terminal).
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// bars draws one progress bar per artifact on a terminal.
type bars struct {
	w  io.Writer
	mu sync.Mutex
	by map[string]*progressbar.ProgressBar
}

func newBars(w io.Writer) *bars { return &bars{w: w, by: map[string]*progressbar.ProgressBar{}} }

func (b *bars) update(ev backup.ProgressEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := ev.Op + " " + ev.Artifact
	bar := b.by[key]
	if bar == nil {
		bar = progressbar.NewOptions64(ev.Total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(key),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
		)
		b.by[key] = bar
	}
	_ = bar.Set64(ev.Bytes)
	if ev.Done {
		_ = bar.Finish()
		delete(b.by, key)
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func okText(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}
