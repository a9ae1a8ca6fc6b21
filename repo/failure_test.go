package repo_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/resilience"
)

// redisOutageCache is the cache configuration of the outage tests: short
// timeouts and breaker delay so the test runs in seconds.
func redisOutageCache(cfg *cache.Config) {
	cfg.RedisTimeout = 100 * time.Millisecond
	cfg.BreakerThreshold = 3
	cfg.BreakerDelay = 300 * time.Millisecond
	cfg.RetryInterval = 20 * time.Millisecond
	cfg.MaxRetryInterval = 100 * time.Millisecond
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestRedisStoppedMidTest stops a private Redis under a running repository:
// reads fall back to the database and stay correct, writes succeed, and once
// the cache's breaker is open reads make no Redis attempts at all. After
// Redis comes back, pending invalidations are applied and caching resumes.
func TestRedisStoppedMidTest(t *testing.T) {
	ctx := context.Background()
	r := testinfra.PrivateRedis(t)
	target := testinfra.RedisTarget{Addr: r.Addr(), Prefix: "outage:"}
	e := newEnv(t, envOptions{redis: &target, cache: redisOutageCache})
	// Another process that has the row in its in-process tier.
	other := newEnv(t, envOptions{dsn: e.DSN, redis: &target, cache: redisOutageCache})
	owner := e.user(t).ID
	a := e.agent(t, owner)
	others := make([]db.Agent, 12)
	for i := range others {
		others[i] = e.agent(t, owner)
	}
	getA := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	warm(t, e, "GetAgent", getA)
	otherGetA := func() (db.Agent, error) { return other.Repo.GetAgent(ctx, a.ID) }
	warm(t, other, "GetAgent", otherGetA)

	noErr(t, r.Stop(ctx))

	// Reads of values never cached need Redis: they fail open to the
	// database, and after BreakerThreshold failures the breaker stops
	// trying Redis.
	var lat []time.Duration
	for i, o := range others {
		start := time.Now()
		got, err := e.Repo.GetAgent(ctx, o.ID)
		lat = append(lat, time.Since(start))
		if err != nil || got.ID != o.ID {
			t.Fatalf("read %d with Redis down: %v", i, err)
		}
	}
	if e.Cache.RedisAvailable() {
		t.Fatal("cache breaker still closed with Redis down")
	}
	errs := e.Obs.Errors.Load()
	var openLat []time.Duration
	for _, o := range others {
		start := time.Now()
		if _, err := e.Repo.GetAgent(ctx, o.ID); err != nil {
			t.Fatal(err)
		}
		openLat = append(openLat, time.Since(start))
	}
	if got := e.Obs.Errors.Load(); got != errs {
		t.Errorf("%d Redis errors while the breaker was open: reads still try Redis", got-errs)
	}
	t.Logf("Redis down: first reads %v; breaker open: median %v max %v", lat[:4], median(openLat), slices.Max(openLat))

	// Writes succeed; their invalidation is pending, and reads of what they
	// changed are fresh in this process.
	e.setAgentStatus(t, a.ID, db.AgentStatusActive)
	if e.Cache.Pending() == 0 {
		t.Error("no pending invalidation after a write with Redis down")
	}
	if got := must[db.Agent](t)(getA()); got.Status != db.AgentStatusActive {
		t.Errorf("read after write with Redis down = %s, want active", got.Status)
	}
	// The other process lost its Redis connection, which flushes its
	// in-process tier: it reads the database. Poll: the connection loss is
	// noticed asynchronously.
	stale := 0
	waitFor(t, "the other process to see the write", time.Second, func() bool {
		if got := must[db.Agent](t)(otherGetA()); got.Status == db.AgentStatusActive {
			return true
		}
		stale++
		time.Sleep(time.Millisecond)
		return false
	})
	t.Logf("other process with Redis down: %d stale reads before the fresh one", stale)

	noErr(t, r.Start(ctx))
	waitFor(t, "pending invalidations applied", 10*time.Second, func() bool { return e.Cache.Pending() == 0 })
	// Caching resumes: some read is served without the database again.
	waitFor(t, "caching to resume", 10*time.Second, func() bool {
		q := e.Tracer.count("GetAgent")
		if _, err := e.Repo.GetAgent(ctx, others[0].ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let a fill land
		return e.Tracer.count("GetAgent") == q
	})
	if got := must[db.Agent](t)(getA()); got.Status != db.AgentStatusActive {
		t.Errorf("read after Redis came back = %s, want active", got.Status)
	}
	warm(t, e, "GetAgent", getA)
}

// TestRedisHung pauses all traffic to Redis (a partition: connections stay
// open, nothing answers). Reads pay the Redis timeout only until the cache's
// breaker opens; after that they add no Redis latency.
func TestRedisHung(t *testing.T) {
	ctx := context.Background()
	shared := testinfra.Redis(t)
	p := newProxy(t, shared.Addr)
	target := shared
	target.Addr = p.Addr()
	e := newEnv(t, envOptions{redis: &target, cache: redisOutageCache})
	owner := e.user(t).ID
	others := make([]db.Agent, 10)
	for i := range others {
		others[i] = e.agent(t, owner)
	}
	p.Pause()
	var lat []time.Duration
	for _, o := range others {
		start := time.Now()
		got, err := e.Repo.GetAgent(ctx, o.ID)
		lat = append(lat, time.Since(start))
		if err != nil || got.ID != o.ID {
			t.Fatalf("read with Redis hung: %v", err)
		}
	}
	errs := e.Obs.Errors.Load()
	if errs != 3 || e.Cache.RedisAvailable() {
		t.Errorf("Redis errors = %d (breaker open %v), want 3 then open", errs, !e.Cache.RedisAvailable())
	}
	// Only the reads before the breaker opened waited for Redis.
	for i, d := range lat[3:] {
		if d >= 100*time.Millisecond {
			t.Errorf("read %d after the breaker opened took %v (>= RedisTimeout)", i+3, d)
		}
	}
	t.Logf("Redis hung (RedisTimeout 100ms): read latencies %v", lat)
	// A write goes through at database speed; its invalidation is pending.
	start := time.Now()
	e.setAgentStatus(t, others[0].ID, db.AgentStatusPaused)
	t.Logf("write with Redis hung and breaker open: %v", time.Since(start))
	p.Resume()
	waitFor(t, "pending invalidations applied", 10*time.Second, func() bool { return e.Cache.Pending() == 0 })
	if got := must[db.Agent](t)(e.Repo.GetAgent(ctx, others[0].ID)); got.Status != db.AgentStatusPaused {
		t.Errorf("read after Resume = %s, want paused", got.Status)
	}
}

// pgProxyEnv is a repository whose pool reaches PostgreSQL through a proxy
// the test controls, with no cache (every read goes to the database) and a
// small, fast breaker. dials counts connection attempts.
func pgProxyEnv(t *testing.T, pol resilience.Config) (*env, *tcpProxy, *atomic.Int64) {
	t.Helper()
	dsn := testinfra.Postgres(t)
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	portN, _ := strconv.Atoi(port)
	dials := new(atomic.Int64)
	e := newEnv(t, envOptions{dsn: dsn, noCache: true, policies: pol, pool: func(c *pgxpool.Config) {
		c.ConnConfig.Host, c.ConnConfig.Port = host, uint16(portN)
		c.ConnConfig.Fallbacks = nil
		c.ConnConfig.ConnectTimeout = time.Second
		dial := c.ConnConfig.DialFunc
		c.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dial(ctx, network, addr)
		}
	}})
	return e, p, dials
}

func TestPostgresUnreachableOpensBreaker(t *testing.T) {
	ctx := context.Background()
	const delay = 500 * time.Millisecond
	var mu sync.Mutex
	var changes []resilience.StateChange
	var openedAt time.Time
	e, p, dials := pgProxyEnv(t, resilience.Config{
		BreakerThreshold: 3, BreakerDelay: delay, BreakerMinDelay: -1, Timeout: time.Second, // fixed delay
		OnStateChange: func(c resilience.StateChange) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, c)
			if c.To == resilience.Open {
				openedAt = time.Now()
			}
		},
	})
	a := e.agent(t, e.user(t).ID)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	must[db.Agent](t)(get())

	p.Stop()
	var failures int
	for e.Pol.State() != resilience.Open {
		_, err := get()
		if err == nil {
			t.Fatal("read succeeded with PostgreSQL unreachable")
		}
		if errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("ErrOpen before the breaker opened: %v", err)
		}
		if !resilience.IsInfrastructure(err) {
			t.Errorf("failure %d is not an infrastructure error: %v", failures, err)
		}
		if failures++; failures > 10 {
			t.Fatalf("breaker still %s after %d failures", e.Pol.State(), failures)
		}
	}
	if failures != 3 {
		t.Errorf("breaker opened after %d failed calls, want BreakerThreshold 3", failures)
	}

	// Open: calls fail at once, without touching the network.
	d0 := dials.Load()
	var lat []time.Duration
	for range 20 {
		start := time.Now()
		_, err := get()
		lat = append(lat, time.Since(start))
		if !errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("read with breaker open: %v, want ErrOpen", err)
		}
	}
	_, err := e.Repo.CreateUser(ctx, db.CreateUserParams{Email: randName("u") + "@example.com", DisplayName: "x", Role: db.UserRoleViewer})
	if !errors.Is(err, resilience.ErrOpen) {
		t.Errorf("write with breaker open: %v, want ErrOpen", err)
	}
	if d := dials.Load() - d0; d != 0 {
		t.Errorf("%d connection attempts while the breaker was open", d)
	}
	t.Logf("breaker open: ErrOpen median %v max %v", median(lat), slices.Max(lat))
	// :copyfrom goes through the same policies.
	_, err = e.Repo.InsertExecutionEvents(ctx, []db.InsertExecutionEventsParams{{ExecutionID: uuid.New(), Kind: db.ExecutionEventKindLog, Payload: []byte(`{}`)}})
	if !errors.Is(err, resilience.ErrOpen) {
		t.Errorf(":copyfrom with breaker open: %v, want ErrOpen", err)
	}
	// So should :batch* methods ("every method runs under the policies").
	var batchErr error
	e.Repo.BumpTaskPriority(ctx, []uuid.UUID{uuid.New()}).Exec(func(_ int, err error) { batchErr = err })
	if !errors.Is(batchErr, resilience.ErrOpen) {
		t.Errorf(":batchexec with breaker open: %v, want ErrOpen", batchErr)
	}

	// Recovery: once the database is back, the first call after the
	// breaker delay is a trial that closes it.
	p.Start(t)
	var recovered time.Time
	waitFor(t, "recovery", 10*time.Second, func() bool {
		_, err := get()
		if err == nil {
			recovered = time.Now()
			return true
		}
		if !errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("read after the database came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
		return false
	})
	mu.Lock()
	opened := openedAt
	mu.Unlock()
	if since := recovered.Sub(opened); since < delay {
		t.Errorf("recovered %v after opening, before the breaker delay %v", since, delay)
	} else {
		t.Logf("recovered %v after the breaker opened (delay %v)", since, delay)
	}
	if s := e.Pol.State(); s != resilience.Closed {
		t.Errorf("breaker %s after a successful trial, want closed", s)
	}
	mu.Lock()
	defer mu.Unlock()
	var states []string
	for _, c := range changes {
		states = append(states, c.To.String())
	}
	if !slices.Equal(states, []string{"open", "half-open", "closed"}) {
		t.Errorf("breaker transitions %v, want open, half-open, closed", states)
	}
}

