// Command agentsvc is an example service on the data layer: a small JSON
// HTTP API over agents, tasks, workflows and executions, built only from
// the module's public packages.
//
//	DATABASE_URL=postgres://... REDIS_URL=redis://... AUTO_MIGRATE=true go run ./cmd/agentsvc
//	make serve   # the same against throwaway PostgreSQL and Redis
//
// Configuration comes from the environment: every data-layer variable
// through config.Load (DATABASE_URL, REDIS_URL, DB_POOL_SIZE, AUTO_MIGRATE,
// ...; see config/doc.go) and two of its own:
//
//	AGENTSVC_ADDR          listen address (default 127.0.0.1:8080; ":8080" for every interface)
//	AGENTSVC_EVENTS_PREFIX Redis channel prefix of its events (default "agentsvc:ev")
//
// With BACKUP_ENABLED=true and AUTO_BACKUP_ENABLED=true it also runs the
// backup scheduler (the BACKUP_* variables through config.LoadBackup):
// every instance checks every BACKUP_INTERVAL_HOURS/4 whether a backup is
// due, and only the one holding the PostgreSQL advisory lock makes it, so
// many instances make one backup per interval. Its state is the "backup"
// entry of /readyz (degraded after a failed round) and /debug/backups.
//
// It wires datalayer.Open (pool, cache, policies, migrations, health),
// httpmw (request IDs, Server-Timing accounting, access log, transactional
// handlers, 503 + Retry-After), telemetry (OpenTelemetry metrics exported
// in Prometheus format on /metrics, a server span per request), debugpage
// (/debug/datalayer) and events (task status changes as server-sent
// events). SIGINT or SIGTERM shuts the HTTP server down gracefully (event
// streams end), stops the backup scheduler (a backup in progress is
// cancelled), then closes the data layer, which drains pending cache
// invalidations.
//
// Routes (JSON in and out; updates carry the version the client read and
// get 409 Conflict when it is stale):
//
//	GET   /livez, /readyz              liveness; readiness per store (503 when PostgreSQL is down)
//	GET   /metrics                     Prometheus exposition
//	GET   /debug/datalayer             the data layer's page (?format=json)
//	GET   /debug/backups               the backup scheduler's state (404 when it does not run)
//	POST  /users                       {email, display_name, role?}
//	POST  /agents                      {owner_id, name, kind?, description?, config?}
//	GET   /agents/{id}                 cached read
//	PATCH /agents/{id}                 {version, description?, config?}
//	POST  /workflows                   {owner_id, name, description?, definition?, steps: [{name, agent_id?, timeout_ms?, config?}]}: one transaction
//	GET   /workflows/{id}              the workflow and its steps
//	POST  /tasks                       {title, description?, priority?, assignee_agent_id?, workflow_id?, metadata?}
//	GET   /tasks/{id}                  cached read
//	POST  /tasks/{id}/transition       {status, version}; publishes a task status event after the change committed
//	GET   /tasks/events                server-sent events of every task's status changes
//	GET   /tasks/{id}/events           server-sent events of one task's status changes
//	POST  /executions                  {agent_id? | workflow_id?, triggered_by?, input?, start?}: one transaction
//	GET   /executions/{id}             cached read
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentical/datalayer"
	"github.com/agentical/datalayer/backup"
	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/debugpage"
	"github.com/agentical/datalayer/events"
	"github.com/agentical/datalayer/health"
	"github.com/agentical/datalayer/httpmw"
	"github.com/agentical/datalayer/migrations"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/stores"
	"github.com/agentical/datalayer/telemetry"
)

// Defaults of the service's own variables.
const (
	defaultAddr         = "127.0.0.1:8080"
	defaultEventsPrefix = "agentsvc:ev"
	shutdownTimeout     = 15 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(httpmw.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	err := run(ctx, os.Environ(), logger)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentsvc:", err)
		os.Exit(1)
	}
}

// settings are the service's own variables (the data layer's come through
// config.Load).
type settings struct {
	addr         string
	eventsPrefix string
}

func loadSettings(environ []string) settings {
	s := settings{addr: defaultAddr, eventsPrefix: defaultEventsPrefix}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case v == "":
		case k == "AGENTSVC_ADDR":
			s.addr = v
		case k == "AGENTSVC_EVENTS_PREFIX":
			s.eventsPrefix = v
		}
	}
	return s
}

