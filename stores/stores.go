package stores

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/health"
	"github.com/agentical/datalayer/migrate"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/surreal"
)

// Defaults for zero Options fields.
const (
	DefaultStartupTimeout = 30 * time.Second
	DefaultOptionalWait   = 5 * time.Second
	DefaultBackoffBase    = 100 * time.Millisecond
	DefaultBackoffMax     = 2 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
)

// Options are what Open needs beyond the Config: what the generated code
// and the service supply. The zero value works for a project without
// migrations or method checks.
type Options struct {
	// Logger receives start-up attempts, migration progress, slow queries
	// and breaker changes (default slog.Default()).
	Logger *slog.Logger
	// SchemaVersion is the generated package's SchemaVersion; it is part of
	// every cache key.
	SchemaVersion string
	// Methods is the generated package's Methods(): checked at start-up
	// (Runtime.Check), so an unknown `-- @policy` fails Open.
	Methods []*repo.Method
	// Migrations holds the migration files (*.sql and atlas.sum at its root,
	// as embedded by a migrations package). With AUTO_MIGRATE they are
	// applied before Open returns; in any case a database that has
	// migrations this build does not know is refused (ErrDatabaseAhead), one
	// that is behind is logged, and readiness compares the versions.
	Migrations fs.FS
	// Migrate configures the migrator (revisions schema, lock timeout).
	Migrate migrate.Config

	// StartupTimeout is how long Open waits for PostgreSQL to answer, with
	// capped exponential backoff between attempts (default 30s; ctx's
	// deadline when earlier).
	StartupTimeout time.Duration
	// OptionalWait is how long Open waits for Redis and SurrealDB before it
	// goes on without them (default 5s): the cache then fails open and
	// reconnects by itself, SurrealDB is connected in the background, and
	// readiness reports them degraded meanwhile.
	OptionalWait time.Duration
	// BackoffBase and BackoffMax bound the delay between start-up attempts
	// (defaults 100ms and 2s).
	BackoffBase, BackoffMax time.Duration
	// DrainTimeout bounds Close's waits: for operations in flight, for
	// pending cache invalidations and for the pool (default 10s).
	DrainTimeout time.Duration

	// Health configures the readiness checks (timeout, reuse period).
	Health health.Config

	// Postgres, Cache and Surreal, if set, adjust a component's
	// configuration after it was mapped from the Config (key prefix,
	// observer, pool hooks...).
	Postgres func(*postgres.Config)
	Cache    func(*cache.Config)
	Surreal  func(*surreal.Config)
	// Resilience and Runtime, if set, adjust the policies' and the
	// repository runtime's configuration the same way (retry and breaker
	// callbacks, the per-method observer).
	Resilience func(*resilience.Config)
	Runtime    func(*repo.Config)
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StartupTimeout, DefaultStartupTimeout)
	def(&o.OptionalWait, DefaultOptionalWait)
	def(&o.BackoffBase, DefaultBackoffBase)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.DrainTimeout, DefaultDrainTimeout)
}

