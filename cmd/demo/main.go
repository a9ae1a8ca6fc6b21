// Command demo shows the generated repository at work on a throwaway stack:
//
//	go run ./cmd/demo [-duration 10s] [-workers 8] [-agents 1000] [-docker=false]
//
// It gets a PostgreSQL and a Redis server the way the test harness does:
// DATABASE_URL / REDIS_URL when set (the database user must be allowed to
// create databases), else Docker when it answers a short probe, else local
// postgres and redis-server binaries (package internal/devserver). It
// creates a fresh database, opens the data layer on it with datalayer.Open
// (which applies the embedded migrations; every other variable, such as
// DB_POOL_SIZE, CIRCUIT_BREAKER_THRESHOLD or MAX_RETRY_ATTEMPTS, is read by
// config.Load as in any service), seeds users, agents,
// tools, assignments, workflows with steps, tasks, executions and their
// events (the events through the :copyfrom query), runs a mixed workload of
// mostly cached reads and some writes through db.Repository, and prints per
// method the operations, hit ratio and p50/p99 latency, the circuit breaker
// states and totals. On exit (also after Ctrl-C) it drops the database,
// deletes its Redis keys and stops the servers it started.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer"
	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/devserver/dockerserver"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/stores"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Environ())
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// options are the demo's flags.
type options struct {
	duration time.Duration
	workers  int
	agents   int
	docker   bool
	prefix   string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the workload runs")
	fs.IntVar(&o.workers, "workers", 8, "concurrent workload goroutines")
	fs.IntVar(&o.agents, "agents", 1000, "agents to seed (20 per user)")
	fs.BoolVar(&o.docker, "docker", true, "try Docker before local binaries when no URL is set")
	fs.StringVar(&o.prefix, "prefix", "", "Redis key prefix (default: demo-<random>); the demo deletes its keys at exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.duration <= 0 || o.workers <= 0 || o.agents < 20 {
		return o, errors.New("-duration and -workers must be positive and -agents at least 20")
	}
	return o, nil
}

// cleanup runs registered functions in reverse order with a fresh context,
// so that an interrupted demo still stops what it started.
type cleanup []func(ctx context.Context) error

func (c *cleanup) add(f func(ctx context.Context) error) { *c = append(*c, f) }

func (c cleanup) run(w io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := len(c) - 1; i >= 0; i-- {
		if err := c[i](ctx); err != nil {
			fmt.Fprintln(w, "cleanup:", err)
		}
	}
}

