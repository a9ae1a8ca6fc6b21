package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/resilience"
	"github.com/jackc/pgx/v5"
)

// passwordServer is a private cluster that checks passwords over TCP for
// every role but postgres.
func passwordServer(t *testing.T) (dsnFor func(user string) string, admin *pgx.Conn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pghba-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(dir, "pg_hba.conf")
	rules := "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(hba, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := privateServer(t, map[string]string{"hba_file": hba})
	admin, err = pgx.Connect(context.Background(), srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return func(user string) string {
		return strings.Replace(srv.DSN(), "postgres://postgres@", "postgres://"+user+"@", 1)
	}, admin
}

// writeFile replaces path atomically, as a secrets agent would.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Credential rotation (issue 11): the role's password changes three times
// mid-workload (ALTER ROLE, then the password file) while connections are
// recycled; no request fails.
func TestPasswordRotationMidWorkload(t *testing.T) {
	dsnFor, admin := passwordServer(t)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE ROLE app LOGIN PASSWORD 'first-pw'; CREATE TABLE w (id bigserial PRIMARY KEY, v int); GRANT ALL ON w, w_id_seq TO app"); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "db-password")
	writeFile(t, pwFile, "first-pw\n")

	// Without the file the role cannot log in: the start-up check fails.
	if _, err := postgres.NewPool(ctx, postgres.Config{URL: dsnFor("app")}); err == nil {
		t.Fatal("connected without a password: the server does not check passwords, the test proves nothing")
	}
	if _, err := postgres.NewPool(ctx, postgres.Config{URL: dsnFor("app"), PasswordFile: pwFile + ".missing"}); err == nil || strings.Contains(err.Error(), "first-pw") {
		t.Fatalf("missing password file: %v", err)
	}

	pool := openPool(t, postgres.Config{
		URL: dsnFor("app"), PasswordFile: pwFile, MaxConns: 4,
		// Recycle connections quickly so that new ones log in during the test.
		MaxConnLifetime: 150 * time.Millisecond, MaxConnLifetimeJitter: 50 * time.Millisecond, HealthCheckPeriod: 50 * time.Millisecond,
	})
	pol, err := resilience.New(resilience.Config{})
	if err != nil {
		t.Fatal(err)
	}
	read := pol.MustExecutor(resilience.Read, "", resilience.Profile{})
	write := pol.MustExecutor(resilience.Write, "", resilience.Profile{})
	before := postgres.Stats(pool).NewConnsCount

	wctx, stop := context.WithCancel(ctx)
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; wctx.Err() == nil; i++ {
				var err error
				if i%2 == 0 {
					err = resilience.Run(wctx, write, func(ctx context.Context) error {
						_, err := pool.Exec(ctx, "INSERT INTO w (v) VALUES ($1)", g)
						return err
					})
				} else {
					_, err = resilience.Get(wctx, read, func(ctx context.Context) (int64, error) {
						var n int64
						return n, pool.QueryRow(ctx, "SELECT count(*) FROM w").Scan(&n)
					})
				}
				switch {
				case wctx.Err() != nil && errors.Is(err, context.Canceled):
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				default:
					ok.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	for round := range 3 {
		time.Sleep(300 * time.Millisecond)
		pw := fmt.Sprintf("rotated-%d", round)
		if _, err := admin.Exec(ctx, "ALTER ROLE app PASSWORD '"+pw+"'"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, pwFile, pw+"\n")
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	wg.Wait()
	newConns := postgres.Stats(pool).NewConnsCount - before
	t.Logf("%d requests ok, %d failed, %d connections opened during the rotations", ok.Load(), failed.Load(), newConns)
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during password rotation; first: %v", failed.Load(), firstErr.Load())
	}
	if newConns < 6 {
		t.Errorf("only %d new connections: the rotation was not exercised", newConns)
	}
	// The pool now logs in with the last password only.
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
