package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/internal/testinfra"
)

// A logical backup of PostgreSQL and SurrealDB restores both to the state
// at backup time, replacing the targets.
func TestLogicalBackupRestoreBothStores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	seedUsers(t, e.dsn, 50)
	sc := surrealDB(t, e.sur, e.sur.Database)
	surrealQuery(t, sc, "DEFINE TABLE person SCHEMALESS; CREATE person:1 SET name = 'ada', at = d'2024-01-01T00:00:00Z', n = 1.5; CREATE person:2 SET name = 'bob'")

	cfg := e.config()
	var mu sync.Mutex
	done := map[string]int64{} // op artifact -> bytes when done
	cfg.Progress = func(ev backup.ProgressEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Done {
			done[ev.Op+" "+ev.Artifact] = ev.Bytes
		}
	}
	m := newManager(t, cfg)
	man, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The manifest says what the backup holds.
	if man.Kind != backup.KindLogical || len(man.Stores) != 2 || len(man.Artifacts) != 2 {
		t.Fatalf("manifest: kind %s stores %v artifacts %d", man.Kind, man.Stores, len(man.Artifacts))
	}
	for _, a := range man.Artifacts {
		if a.Size <= 0 || len(a.SHA256) != 64 || len(a.RawSHA256) != 64 || a.RawSize <= 0 {
			t.Errorf("artifact %+v lacks sizes or checksums", a)
		}
		if !strings.HasSuffix(a.Key, ".zst") {
			t.Errorf("artifact %s is not zstd-compressed", a.Key)
		}
	}
	if man.MigrationVersion != "20260101000000" {
		t.Errorf("migration version %q", man.MigrationVersion)
	}
	for _, tool := range []string{"pg_dump", "postgres", "surrealdb", "datalayer"} {
		if man.Tools[tool] == "" {
			t.Errorf("tool version %s missing: %v", tool, man.Tools)
		}
	}
	var users *backup.TableStat
	for i, ts := range man.Postgres.Tables {
		if ts.Table == "public.users" {
			users = &man.Postgres.Tables[i]
		}
	}
	if users == nil || users.Rows != 50 || users.Checksum == "" {
		t.Fatalf("users table stat %+v", users)
	}
	if man.Postgres.Encoding != "UTF8" || man.Postgres.Collate == "" || man.Postgres.Database != e.dbName {
		t.Errorf("postgres info %+v", man.Postgres)
	}
	if man.FinishedAt.Before(man.StartedAt) {
		t.Errorf("time range %s..%s", man.StartedAt, man.FinishedAt)
	}
	listed, err := m.List(t.Context())
	if err != nil || len(listed) != 1 || listed[0].ID != man.ID {
		t.Fatalf("list = %v, %v", listed, err)
	}
	shown, err := m.Show(t.Context(), "latest")
	if err != nil || shown.ID != man.ID || shown.Artifacts[0].SHA256 != man.Artifacts[0].SHA256 {
		t.Fatalf("show latest = %+v, %v", shown, err)
	}

	// Change both stores after the backup; a connection stays open on the
	// target, as a running service's would.
	before := userEmails(t, e.dsn)
	c := connect(t, e.dsn)
	exec(t, c, "DELETE FROM users WHERE email LIKE 'u1%'")
	exec(t, c, "INSERT INTO users (email, display_name) VALUES ('late@x', 'Late')")
	surrealQuery(t, sc, "DELETE person:1; CREATE person:3 SET name = 'eve'")

	res, err := m.Restore(t.Context(), man.ID, backup.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Database != e.dbName || res.SurrealDatabase != e.sur.Database {
		t.Errorf("restore result %+v", res)
	}
	// Progress was reported for the dump, both uploads and both downloads.
	mu.Lock()
	for _, a := range man.Artifacts {
		if done["upload "+a.Name] != a.RawSize || done["download "+a.Name] != a.RawSize {
			t.Errorf("progress of %s: %v", a.Name, done)
		}
	}
	if done["dump postgres.dump"] == 0 {
		t.Errorf("no dump progress: %v", done)
	}
	mu.Unlock()
	if got := userEmails(t, e.dsn); !equal(got, before) {
		t.Fatalf("after restore: %d users, want %d", len(got), len(before))
	}
	if err := c.Ping(t.Context()); err == nil {
		t.Error("a connection to the replaced database still works")
	}
	sc2 := surrealDB(t, e.sur, e.sur.Database)
	if got := surrealNames(t, sc2); !equal(got, []string{"ada", "bob"}) {
		t.Fatalf("surrealdb after restore: %v", got)
	}
	// No scratch or replaced database is left behind.
	if left := databasesLike(t, e.dbName+"_"); len(left) != 0 {
		t.Errorf("left-over databases: %v", left)
	}
}