// A database that accepts connections but does not answer: per-attempt
// timeouts are infrastructure failures too.
func TestPostgresHungOpensBreaker(t *testing.T) {
	ctx := context.Background()
	e, p, _ := pgProxyEnv(t, resilience.Config{BreakerThreshold: 2, BreakerDelay: 300 * time.Millisecond, Timeout: 150 * time.Millisecond, RetryAttempts: 1})
	id := uuid.New()
	get := func() error { _, err := e.Repo.GetAgent(ctx, id); return err }
	// Open a connection outside the policies: connecting may take longer
	// than the short attempt timeout on a loaded machine.
	noErr(t, e.Pool.Ping(ctx))
	if err := get(); !postgres.IsNotFound(err) {
		t.Fatal(err)
	}
	p.Pause()
	for i := range 2 {
		if err := get(); !errors.Is(err, resilience.ErrTimeout) {
			t.Fatalf("hung read %d: %v, want ErrTimeout", i, err)
		}
	}
	start := time.Now()
	if err := get(); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("read after 2 timeouts: %v, want ErrOpen", err)
	}
	t.Logf("ErrOpen after timeouts in %v", time.Since(start))
	p.Resume()
	waitFor(t, "recovery", 10*time.Second, func() bool {
		time.Sleep(20 * time.Millisecond)
		return postgres.IsNotFound(get())
	})
}

