package stores_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	amigrate "ariga.io/atlas/sql/migrate"
	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/migrations"
	"github.com/agentical/datalayer/stores"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// PostgreSQL unreachable at the deadline: an error naming the host, never
// the password, after several logged attempts.
func TestPostgresUnreachableNamesHostNotPassword(t *testing.T) {
	const pw = "Unreachable-S3cret"
	addr := freeAddr(t)
	r := testinfra.Redis(t)
	dsn := (&url.URL{Scheme: "postgres", User: url.UserPassword("app", pw), Host: addr, Path: "/agentical"}).String()
	var logs logBuffer
	start := time.Now()
	_, err := stores.Open(t.Context(), loadConfig(t, env(t, dsn, r)), prefixed(r, stores.Options{
		Logger: logs.logger(), StartupTimeout: 800 * time.Millisecond, BackoffBase: 50 * time.Millisecond,
	}))
	took := time.Since(start)
	if err == nil {
		t.Fatal("Open succeeded without a PostgreSQL server")
	}
	msg := err.Error()
	t.Log(msg)
	if !strings.Contains(msg, addr) || !strings.Contains(msg, "PostgreSQL") {
		t.Errorf("error does not name the server %s: %s", addr, msg)
	}
	if strings.Contains(msg, pw) || strings.Contains(logs.String(), pw) {
		t.Errorf("the password leaked:\nerror: %s\nlogs:\n%s", msg, logs.String())
	}
	if took < 800*time.Millisecond || took > 10*time.Second {
		t.Errorf("Open gave up after %s; want about the 800ms StartupTimeout", took)
	}
	if n := strings.Count(logs.String(), "not reachable, waiting"); n < 2 {
		t.Errorf("%d waiting attempts logged; want several (backoff from 50ms):\n%s", n, logs.String())
	}
}