// Stores holds every store of one service. Build it with Open; Close it
// once. Its accessors are safe for concurrent use.
type Stores struct {
	cfg  config.Config
	opts Options
	log  *slog.Logger

	pool        *pgxpool.Pool
	gate        *gate
	db          *postgres.BoundedPool // the pool behind the gate, for repositories
	tracer      *postgres.Tracer
	cache       *cache.Cache
	redisClient rueidis.Client // ours to close when the cache does not own it
	tap         *invalidationTap
	policies    *resilience.Policies
	runtime     *repo.Runtime
	migrated    *migrate.ApplyResult
	checker     *health.Checker

	surreal     atomic.Pointer[surreal.Store]
	surrealStop context.CancelFunc
	surrealDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open builds every store from cfg (see the package doc for the order and
// what is waited for). It returns an error when PostgreSQL does not answer
// within Options.StartupTimeout (naming the host, never the password), when
// migrations fail or the database is ahead of them, or when a method check
// fails. Redis and SurrealDB being down is not an error.
func Open(ctx context.Context, cfg config.Config, opts Options) (_ *Stores, err error) {
	opts.setDefaults()
	if err := checkDatabaseURL(cfg.Database.URL); err != nil {
		return nil, err
	}
	s := &Stores{cfg: cfg, opts: opts, log: opts.Logger}
	defer func() {
		if err != nil {
			s.abort()
		}
	}()

	rc := cfg.ResiliencePolicies()
	rc.Logger = s.log
	if opts.Resilience != nil {
		opts.Resilience(&rc)
	}
	if s.policies, err = resilience.New(rc); err != nil {
		return nil, fmt.Errorf("stores: resilience policies: %w", err)
	}

	// PostgreSQL, Redis and SurrealDB are waited for at the same time.
	var wg sync.WaitGroup
	var pgErr, cacheErr error
	wg.Go(func() { pgErr = s.openPostgres(ctx) })
	wg.Go(func() { cacheErr = s.openCache(ctx) })
	if cfg.Surreal.Enabled() {
		s.startSurreal(ctx)
	}
	wg.Wait()
	if pgErr != nil {
		return nil, pgErr
	}
	if cacheErr != nil {
		return nil, cacheErr
	}

	if err := s.migrate(ctx); err != nil {
		return nil, err
	}

	rtc := repo.Config{Cache: s.cache, Policies: s.policies}
	if opts.Runtime != nil {
		opts.Runtime(&rtc)
	}
	if s.runtime, err = repo.New(rtc); err != nil {
		return nil, fmt.Errorf("stores: repository runtime: %w", err)
	}
	if len(opts.Methods) > 0 {
		if err := s.runtime.Check(opts.Methods); err != nil {
			return nil, fmt.Errorf("stores: %w", err)
		}
	}
	s.gate = &gate{}
	s.db = postgres.Bounded(s.pool, cfg.Database.PoolTimeout).Admit(s.gate)

	checks := []health.Check{health.Postgres(s.pool, health.PostgresOptions{
		Policies: s.policies, Migrations: opts.Migrations, Migrate: opts.Migrate,
	}), health.Redis(s.cache)}
	if cfg.Surreal.Enabled() {
		checks = append(checks, health.Surreal(s.Surreal))
	}
	hc := opts.Health
	hc.Checks = append(checks, hc.Checks...)
	s.checker = health.New(hc)
	return s, nil
}

// checkDatabaseURL refuses anything but a PostgreSQL URL or key=value DSN.
func checkDatabaseURL(raw string) error {
	if raw == "" {
		return fmt.Errorf("stores: DATABASE_URL is empty: %w", ErrNotRelational)
	}
	u, err := url.Parse(raw)
	if err == nil && u.Scheme != "" && u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("%w: DATABASE_URL must be a postgres:// or postgresql:// URL, got a %s: URL (%s)", ErrNotRelational, u.Scheme, postgres.RedactDSN(raw))
	}
	return nil
}

// hostOf names the server of a PostgreSQL URL for messages: host:port,
// never user or password.
func hostOf(dsn string) string {
	if pc, err := pgxpool.ParseConfig(dsn); err == nil {
		return fmt.Sprintf("%s:%d", pc.ConnConfig.Host, pc.ConnConfig.Port)
	}
	return "(unparsable DATABASE_URL)"
}

// retry calls try until it succeeds, ctx ends or deadline passes, sleeping
// with capped exponential backoff and logging every failed attempt. It
// returns the last error and the number of attempts.
func (s *Stores) retry(ctx context.Context, what string, deadline time.Time, try func(ctx context.Context) error) (int, error) {
	delay := s.opts.BackoffBase
	var prev error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithDeadline(ctx, deadline)
		err := try(actx)
		cancel()
		if err != nil && prev != nil && errors.Is(err, context.DeadlineExceeded) {
			err = prev // the deadline cut the last attempt short: the one before says why
		}
		prev = err
		if err == nil {
			if attempt > 1 {
				s.log.Info("stores: "+what+" is up", "attempt", attempt)
			}
			return attempt, nil
		}
		if ctx.Err() != nil {
			return attempt, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.log.Warn("stores: "+what+" not reachable", "attempt", attempt, "err", err.Error(), "giving_up", true)
			return attempt, err
		}
		wait := min(delay, left)
		s.log.Warn("stores: "+what+" not reachable, waiting", "attempt", attempt, "retry_in", wait.String(), "err", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		case <-t.C:
		}
		delay = min(delay*2, s.opts.BackoffMax)
	}
}