func run(ctx context.Context, args []string, out io.Writer, environ []string) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	// The configuration comes through the same loader as any service's:
	// DB_POOL_SIZE, CIRCUIT_BREAKER_*, MAX_RETRY_ATTEMPTS... all apply.
	vars := envMap(environ)
	cfg, err := config.FromMap(vars)
	if err != nil {
		return err
	}
	var cl cleanup
	defer func() { cl.run(out) }() // not "defer cl.run(out)": that would bind the empty list
	start := time.Now()

	var containers devserver.ContainerRuntime
	if o.docker {
		containers = dockerserver.New(dockerserver.Config{})
	}
	step := time.Now()
	pgSrv, err := devserver.AcquirePostgres(ctx, devserver.AcquireConfig{
		URL: vars["DATABASE_URL"], URLName: "DATABASE_URL", Containers: containers,
	})
	if err != nil {
		return err
	}
	cl.add(pgSrv.Stop)
	fmt.Fprintf(out, "postgres  %-9s %s (%s)\n", pgSrv.Source, devserver.RedactURL(pgSrv.URL), since(step))

	step = time.Now()
	redisSrv, err := devserver.AcquireRedis(ctx, devserver.AcquireConfig{
		URL: vars["REDIS_URL"], URLName: "REDIS_URL", Containers: containers,
	})
	if err != nil {
		return err
	}
	cl.add(redisSrv.Stop)
	fmt.Fprintf(out, "redis     %-9s %s (%s)\n", redisSrv.Source, devserver.RedactURL(redisSrv.URL), since(step))

	step = time.Now()
	dsn, drop, err := createDatabase(ctx, pgSrv.URL)
	if err != nil {
		return err
	}
	cl.add(drop)

	// The demo's database is new: Open always migrates it.
	cfg.Database.URL, cfg.Redis.URL, cfg.Database.AutoMigrate = dsn, redisSrv.URL, true
	if cfg.Database.ApplicationName == config.Defaults(cfg.Profile).Database.ApplicationName {
		cfg.Database.ApplicationName = "datalayer-demo"
	}
	prefix := o.prefix
	if prefix == "" {
		prefix = "demo-" + randomHex(4)
	}
	counters := &observer{}
	dl, err := datalayer.OpenWith(ctx, cfg, stores.Options{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Cache: func(c *cache.Config) {
			c.Prefix, c.Observer, c.ClientName = prefix, counters, "datalayer-demo"
		},
	})
	if err != nil {
		return err
	}
	cl.add(func(ctx context.Context) error {
		err := dl.Close(ctx)
		if redisSrv.Source == devserver.SourceURL { // a server we keep: remove our keys
			err = errors.Join(err, deleteKeys(ctx, redisSrv.URL, prefix))
		}
		return err
	})
	files := 0
	if m := dl.Migrated(); m != nil {
		files = len(m.Files)
	}
	fmt.Fprintf(out, "database  %s, %d migration files applied (%s)\n", dbNameOf(dsn), files, since(step))
	rc := cfg.Resilience
	read, err := dl.Policies().Executor(resilience.Read, "", resilience.Profile{})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "config    APP_ENV=%s, pool max %d connections, breaker %s (threshold %d), %d attempts per read\n",
		cfg.Profile, dl.Pool().Config().MaxConns, onOff(rc.BreakerEnabled), rc.BreakerThreshold, read.Effective().RetryAttempts)
	fmt.Fprintf(out, "cache     key prefix %q, client-side tier %s, schema version %s\n", prefix, onOff(cfg.Redis.ClientCache), db.SchemaVersion)
	if max := int(dl.Pool().Config().MaxConns); o.workers > max {
		fmt.Fprintf(out, "note      %d workers share %d connections (DB_POOL_SIZE + DB_MAX_OVERFLOW)\n", o.workers, max)
	}

	step = time.Now()
	// Seeding runs on a runtime of its own, so the report shows the
	// workload only.
	seedRT, err := repo.New(repo.Config{Cache: dl.Cache(), Policies: dl.Policies()})
	if err != nil {
		return err
	}
	data, err := seed(ctx, db.NewRepository(dl.DB(), seedRT), o.agents)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(out, "seed      %s (%s)\n", data.summary(), since(step))

	fmt.Fprintf(out, "workload  %s, %d workers, ~90%% reads (zipf over agents), ~10%% writes\n\n", o.duration, o.workers)
	step = time.Now()
	res := runWorkload(ctx, dl.Repo, data, o.workers, o.duration)
	elapsed := time.Since(step)

	printReport(out, dl.Runtime().Stats(), res, counters, dl.Policies(), dl.Cache(), elapsed)
	fmt.Fprintf(out, "\ndone in %s; stopping what was started\n", since(start))
	if ctx.Err() != nil {
		return errors.New("interrupted: the workload stopped early")
	}
	return nil
}

// envMap turns KEY=value entries into a map (later entries win).
func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// createDatabase creates a fresh database on the server of adminURL and
// returns its DSN and a function that drops it.
func createDatabase(ctx context.Context, adminURL string) (string, func(context.Context) error, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("DATABASE_URL must be a postgres:// URL, got %s", devserver.RedactURL(adminURL))
	}
	name := "datalayer_demo_" + randomHex(4)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %s", devserver.RedactURL(adminURL), redactIn(err, adminURL))
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return fmt.Errorf("drop database %s: %s", name, redactIn(err, adminURL))
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

func dbNameOf(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return strings.TrimPrefix(u.Path, "/")
	}
	return "?"
}

// redactIn removes the password of dsn from err's text (pgx may quote it).
func redactIn(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// deleteKeys removes the demo's keys from a Redis it did not start.
func deleteKeys(ctx context.Context, redisURL, prefix string) error {
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	opt.DisableCache = true
	client, err := rueidis.NewClient(opt)
	if err != nil {
		return fmt.Errorf("redis cleanup: %s", redactIn(err, redisURL))
	}
	defer client.Close()
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+":*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return fmt.Errorf("redis cleanup: %w", err)
		}
		// One key per UNLINK: keys of different hash tags may live on
		// different cluster nodes.
		cmds := make(rueidis.Commands, len(e.Elements))
		for i, k := range e.Elements {
			cmds[i] = client.B().Unlink().Key(k).Build()
		}
		for _, r := range client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return fmt.Errorf("redis cleanup: %w", err)
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return nil
		}
	}
}