// Verify checks checksums and, by restoring into a scratch database, the
// per-table counts and checksums recorded at backup time.
func TestVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	seedUsers(t, e.dsn, 30)
	surrealQuery(t, surrealDB(t, e.sur, e.sur.Database), "CREATE person:1 SET name = 'ada'")
	m := newManager(t, e.config())
	man, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.Verify(t.Context(), man.ID, backup.VerifyOptions{Restore: true})
	if err != nil {
		t.Fatalf("verify: %v (%+v)", err, rep)
	}
	if !rep.OK || !rep.Restored || rep.Surreal != "ok" || len(rep.Tables) == 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, tc := range rep.Tables {
		if !tc.OK || (tc.Table == "public.users" && tc.GotRows != 30) {
			t.Errorf("table check %+v", tc)
		}
	}
	if left := databasesLike(t, e.dbName+"_verify"); len(left) != 0 {
		t.Errorf("scratch databases left: %v", left)
	}

	// A manifest whose recorded checksum disagrees with the content (as if
	// the dump had lost rows) fails the restore check.
	tampered := *man
	tampered.ID = man.ID + "-tampered"
	tampered.Postgres = &backup.PostgresInfo{Tables: append([]backup.TableStat(nil), man.Postgres.Tables...)}
	for i := range tampered.Postgres.Tables {
		if tampered.Postgres.Tables[i].Table == "public.users" {
			tampered.Postgres.Tables[i].Rows = 31
		}
	}
	writeManifest(t, e, &tampered)
	rep, err = m.Verify(t.Context(), tampered.ID, backup.VerifyOptions{Restore: true})
	mustErrIs(t, err, backup.ErrVerify)
	if rep == nil || rep.OK {
		t.Fatalf("report of tampered backup: %+v", rep)
	}
}

// A corrupted or truncated artifact is a clear error from verify and
// restore, and the restore target is untouched.
func TestCorruptArtifactNeverRestores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	seedUsers(t, e.dsn, 20)
	m := newManager(t, e.config())
	man, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := artifactPath(t, e, man, "postgres")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, e.dsn)
	exec(t, c, "DELETE FROM users WHERE email LIKE 'u1%'")
	want := userEmails(t, e.dsn)

	for name, data := range map[string][]byte{
		"flipped byte": flip(orig, len(orig)/2),
		"truncated":    orig[:len(orig)*2/3],
		"empty":        {},
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := m.Verify(t.Context(), man.ID, backup.VerifyOptions{})
			mustErrIs(t, err, backup.ErrCorrupt)
			if !strings.Contains(err.Error(), "postgres.dump") {
				t.Errorf("error does not name the artifact: %v", err)
			}
			_, err = m.Restore(t.Context(), man.ID, backup.RestoreOptions{})
			mustErrIs(t, err, backup.ErrCorrupt)
			if got := userEmails(t, e.dsn); !equal(got, want) {
				t.Fatalf("target changed by a failed restore: %d users, want %d", len(got), len(want))
			}
			if left := databasesLike(t, e.dbName+"_"); len(left) != 0 {
				t.Errorf("left-over databases: %v", left)
			}
		})
	}
}

