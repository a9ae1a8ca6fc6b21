package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/postgres"
)

// Statement-level audit with pgaudit (issue 11): a role's writes appear in
// the server log as AUDIT lines; a server without the library is refused
// with a clear error.
func TestPgAudit(t *testing.T) {
	libs, _ := filepath.Glob("/usr/lib/postgresql/*/lib/pgaudit.so")
	if len(libs) == 0 {
		t.Skip("pgaudit not installed (.ci/install.d/pgaudit.sh installs postgresql-15-pgaudit)")
	}
	ctx := context.Background()
	plain := privateServer(t, nil)
	conn, err := pgx.Connect(ctx, plain.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := postgres.EnablePgAudit(ctx, conn, "postgres", "write"); !errors.Is(err, postgres.ErrPgAuditNotLoaded) {
		t.Fatalf("pgaudit on a server without the library: %v, want ErrPgAuditNotLoaded", err)
	}
	if err := postgres.EnablePgAudit(ctx, conn, "postgres", "write, bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Fatalf("unknown class: %v", err)
	}

	srv := privateServer(t, map[string]string{"shared_preload_libraries": "pgaudit"})
	admin, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE app LOGIN; CREATE TABLE secrets (id int PRIMARY KEY, v text); GRANT ALL ON secrets TO app"); err != nil {
		t.Fatal(err)
	}
	if err := postgres.EnablePgAudit(ctx, admin, "app", "write,ddl"); err != nil {
		t.Fatal(err)
	}
	appDSN := strings.Replace(srv.DSN(), "postgres://postgres@", "postgres://app@", 1)
	pool := openPool(t, postgres.Config{URL: appDSN})
	if _, err := pool.Exec(ctx, "INSERT INTO secrets VALUES (1, 'x')"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT v FROM secrets"); err != nil { // read: not audited
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		log, _ := os.ReadFile(srv.LogPath())
		if strings.Contains(string(log), `AUDIT: SESSION,1,1,WRITE,INSERT,,,"INSERT INTO secrets VALUES (1, 'x')"`) {
			if strings.Contains(string(log), "SELECT v FROM secrets") {
				t.Error("a read was audited with pgaudit.log=write,ddl")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no AUDIT line for the INSERT in the server log:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
