package backup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
)

// Point-in-time recovery: a base backup, WAL archived by archive_command
// calling our CLI (encrypted), rows committed at known times; a restore to
// a time between two commits has exactly the earlier rows.
func TestPointInTimeRecovery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	shared := worldDir(t)
	bin := buildCLI(t, shared)
	store := filepath.Join(shared, "store")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(shared, "id.txt")
	writeFile(t, idFile, id.String()+"\n")

	archive := fmt.Sprintf("BACKUP_URL=file://%s BACKUP_AGE_RECIPIENTS=%s %s backup wal-push %%p", store, id.Recipient(), bin)
	pg, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{Settings: map[string]string{
		"wal_level": "replica", "archive_mode": "on", "archive_command": archive, "max_wal_senders": "4",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })

	m := newManager(t, backup.Config{
		URL: "file://" + store, PostgresURL: pg.DSN(), PGBinDir: pg.BinDir(),
		AgeRecipients: []string{id.Recipient().String()}, AgeIdentityFile: idFile,
	})
	c := connect(t, pg.DSN())
	exec(t, c, "CREATE TABLE pitr (id int PRIMARY KEY, note text)")
	exec(t, c, "INSERT INTO pitr SELECT i, 'before base' FROM generate_series(1, 100) i")
	base, err := m.Create(ctx, backup.CreateOptions{Kind: backup.KindBase})
	if err != nil {
		t.Fatal(err)
	}
	if base.Postgres.StartSegment == "" || base.Postgres.StopLSN == "" || base.Encryption != "age-x25519" {
		t.Fatalf("base manifest %+v / %+v", base, base.Postgres)
	}
	if rep, err := m.Verify(ctx, base.ID, backup.VerifyOptions{Restore: true}); err != nil || rep.Base != "ok" {
		t.Fatalf("verify base by restore: %v %+v", err, rep)
	}

	serverNow := func() time.Time {
		var ts time.Time
		if err := c.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&ts); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	time.Sleep(50 * time.Millisecond)
	exec(t, c, "INSERT INTO pitr VALUES (1001, 'early')")
	time.Sleep(150 * time.Millisecond)
	between := serverNow()
	time.Sleep(150 * time.Millisecond)
	exec(t, c, "INSERT INTO pitr VALUES (1002, 'late')")
	time.Sleep(150 * time.Millisecond)
	after := serverNow()
	exec(t, c, "SELECT pg_switch_wal()") // an empty segment boundary after the last commit
	exec(t, c, "INSERT INTO pitr VALUES (1003, 'after the target')")

	inc, err := m.Create(ctx, backup.CreateOptions{Kind: backup.KindIncremental})
	if err != nil {
		t.Fatal(err)
	}
	if inc.Parent != base.ID || len(inc.Artifacts) == 0 {
		t.Fatalf("incremental: parent %q (want %s), %d WAL artifacts", inc.Parent, base.ID, len(inc.Artifacts))
	}
	// A second incremental right away (little or no WAL since the switch)
	// continues the first.
	inc2, err := m.Create(ctx, backup.CreateOptions{Kind: backup.KindIncremental})
	if err != nil {
		t.Fatal(err)
	}
	if inc2.Parent != inc.ID {
		t.Fatalf("second incremental's parent %q, want %s", inc2.Parent, inc.ID)
	}
	rep, err := m.Verify(ctx, inc.ID, backup.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("verify incremental: %v %+v", err, rep)
	}

	for _, tc := range []struct {
		name   string
		target time.Time
		want   []int
		cli    bool
	}{
		{"between", between, []int{1001}, false},
		{"after", after, []int{1001, 1002}, false},
		{"end of WAL through the CLI", time.Time{}, []int{1001, 1002, 1003}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(shared, "restored-"+strings.ReplaceAll(tc.name, " ", "-"))
			var res *backup.PITRResult
			if tc.cli {
				cmd := osexec.Command(bin, "backup", "restore", "--to-time", "latest", "--pgdata", dataDir, "--json")
				if os.Geteuid() == 0 {
					cmd.Args = append(cmd.Args, "--owner", "postgres")
				}
				cmd.Env = append(os.Environ(), "BACKUP_URL=file://"+store, "BACKUP_AGE_IDENTITY_FILE="+idFile)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("datalayer backup restore --to-time latest: %v\n%s", err, out)
				}
				res = &backup.PITRResult{}
				if err := json.Unmarshal(out, res); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
			} else if res, err = m.RestoreToTime(ctx, tc.target, backup.PITROptions{DataDir: dataDir}); err != nil {
				t.Fatal(err)
			}
			if res.BaseID != base.ID || res.WALSegments == 0 {
				t.Fatalf("result %+v", res)
			}
			dsn := startCluster(t, pg.BinDir(), dataDir)
			rc := connect(t, dsn)
			waitPromoted(t, rc)
			rows, err := rc.Query(ctx, "SELECT id FROM pitr WHERE id > 1000 ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("rows after recovery to %s: %v, want %v", tc.target.Format(time.RFC3339Nano), got, tc.want)
			}
			var n int
			if err := rc.QueryRow(ctx, "SELECT count(*) FROM pitr WHERE id <= 100").Scan(&n); err != nil || n != 100 {
				t.Fatalf("base rows: %d, %v", n, err)
			}
		})
	}

	_, err = m.RestoreToTime(ctx, base.StartedAt.Add(-time.Hour), backup.PITROptions{DataDir: filepath.Join(shared, "too-early")})
	mustErrIs(t, err, backup.ErrNoBase)

	// A newer base backup and keep-1-daily: the old base and its
	// incremental go, and so does the WAL before the new base.
	base2, err := m.Create(ctx, backup.CreateOptions{Kind: backup.KindBase})
	if err != nil {
		t.Fatal(err)
	}
	pruner := newManager(t, backup.Config{URL: "file://" + store, KeepDaily: 1, AgeIdentityFile: idFile})
	pr, err := pruner.Prune(ctx, backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Kept) != 1 || pr.Kept[0] != base2.ID || len(pr.Deleted) != 3 || pr.WALDeleted == 0 {
		t.Fatalf("prune: %+v", pr)
	}
	records, _ := filepath.Glob(filepath.Join(store, "wal", "*.json"))
	for _, r := range records {
		if name := filepath.Base(r); name[:24] < base2.Postgres.StartSegment {
			t.Errorf("WAL %s older than the kept base (%s) survived", name, base2.Postgres.StartSegment)
		}
	}
	segments, _ := filepath.Glob(filepath.Join(store, "wal", "*.zst.age"))
	if len(segments) != len(records) {
		t.Errorf("%d WAL records but %d WAL objects", len(records), len(segments))
	}
}