// A pg_restore that fails half-way leaves the target as it was.
func TestFailedPgRestoreLeavesTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	c := connect(t, e.dsn)
	role := "bk_owner_" + strings.ToLower(strings.ReplaceAll(e.dbName[len(e.dbName)-10:], "-", "_"))
	exec(t, c, "CREATE ROLE "+role)
	t.Cleanup(func() {
		// Roles are server-wide: drop it whatever happened.
		cc, err := pgx.Connect(context.Background(), e.dsn)
		if err != nil {
			return
		}
		defer cc.Close(context.Background())
		_, _ = cc.Exec(context.Background(), "DROP TABLE IF EXISTS owned_elsewhere")
		_, _ = cc.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	exec(t, c, "CREATE TABLE owned_elsewhere (x int)")
	exec(t, c, "ALTER TABLE owned_elsewhere OWNER TO "+role)
	seedUsers(t, e.dsn, 10)
	m := newManager(t, e.config())
	man, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The role disappears: pg_restore cannot set the owner and stops.
	exec(t, c, "DROP TABLE owned_elsewhere")
	exec(t, c, "DROP ROLE "+role)
	exec(t, c, "INSERT INTO users (email, display_name) VALUES ('after@x', 'After')")
	want := userEmails(t, e.dsn)
	_, err = m.Restore(t.Context(), man.ID, backup.RestoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "pg_restore") {
		t.Fatalf("restore error = %v, want a pg_restore failure", err)
	}
	if got := userEmails(t, e.dsn); !equal(got, want) {
		t.Fatalf("target changed by a failed restore")
	}
	if left := databasesLike(t, e.dbName+"_"); len(left) != 0 {
		t.Errorf("left-over databases: %v", left)
	}
	// Without owners the same backup restores.
	if _, err := m.Restore(t.Context(), man.ID, backup.RestoreOptions{NoOwner: true}); err != nil {
		t.Fatal(err)
	}
	if got := userEmails(t, e.dsn); len(got) != 10 {
		t.Fatalf("after restore: %d users, want 10", len(got))
	}
}

// Encrypted backups restore with the right key and fail clearly with a
// wrong one, leaving the target untouched.
func TestEncryption(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	seedUsers(t, e.dsn, 15)
	dir := t.TempDir()

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	writeFile(t, dir+"/id.txt", id.String()+"\n")
	writeFile(t, dir+"/other.txt", other.String()+"\n")
	writeFile(t, dir+"/pass", "correct horse battery staple\n")
	writeFile(t, dir+"/wrongpass", "incorrect horse\n")

	cases := []struct {
		name       string
		enc, wrong func(*backup.Config)
		scheme     string
	}{
		{"recipients", func(c *backup.Config) {
			c.AgeRecipients = []string{id.Recipient().String()}
			c.AgeIdentityFile = dir + "/id.txt"
		}, func(c *backup.Config) { c.AgeIdentityFile = dir + "/other.txt" }, "age-x25519"},
		{"passphrase", func(c *backup.Config) { c.PassphraseFile, c.PassphraseWorkFactor = dir+"/pass", 10 },
			func(c *backup.Config) { c.PassphraseFile = dir + "/wrongpass" }, "age-scrypt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config()
			cfg.URL = "file://" + t.TempDir()
			tc.enc(&cfg)
			m := newManager(t, cfg)
			man, err := m.Create(t.Context(), backup.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if man.Encryption != tc.scheme || !strings.HasSuffix(man.Artifacts[0].Key, ".zst.age") {
				t.Fatalf("encryption %q key %s", man.Encryption, man.Artifacts[0].Key)
			}
			exec(t, connect(t, e.dsn), "DELETE FROM users")

			bad := cfg
			bad.AgeRecipients = nil
			tc.wrong(&bad)
			mb := newManager(t, bad)
			_, err = mb.Verify(t.Context(), man.ID, backup.VerifyOptions{})
			mustErrIs(t, err, backup.ErrDecrypt)
			_, err = mb.Restore(t.Context(), man.ID, backup.RestoreOptions{})
			mustErrIs(t, err, backup.ErrDecrypt)
			if n := len(userEmails(t, e.dsn)); n != 0 {
				t.Fatalf("failed restore changed the target: %d users", n)
			}

			if _, err := m.Restore(t.Context(), man.ID, backup.RestoreOptions{}); err != nil {
				t.Fatal(err)
			}
			if n := len(userEmails(t, e.dsn)); n != 15 {
				t.Fatalf("after restore: %d users, want 15", n)
			}
		})
	}
}

// A backup made by newer code (a newer migration version) is refused
// unless forced.
func TestRestoreRefusesNewerMigration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	seedUsers(t, e.dsn, 5)
	cfg := e.config()
	cfg.Migrations = migrationsFS("20260101000000", "20260301000000")
	man, err := newManager(t, cfg).Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if man.MigrationVersion != "20260301000000" {
		t.Fatalf("migration version %q", man.MigrationVersion)
	}
	exec(t, connect(t, e.dsn), "DELETE FROM users")
	old := e.config() // knows only 20260101000000
	m := newManager(t, old)
	_, err = m.Restore(t.Context(), man.ID, backup.RestoreOptions{})
	mustErrIs(t, err, backup.ErrNewerMigration)
	if n := len(userEmails(t, e.dsn)); n != 0 {
		t.Fatalf("refused restore changed the target")
	}
	res, err := m.Restore(t.Context(), man.ID, backup.RestoreOptions{Force: true, KeepPrevious: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(userEmails(t, e.dsn)); n != 5 {
		t.Fatalf("forced restore: %d users", n)
	}
	// The replaced database is kept, as it was (no users), and usable.
	if res.Previous == "" {
		t.Fatal("no previous database kept")
	}
	server := testinfra.PostgresServer(t)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{res.Previous}.Sanitize()+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	prev := strings.Replace(e.dsn, "/"+e.dbName, "/"+res.Previous, 1)
	if n := len(userEmails(t, prev)); n != 0 {
		t.Fatalf("kept previous database has %d users, want 0", n)
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0xff
	return out
}

// Restoring both stores is all or nothing on the PostgreSQL side: when the
// SurrealDB part does not import, the PostgreSQL target stays as it was.
func TestBadSurrealPartLeavesPostgresUntouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	seedUsers(t, e.dsn, 8)
	surrealQuery(t, surrealDB(t, e.sur, e.sur.Database), "CREATE person:1 SET name = 'ada'")
	cfg := e.config()
	cfg.Compression = backup.CompressionNone // artifacts are plain files we can rewrite
	m := newManager(t, cfg)
	man, err := m.Create(t.Context(), backup.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Replace the SurrealDB export by SurrealQL that does not parse, with
	// matching checksums, as a buggy exporter would have written it.
	bad := []byte("CREATE person:9 SET name = ;\n")
	sum := sha256.Sum256(bad)
	for i, a := range man.Artifacts {
		if a.Store == backup.StoreSurreal {
			writeFile(t, filepath.Join(e.storeDir, filepath.FromSlash(a.Key)), string(bad))
			a.Size, a.RawSize = int64(len(bad)), int64(len(bad))
			a.SHA256, a.RawSHA256 = hex.EncodeToString(sum[:]), hex.EncodeToString(sum[:])
			man.Artifacts[i] = a
		}
	}
	writeManifest(t, e, man)
	if _, err := m.Verify(t.Context(), man.ID, backup.VerifyOptions{}); err != nil {
		t.Fatalf("checksums should match: %v", err)
	}
	exec(t, connect(t, e.dsn), "DELETE FROM users")
	_, err = m.Restore(t.Context(), man.ID, backup.RestoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "scratch") {
		t.Fatalf("restore error = %v, want the SurrealDB scratch import failure", err)
	}
	if n := len(userEmails(t, e.dsn)); n != 0 {
		t.Fatalf("PostgreSQL target changed although SurrealDB failed: %d users", n)
	}
	if got := surrealNames(t, surrealDB(t, e.sur, e.sur.Database)); !equal(got, []string{"ada"}) {
		t.Fatalf("SurrealDB target changed: %v", got)
	}
	if left := databasesLike(t, e.dbName+"_"); len(left) != 0 {
		t.Errorf("left-over databases: %v", left)
	}
}

// A backup that fails half-way (PostgreSQL dumped and uploaded, then
// SurrealDB unreachable) leaves no manifest and no artifact, and neither
// its error nor the printed Config shows a password.
func TestFailedCreateLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	seedUsers(t, e.dsn, 5)
	cfg := e.config()
	cfg.SurrealURL, cfg.SurrealUser, cfg.SurrealPassword = "ws://127.0.0.1:1", "root", "s3cretpw"
	cfg.SurrealNamespace, cfg.SurrealDatabase = "ns", "db"
	m := newManager(t, cfg)
	_, err := m.Create(t.Context(), backup.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "surrealdb") {
		t.Fatalf("backup with an unreachable SurrealDB: %v", err)
	}
	if strings.Contains(err.Error(), "s3cretpw") || strings.Contains(fmt.Sprint(cfg), "s3cretpw") {
		t.Fatalf("password shown: %v", err)
	}
	entries, _ := os.ReadDir(e.storeDir)
	var files []string
	_ = filepath.WalkDir(e.storeDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("store holds %v (%d entries) after a failed backup", files, len(entries))
	}
}