// Stores still starting: Open waits with backoff until PostgreSQL answers.
// The server starts listening once Open has logged a failed attempt.
func TestOpenWaitsForPostgresToStart(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	p := newProxy(t, hostPort(t, dsn))
	var logs logBuffer
	go func() {
		for !strings.Contains(logs.String(), "not reachable, waiting") {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		p.Resume()
	}()
	s := open(t, loadConfig(t, env(t, withHostPort(t, dsn, p.addr), r)), prefixed(r, stores.Options{Logger: logs.logger(), StartupTimeout: 30 * time.Second}))
	if err := s.DB().QueryRow(t.Context(), "SELECT 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "not reachable, waiting"); n < 2 || !strings.Contains(logs.String(), "is up") {
		t.Errorf("want at least 2 logged waiting attempts (300ms with backoff from 100ms) and the success:\n%s", logs.String())
	}
}

// Redis still starting within OptionalWait: the cache connects normally.
func TestOpenWaitsForRedisToStart(t *testing.T) {
	dsn := testinfra.Postgres(t)
	r := testinfra.Redis(t)
	p := newProxy(t, r.Addr)
	var logs logBuffer
	go func() {
		for !strings.Contains(logs.String(), "redis at") {
			time.Sleep(5 * time.Millisecond)
		}
		p.Resume()
	}()
	r2 := r
	r2.Addr = p.addr
	s := open(t, loadConfig(t, env(t, dsn, r2)), prefixed(r, stores.Options{Logger: logs.logger(), OptionalWait: 20 * time.Second}))
	if strings.Contains(logs.String(), "going on without redis") || !strings.Contains(logs.String(), "is up") {
		t.Errorf("Open did not wait for Redis:\n%s", logs.String())
	}
	rep := s.Health().Check(t.Context())
	if rep.Stores["redis"].State != "up" {
		t.Errorf("redis %+v after a late start; want up", rep.Stores["redis"])
	}
}

func TestNotPostgresIsRefused(t *testing.T) {
	for _, u := range []string{"sqlite:///var/lib/app.db", "mysql://u@h/db"} {
		// The loader refuses it...
		_, err := config.FromMap(map[string]string{"DATABASE_URL": u})
		if err == nil || !strings.Contains(err.Error(), "PostgreSQL is the relational store") {
			t.Errorf("config.FromMap(DATABASE_URL=%s) = %v; want PostgreSQL is the relational store", u, err)
		}
		// ...and so does Open, for a Config built by hand.
		cfg := config.Defaults(config.Development)
		cfg.Database.URL = u
		_, err = stores.Open(t.Context(), cfg, stores.Options{Logger: discard()})
		if !errors.Is(err, stores.ErrNotRelational) || !strings.Contains(err.Error(), "PostgreSQL is the relational store") {
			t.Errorf("Open(DATABASE_URL=%s) = %v; want ErrNotRelational", u, err)
		}
	}
}

// emptyDatabase creates a database with nothing in it, dropped at cleanup.
func emptyDatabase(t testing.TB) string {
	t.Helper()
	admin := testinfra.PostgresServer(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("stores_empty_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// AUTO_MIGRATE on an empty database applies the embedded migrations before
// the repository is handed out.
func TestAutoMigrateEmptyDatabase(t *testing.T) {
	dsn := emptyDatabase(t)
	r := testinfra.Redis(t)
	s := open(t, loadConfig(t, env(t, dsn, r, "AUTO_MIGRATE", "true")), prefixed(r, migrated(stores.Options{Logger: discard()})))
	if res := s.Migrated(); res == nil || len(res.Files) == 0 {
		t.Fatalf("Migrated() = %+v; want the embedded files applied", res)
	}
	repo := db.NewRepository(s.DB(), s.Runtime())
	u, err := repo.CreateUser(t.Context(), db.CreateUserParams{Email: "auto@example.com", DisplayName: "Auto", Role: db.UserRoleMember})
	if err != nil {
		t.Fatalf("CreateUser on the migrated database: %v", err)
	}
	if got, err := repo.GetUser(t.Context(), u.ID); err != nil || got.Email != "auto@example.com" {
		t.Errorf("GetUser = %+v, %v", got, err)
	}
	m := s.Health().Check(t.Context()).Stores["postgres"].Migrations
	if m == nil || m.Applied == "" || m.Applied != m.Code || m.Pending != 0 {
		t.Errorf("readiness migrations = %+v; want applied == code", m)
	}
}

// newerMigrations is migrations.FS plus one later file, as a newer build
// would embed.
func newerMigrations(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	dir := amigrateDir(t, migrations.FS)
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	mem := &amigrate.MemDir{}
	for _, f := range files {
		if err := mem.WriteFile(f.Name(), f.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	extra := "20991231000000_newer_build.sql"
	if err := mem.WriteFile(extra, []byte("CREATE TABLE newer_build_only (id bigint PRIMARY KEY);\n")); err != nil {
		t.Fatal(err)
	}
	all, _ := mem.Files()
	sum, err := amigrate.NewHashFile(all)
	if err != nil {
		t.Fatal(err)
	}
	sumText, _ := sum.MarshalText()
	for _, f := range all {
		fsys[f.Name()] = &fstest.MapFile{Data: f.Bytes()}
	}
	fsys[amigrate.HashFileName] = &fstest.MapFile{Data: sumText}
	return fsys
}

// A database migrated by a newer build is refused, with or without
// AUTO_MIGRATE.
func TestDatabaseAheadIsRefused(t *testing.T) {
	dsn := emptyDatabase(t)
	r := testinfra.Redis(t)
	newer := migrated(stores.Options{Logger: discard()})
	newer.Migrations = newerMigrations(t)
	s := open(t, loadConfig(t, env(t, dsn, r, "AUTO_MIGRATE", "true")), prefixed(r, newer))
	if n := len(s.Migrated().Files); n < 2 {
		t.Fatalf("the newer build applied %d files; want at least 2", n)
	}
	_ = s.Close(t.Context())

	for _, auto := range []string{"true", "false"} {
		_, err := stores.Open(t.Context(), loadConfig(t, env(t, dsn, r, "AUTO_MIGRATE", auto)), prefixed(r, migrated(stores.Options{Logger: discard()})))
		if !errors.Is(err, stores.ErrDatabaseAhead) || !strings.Contains(err.Error(), "20991231000000") {
			t.Errorf("AUTO_MIGRATE=%s on a database ahead: %v; want ErrDatabaseAhead naming 20991231000000", auto, err)
		}
	}
}