func (s *Stores) deadline(ctx context.Context, d time.Duration) time.Time {
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	return dl
}

func (s *Stores) openPostgres(ctx context.Context) error {
	pc := s.cfg.DB()
	s.tracer = postgres.NewTracer(s.cfg.DBTracer(s.log))
	pc.Tracer = s.tracer
	if s.opts.Postgres != nil {
		s.opts.Postgres(&pc)
	}
	if _, err := pc.PoolConfig(); err != nil {
		return fmt.Errorf("stores: %w", err) // a bad URL does not get better by waiting
	}
	host := hostOf(pc.URL)
	start := time.Now()
	n, err := s.retry(ctx, "postgres at "+host, s.deadline(ctx, s.opts.StartupTimeout), func(ctx context.Context) error {
		p, err := postgres.NewPool(ctx, pc)
		if err == nil {
			s.pool = p
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("stores: PostgreSQL at %s not reachable after %d attempts in %s: %w",
			host, n, time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}

// openCache connects the cache; when Redis does not answer within
// OptionalWait it builds the cache on a client that connects later (the
// cache fails open meanwhile).
func (s *Stores) openCache(ctx context.Context) error {
	cc, err := s.cfg.Cache(s.opts.SchemaVersion)
	if err != nil {
		return fmt.Errorf("stores: %w", err)
	}
	cc.Logger = s.log
	if s.opts.Cache != nil {
		s.opts.Cache(&cc)
	}
	if cc.Observer == nil {
		cc.Observer = cache.NopObserver{}
	}
	s.tap = &invalidationTap{Observer: cc.Observer}
	cc.Observer = s.tap
	addr := fmt.Sprint(cc.Addrs)
	_, err = s.retry(ctx, "redis at "+addr, s.deadline(ctx, s.opts.OptionalWait), func(ctx context.Context) error {
		c, err := cache.New(ctx, cc)
		if err == nil {
			s.cache = c
		}
		return err
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stores: %w", ctx.Err())
	}
	if cc.Client != nil || len(cc.Addrs) != 1 {
		return fmt.Errorf("stores: redis at %s: %w", addr, err)
	}
	// Go on without Redis: a single-node client that connects on first use.
	opt := cc.ClientOption()
	opt.ForceSingleClient = true
	client, dialErr := rueidis.NewClient(opt)
	if client == nil {
		return fmt.Errorf("stores: redis at %s: %w", addr, dialErr)
	}
	s.redisClient = client
	cc.Client = client
	if s.cache, err = cache.New(ctx, cc); err != nil {
		return fmt.Errorf("stores: cache: %w", err)
	}
	s.log.Warn("stores: going on without redis: the cache fails open until it answers", "addr", addr)
	return nil
}

// startSurreal connects SurrealDB within OptionalWait; if it does not
// answer, it keeps trying in the background until Close.
func (s *Stores) startSurreal(ctx context.Context) {
	sc := s.cfg.SurrealStore()
	sc.Logger = s.log
	if s.opts.Surreal != nil {
		s.opts.Surreal(&sc)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.surrealStop, s.surrealDone = stop, make(chan struct{})
	up := make(chan struct{})
	go func() {
		defer close(s.surrealDone)
		_, err := s.retry(bg, "surrealdb at "+surreal.Redact(sc.URL), time.Now().Add(100*365*24*time.Hour), func(ctx context.Context) error {
			st, err := surreal.Open(ctx, sc)
			if err == nil {
				s.surreal.Store(st)
				close(up)
			}
			return err
		})
		_ = err // only ends with Close (bg canceled)
	}()
	t := time.NewTimer(time.Until(s.deadline(ctx, s.opts.OptionalWait)))
	defer t.Stop()
	select {
	case <-up:
	case <-t.C:
		s.log.Warn("stores: going on without surrealdb; connecting in the background", "url", surreal.Redact(sc.URL))
	case <-ctx.Done():
	}
}

// migrate applies the migrations (AUTO_MIGRATE) and refuses a database
// that is ahead of them.
func (s *Stores) migrate(ctx context.Context) error {
	if s.opts.Migrations == nil {
		if s.cfg.Database.AutoMigrate {
			s.log.Warn("stores: AUTO_MIGRATE is set but no migrations were given (Options.Migrations): nothing applied")
		}
		return nil
	}
	mc := s.opts.Migrate
	if mc.Logger == nil {
		mc.Logger = s.log
	}
	if s.cfg.Database.AutoMigrate {
		res, err := migrate.AutoPool(ctx, s.pool, s.opts.Migrations, mc)
		if errors.Is(err, migrate.ErrUnknownRevision) {
			return fmt.Errorf("%w: %w", ErrDatabaseAhead, err)
		}
		if err != nil {
			return fmt.Errorf("stores: AUTO_MIGRATE: %w", err)
		}
		s.migrated = res // migrate logs each file
	}
	db := stdlibDB(s.pool)
	defer db.Close()
	dir := migrate.FSDir(s.opts.Migrations)
	st, err := migrate.New(mc).StatusDir(ctx, db, dir)
	if err != nil {
		return fmt.Errorf("stores: migration status: %w", err)
	}
	code := ""
	if files, err := dir.Files(); err == nil && len(files) > 0 {
		code = files[len(files)-1].Version()
	}
	var unknown []string
	for _, f := range st.Files {
		if f.State == migrate.StateUnknown {
			unknown = append(unknown, f.Name)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: it has %v applied, which this build does not know (its latest migration is %s); deploy the newer build or restore the database",
			ErrDatabaseAhead, unknown, code)
	}
	if n := st.Counts[migrate.StatePending]; n > 0 {
		s.log.Warn("stores: database is behind this build's migrations; set AUTO_MIGRATE=true or run the migrate command",
			"pending", n, "applied", st.Current, "code", code)
	}
	return nil
}

// abort releases what a failed Open built.
func (s *Stores) abort() {
	if s.surrealStop != nil {
		s.surrealStop()
		<-s.surrealDone
	}
	if st := s.surreal.Load(); st != nil {
		_ = st.Close(context.Background())
	}
	if s.cache != nil {
		_ = s.cache.Close()
	}
	if s.redisClient != nil {
		s.redisClient.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
}

// DB is what to hand a generated NewRepository: the pool, with every
// acquire bounded by DB_POOL_TIMEOUT (ErrPoolExhausted) and every call
// refused after Close (ErrClosed).
func (s *Stores) DB() repo.DB { return s.db }

// Pool is the PostgreSQL pool itself, for code that needs pgxpool (no
// acquire bound, not stopped by Close before the pool closes).
func (s *Stores) Pool() *pgxpool.Pool { return s.pool }

// Tracer is the query tracer (slow-query log, per-query statistics).
func (s *Stores) Tracer() *postgres.Tracer { return s.tracer }

// Cache is the Redis cache. It exists even when Redis was down at start-up.
func (s *Stores) Cache() *cache.Cache { return s.cache }

// Policies are the resilience policies of database calls (breaker state).
func (s *Stores) Policies() *resilience.Policies { return s.policies }

// Runtime is the repository runtime to hand a generated NewRepository.
func (s *Stores) Runtime() *repo.Runtime { return s.runtime }

// Migrated reports what AUTO_MIGRATE applied at start-up (nil without it).
func (s *Stores) Migrated() *migrate.ApplyResult { return s.migrated }

// Config is the configuration the stores were built from.
func (s *Stores) Config() config.Config { return s.cfg }

// Health is the readiness and liveness checker of every store; mount
// Health().Live() and Health().Ready().
func (s *Stores) Health() *health.Checker { return s.checker }

// Surreal returns the SurrealDB store: ErrSurrealNotConfigured without
// SURREALDB_URL, ErrSurrealUnavailable while it is still connecting,
// ErrClosed after Close.
func (s *Stores) Surreal() (*surreal.Store, error) {
	if !s.cfg.Surreal.Enabled() {
		return nil, ErrSurrealNotConfigured
	}
	if st := s.surreal.Load(); st != nil {
		return st, nil
	}
	return nil, ErrSurrealUnavailable
}

// invalidationTap notes when the cache last applied (or queued) an
// invalidation, so Close can wait for the ones that follow a write's last
// database call.
type invalidationTap struct {
	cache.Observer
	last atomic.Int64 // unix nanoseconds
}

func (t *invalidationTap) CacheInvalidate(e cache.InvalidateEvent) {
	t.last.Store(time.Now().UnixNano())
	t.Observer.CacheInvalidate(e)
}