// run serves until ctx ends, then shuts down: HTTP server first (requests
// in flight finish, event streams end), then the event bus and the data
// layer.
func run(ctx context.Context, environ []string, logger *slog.Logger) (err error) {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	st := loadSettings(environ)
	sched, err := openBackupScheduler(ctx, environ, logger)
	if err != nil {
		return err
	}
	// Stops nothing once the shutdown below stopped it; closes its store
	// when opening the data layer fails.
	defer func() { _ = stopScheduler(sched) }()
	var extraChecks []health.Check
	if sched != nil {
		extraChecks = append(extraChecks, backupCheck(sched))
	}

	// Telemetry: OTel metrics exported in Prometheus format on /metrics;
	// a tracer provider without exporter still gives every request a trace
	// ID for slow-query lines and the access log.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	tp := sdktrace.NewTracerProvider()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, mp.Shutdown(sctx), tp.Shutdown(sctx))
	}()
	tel, err := telemetry.New(telemetry.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		return err
	}

	dl, err := datalayer.OpenWith(ctx, cfg, stores.Options{
		Logger: logger,
		Health: health.Config{Checks: extraChecks},
		// otelpgx first, then the data layer's own tracer (slow queries,
		// per-request accounting).
		Postgres: func(pc *postgres.Config) { pc.Tracer = tel.PgxTracer(pc.Tracer) },
		Resilience: func(rc *resilience.Config) {
			rc.OnRetry = tel.Retried
			rc.OnStateChange = tel.BreakerChanged("postgres")
		},
		Runtime: func(rc *repo.Config) { rc.Observer = tel.MethodObserver() },
		Cache: func(cc *cache.Config) {
			if cc.Observer != nil {
				cc.Observer = tel.CacheObserver(cc.Observer)
			} else {
				cc.Observer = tel.CacheObserver()
			}
			cc.OnRedisStateChange = tel.BreakerChanged("redis")
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if cerr := dl.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close: %w", cerr))
		}
		logger.Info("agentsvc: data layer closed")
	}()
	if sched != nil {
		// Started once the migrations ran; deferred after dl.Close, so it
		// stops before the data layer closes.
		if err := sched.Start(ctx); err != nil {
			return err
		}
		defer func() {
			if serr := stopScheduler(sched); serr != nil {
				err = errors.Join(err, serr)
			}
			logger.Info("agentsvc: backup scheduler stopped")
		}()
	}

	rt, repository := dl.Runtime(), dl.Repo

	stopObserve, err := tel.Observe(telemetry.Sources{
		Pools:    map[string]*pgxpool.Pool{"main": dl.Pool()},
		Caches:   map[string]*cache.Cache{"main": dl.Cache()},
		Breakers: []telemetry.Breaker{{Name: "postgres", State: dl.Policies().State}},
	})
	if err != nil {
		return err
	}
	defer func() { _ = stopObserve() }()

	bus, err := events.New(dl.Cache().Client(), events.Config{Prefix: st.eventsPrefix, Logger: logger})
	if err != nil {
		return err
	}

	a := &api{
		repo:   repository,
		bus:    bus,
		log:    logger,
		txConf: httpmw.TxConfig{DB: dl.DB(), BeginTimeout: 2 * time.Second, Options: postgres.TxOptions{OnRetry: tel.TxRetried}},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /livez", dl.Health().Live())
	mux.Handle("GET /readyz", dl.Health().Ready())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /debug/datalayer", debugpage.Handler(debugpage.Config{Title: "agentsvc", Runtime: rt, Pool: dl.Pool(), Tracer: dl.Tracer()}))
	if sched != nil {
		mux.Handle("GET /debug/backups", sched.Handler())
	}
	a.routes(mux)
	handler := tel.Middleware(httpmw.New(httpmw.Config{Logger: logger})(mux))

	ln, err := net.Listen("tcp", st.addr)
	if err != nil {
		return fmt.Errorf("AGENTSVC_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: event streams are long; SSEHandler bounds each write.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutdown does not cancel requests in flight: closing the bus ends the
	// event streams so Shutdown does not wait for their clients.
	srv.RegisterOnShutdown(func() { _ = bus.Close() })
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("agentsvc: listening", "addr", ln.Addr().String(), "profile", string(cfg.Profile))

	select {
	case err := <-serveErr:
		_ = bus.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("agentsvc: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	_ = bus.Close()
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// openBackupScheduler returns the backup scheduler when BACKUP_ENABLED and
// AUTO_BACKUP_ENABLED are true (nil otherwise); it does not run until
// Start.
func openBackupScheduler(ctx context.Context, environ []string, logger *slog.Logger) (*backup.Scheduler, error) {
	bc, err := config.LoadBackup(environ)
	if err != nil {
		return nil, err
	}
	if !bc.SchedulerWanted() {
		if bc.AutoEnabled {
			logger.Warn("agentsvc: AUTO_BACKUP_ENABLED is true but BACKUP_ENABLED is not: no scheduled backups")
		}
		return nil, nil
	}
	bc.Logger = logger.With("component", "backup")
	bc.Migrations = migrations.FS
	s, err := backup.OpenScheduler(ctx, bc, backup.SchedulerConfig{})
	if err != nil {
		return nil, err
	}
	st := s.Status()
	logger.Info("agentsvc: backup scheduler on", "kind", string(st.Kind), "interval", st.Interval.String())
	return s, nil
}

func stopScheduler(s *backup.Scheduler) error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return s.Stop(ctx)
}

// backupCheck reports the scheduler in readiness as "backup": degraded
// (never down: the service can serve without backups) after a failed
// round, with the error.
func backupCheck(s *backup.Scheduler) health.Check {
	return health.Check{Name: "backup", Probe: func(context.Context) health.Status {
		st := s.Status()
		if st.Failures == 0 {
			return health.Status{State: health.Up}
		}
		return health.Status{
			State: health.Degraded,
			Error: st.LastError,
			Notes: []string{fmt.Sprintf("%d scheduled backup rounds failed in a row; last backup %s", st.Failures, describeLast(st))},
		}
	}}
}

func describeLast(st backup.SchedulerStatus) string {
	if st.LastBackupID == "" {
		return "unknown"
	}
	return st.LastBackupID + " at " + st.LastBackupAt.Format(time.RFC3339)
}