// worldDir is a temporary directory the postgres OS user can use.
func worldDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "dl-pitr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	if err := os.Mkdir(store, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(store, 0o777)
	return dir
}

// buildCLI builds cmd/datalayer into dir.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	root, err := testinfra.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out := filepath.Join(dir, "datalayer")
	cmd := osexec.Command(goBin, "build", "-o", out, "./cmd/datalayer")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/datalayer: %v\n%s", err, b)
	}
	return out
}

// startCluster starts postgres on dataDir (as the postgres OS user when
// root) and returns a superuser DSN; the server is stopped at cleanup.
func startCluster(t *testing.T, binDir, dataDir string) string {
	t.Helper()
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		err = filepath.WalkDir(dataDir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			t.Fatal(err)
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logFile, err := os.Create(filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := osexec.Command(filepath.Join(binDir, "postgres"), "-D", dataDir, "-c", "port="+strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dataDir, "-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = attr
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := pgx.Connect(t.Context(), dsn)
		if err == nil {
			c.Close(context.Background())
			return dsn
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("restored cluster exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("restored cluster did not accept connections in 90 s: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitPromoted waits until recovery has ended.
func waitPromoted(t *testing.T, c *pgx.Conn) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var rec bool
		if err := c.QueryRow(t.Context(), "SELECT pg_is_in_recovery()").Scan(&rec); err != nil {
			t.Fatal(err)
		}
		if !rec {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("still in recovery after 90 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