// A transaction that committed while Redis was down has succeeded: the
// autocommit path reports success in that case (the invalidation stays
// pending and is retried), and InTx must too, or callers retry a committed
// transaction.
func TestInTxCommittedWhileRedisDown(t *testing.T) {
	ctx := context.Background()
	r := testinfra.PrivateRedis(t)
	e := newEnv(t, envOptions{redis: &testinfra.RedisTarget{Addr: r.Addr(), Prefix: "outage:"}, cache: redisOutageCache})
	a := e.agent(t, e.user(t).ID)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	warm(t, e, "GetAgent", get)
	noErr(t, r.Stop(ctx))

	// Autocommit write: success.
	e.setAgentStatus(t, a.ID, db.AgentStatusActive)
	// The same write in InTx.
	err := e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, tx *db.Repository) error {
		n, err := tx.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: a.Version + 1})
		if err == nil && n != 1 {
			err = errors.New("not updated")
		}
		return err
	})
	if got := must[db.Agent](t)(e.Raw.GetAgent(ctx, a.ID)); got.Status != db.AgentStatusPaused {
		t.Fatalf("transaction did not commit: %s (InTx err %v)", got.Status, err)
	}
	if err != nil {
		t.Errorf("InTx committed but returned %v (errors.Is ErrInvalidationPending: %v)", err, errors.Is(err, cache.ErrInvalidationPending))
	}
	if got := must[db.Agent](t)(get()); got.Status != db.AgentStatusPaused {
		t.Errorf("read after InTx with Redis down = %s, want paused", got.Status)
	}
	noErr(t, r.Start(ctx))
	waitFor(t, "pending invalidations applied", 10*time.Second, func() bool { return e.Cache.Pending() == 0 })
}
