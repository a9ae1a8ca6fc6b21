package cache

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentical/datalayer/resilience"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/redis/rueidis"
)

// Options are per-call cache settings (generated from `-- @cache ttl=5m
// swr=1m negative=30s`). The zero value uses Config.DefaultTTL, no
// stale-while-revalidate and no negative caching.
type Options struct {
	// TTL is how long a value is fresh (0: Config.DefaultTTL).
	TTL time.Duration
	// SWR keeps a value this long past TTL: such a stale hit is returned at
	// once and one background refresh is started.
	SWR time.Duration
	// Negative > 0 caches not-found results (Config.IsNotFound) this long.
	Negative time.Duration
	// Strict reads version keys from Redis on this lookup even when
	// Config.Strict is off.
	Strict bool
}

// ErrInvalidationPending is matched by the error Invalidate returns when
// Redis could not be updated: the invalidation is queued, retried in the
// background, reported through Observer, and reads depending on it bypass
// the cache in this process meanwhile. The database write itself succeeded;
// callers normally log this and go on.
var ErrInvalidationPending = errors.New("cache: invalidation pending")

// ErrClosed is returned by Invalidate after Close.
var ErrClosed = errors.New("cache: closed")

// Cache is the cache-aside runtime: lookups, fills, leases, version keys and
// invalidation on one rueidis client. Safe for concurrent use; create one
// per process (or per Redis) and share it.
type Cache struct {
	cfg         Config
	client      rueidis.Client
	ownClient   bool
	clientCache bool
	prefix      string
	schema      string
	codec       *Codec
	memo        memo
	vmemo       *versionMemo // nil: not available (client not ours, or no in-process tier)
	obs         Observer
	breaker     circuitbreaker.CircuitBreaker[any]
	versionTTL  string

	mu    sync.Mutex
	calls map[string]*call

	// bumps remembers versions this process set, so its own reads never use
	// an older version from the in-process tier while the invalidation push
	// is in flight (read-your-writes within a process).
	bumpMu    sync.RWMutex
	bumps     map[string]localBump
	nbumps    atomic.Int32
	lastPrune time.Time

	pendMu   sync.Mutex
	pending  map[string]*pendingBump
	npending atomic.Int32
	wake     chan struct{}

	wg       sync.WaitGroup
	stop     chan struct{}
	loopDone chan struct{}
	closed   atomic.Bool

	hooks hooks
}

type hooks struct {
	// beforeFill runs in the fill goroutine after the load and before the
	// version check and SET (tests force interleavings here).
	beforeFill atomic.Pointer[func(valueKey string)]
}

type localBump struct {
	ver   int64
	until time.Time
}

type pendingBump struct {
	tables   []string
	rows     []RowRef
	since    time.Time
	attempts int
}

// call is one in-flight load of a value key in this process.
type call struct {
	done     chan struct{}
	val      any
	err      error
	data     []byte // encoded envelope, decoded by each waiter for its own copy
	canceled bool   // the leader's context ended: waiters load themselves
}

// New connects to Redis (or uses cfg.Client) and starts the invalidation
// retrier. Close releases both.
func New(ctx context.Context, cfg Config) (*Cache, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	c := &Cache{
		cfg:         cfg,
		client:      cfg.Client,
		clientCache: !cfg.DisableClientCache,
		prefix:      cfg.Prefix,
		schema:      cfg.SchemaVersion,
		codec:       NewCodec(cfg.CompressThreshold),
		memo:        memo{max: cfg.DecodedEntries},
		obs:         cfg.Observer,
		versionTTL:  strconv.FormatInt(cfg.VersionTTL.Milliseconds(), 10),
		calls:       make(map[string]*call),
		bumps:       make(map[string]localBump),
		pending:     make(map[string]*pendingBump),
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	if c.client == nil {
		opt := cfg.ClientOption()
		if c.clientCache {
			// Versions are memoized only on clients whose invalidation
			// pushes we see.
			c.vmemo = newVersionMemo(cfg.ClientTTL)
			opt.OnInvalidations = c.vmemo.onInvalidations
		}
		client, err := newClient(ctx, opt, cfg.Addrs)
		if err != nil {
			return nil, err
		}
		c.client, c.ownClient = client, true
	}
	c.breaker = circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil }).
		WithFailureThreshold(cfg.BreakerThreshold).
		WithDelay(cfg.BreakerDelay).
		OnStateChanged(c.breakerChanged).
		Build()
	go c.retryLoop()
	return c, nil
}

// Client returns the underlying rueidis client (e.g. for a SessionStore).
func (c *Cache) Client() rueidis.Client { return c.client }

// Codec returns the codec values are stored with.
func (c *Cache) Codec() *Codec { return c.codec }

// RedisAvailable reports whether the Redis breaker lets calls through.
func (c *Cache) RedisAvailable() bool { return !c.breaker.IsOpen() }

// RedisState returns the Redis breaker's state. Open means lookups go
// straight to the loader; an open breaker whose delay elapsed reports
// HalfOpen (the next lookup probes Redis).
func (c *Cache) RedisState() resilience.State {
	switch {
	case c.breaker.IsOpen() && c.breaker.RemainingDelay() <= 0:
		return resilience.HalfOpen
	case c.breaker.IsOpen():
		return resilience.Open
	case c.breaker.IsHalfOpen():
		return resilience.HalfOpen
	}
	return resilience.Closed
}

func (c *Cache) breakerChanged(e circuitbreaker.StateChangedEvent) {
	conv := func(s circuitbreaker.State) resilience.State {
		switch s {
		case circuitbreaker.OpenState:
			return resilience.Open
		case circuitbreaker.HalfOpenState:
			return resilience.HalfOpen
		}
		return resilience.Closed
	}
	m := e.Metrics()
	ch := resilience.StateChange{From: conv(e.OldState), To: conv(e.NewState), Failures: m.Failures(), Executions: m.Executions()}
	if l := c.cfg.Logger; l != nil {
		level := slogInfo
		if ch.To == resilience.Open {
			level = slogWarn
		}
		l.LogAttrs(context.Background(), level, "cache: redis breaker "+ch.To.String(), slogString("from", ch.From.String()))
	}
	if f := c.cfg.OnRedisStateChange; f != nil {
		f(ch)
	}
}

// Pending returns how many version bumps are waiting for a retry.
func (c *Cache) Pending() int { return int(c.npending.Load()) }

// Close stops the retrier, waits for background fills and closes the client
// if New created it. It returns an error if invalidations are still pending
// (they could not reach Redis; TTLs bound the staleness).
func (c *Cache) Close() error {
	c.mu.Lock()
	first := c.closed.CompareAndSwap(false, true)
	c.mu.Unlock()
	if !first {
		return nil
	}
	close(c.stop)
	<-c.loopDone
	c.wg.Wait()
	if c.ownClient {
		c.client.Close()
	}
	if n := c.Pending(); n > 0 {
		return fmt.Errorf("%w: closed with %d version bumps not applied", ErrInvalidationPending, n)
	}
	return nil
}

// lookup is the state of one Get between its Redis reads and its fill.
type lookup struct {
	key    Key
	opts   Options
	vkeys  []string
	vers   []int64
	tag    string
	vk     string
	lease  string // token of the lease this lookup holds
	leaseK string // key of that lease
	strict bool
}

type probeResult uint8

const (
	probeBypass probeResult = iota
	probeMiss
	probeHit
)

// probe reads the dependency versions and the value. It never returns an
// error: any Redis trouble is a bypass (fail open).
func (c *Cache) probe(ctx context.Context, key Key, opts Options) (*lookup, probeResult, []byte, Tier) {
	lk := &lookup{key: key, opts: opts, strict: opts.Strict || c.cfg.Strict}
	if c.closed.Load() || !c.breaker.TryAcquirePermit() {
		return lk, probeBypass, nil, 0
	}
	lk.vkeys = c.depKeys(key.Deps)
	if c.npending.Load() > 0 && c.anyPending(lk.vkeys) {
		c.breaker.RecordSuccess()
		return lk, probeBypass, nil, 0
	}
	rctx := newLazyTimeout(ctx, c.cfg.RedisTimeout)
	defer rctx.release()
	vers, local, err := c.readVersions(rctx, lk.vkeys, lk.strict)
	if err != nil {
		c.redisError(ctx, "versions", key.Query, err, true)
		return lk, probeBypass, nil, 0
	}
	lk.vers = vers
	lk.tag = c.tag(key, vers)
	lk.vk = c.valueKey(lk.tag)
	var resp rueidis.RedisResult
	if c.clientCache {
		resp = c.client.DoCache(rctx, c.client.B().Get().Key(lk.vk).Cache(), c.cfg.ClientTTL)
	} else {
		resp = c.client.Do(rctx, c.client.B().Get().Key(lk.vk).Build())
	}
	data, err := resp.AsBytes()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			c.breaker.RecordSuccess()
			return lk, probeMiss, nil, 0
		}
		c.redisError(ctx, "get", key.Query, err, true)
		return lk, probeBypass, nil, 0
	}
	c.breaker.RecordSuccess()
	tier := TierRemote
	if local && resp.IsCacheHit() {
		tier = TierLocal
	}
	return lk, probeHit, data, tier
}

// redisError reports err and feeds the Redis breaker. permit says whether
// the caller holds a breaker permit (exactly one record per permit).
func (c *Cache) redisError(ctx context.Context, op, query string, err error, permit bool) {
	callerGone := ctx.Err() != nil
	if permit {
		if callerGone {
			c.breaker.RecordSuccess() // the caller left; says nothing about Redis
		} else {
			c.breaker.RecordFailure()
		}
	} else if !callerGone && c.breaker.IsClosed() && resilience.IsInfrastructure(err) {
		c.breaker.RecordFailure()
	}
	if callerGone {
		return
	}
	c.obs.CacheError(ErrorEvent{Op: op, Query: query, Err: err})
	if l := c.cfg.Logger; l != nil {
		l.LogAttrs(ctx, slogWarn, "cache: redis "+op+" failed, failing open", slogString("query", query), slogErr(err))
	}
}

var initScript = rueidis.NewLuaScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
local t = redis.call('TIME')
v = t[1] .. string.format('%06d', tonumber(t[2]))
redis.call('SET', KEYS[1], v, 'PX', ARGV[1])
return v`)

var bumpScript = rueidis.NewLuaScript(`
local v
if redis.call('EXISTS', KEYS[1]) == 1 then
  v = redis.call('INCR', KEYS[1])
else
  local t = redis.call('TIME')
  local s = t[1] .. string.format('%06d', tonumber(t[2]))
  redis.call('SET', KEYS[1], s)
  v = tonumber(s)
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v`)

// readVersions returns the current version of each key, creating missing
// ones from the Redis clock (never from 0: an evicted version key must not
// make old values reachable again). local is true when every version came
// from the in-process tier.
func (c *Cache) readVersions(ctx context.Context, keys []string, strict bool) (vers []int64, local bool, err error) {
	vers = make([]int64, len(keys))
	if len(keys) == 0 {
		return vers, true, nil
	}
	useMemo := c.vmemo != nil && !strict
	var s0 uint64
	var now time.Time
	if useMemo {
		now = time.Now()
		if c.vmemo.lookup(keys, vers, now) {
			c.applyBumps(keys, vers)
			return vers, true, nil
		}
		s0 = c.vmemo.seq.Load()
	}
	var resps []rueidis.RedisResult
	if c.clientCache && !strict {
		cmds := make([]rueidis.CacheableTTL, len(keys))
		for i, k := range keys {
			cmds[i] = rueidis.CT(c.client.B().Get().Key(k).Cache(), c.cfg.ClientTTL)
		}
		resps = c.client.DoMultiCache(ctx, cmds...)
	} else {
		cmds := make(rueidis.Commands, len(keys))
		for i, k := range keys {
			cmds[i] = c.client.B().Get().Key(k).Build()
		}
		resps = c.client.DoMulti(ctx, cmds...)
	}
	local = true
	var missing []int
	for i, r := range resps {
		v, err := r.AsInt64()
		if rueidis.IsRedisNil(err) {
			missing = append(missing, i)
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if !r.IsCacheHit() {
			local = false
		}
		vers[i] = v
	}
	if useMemo && len(missing) == 0 {
		c.vmemo.store(s0, keys, vers, now)
	}
	if len(missing) > 0 {
		local = false
		execs := make([]rueidis.LuaExec, len(missing))
		for j, i := range missing {
			execs[j] = rueidis.LuaExec{Keys: []string{keys[i]}, Args: []string{c.versionTTL}}
		}
		for j, r := range initScript.ExecMulti(ctx, c.client, execs...) {
			v, err := r.AsInt64()
			if err != nil {
				return nil, false, err
			}
			vers[missing[j]] = v
		}
	}
	c.applyBumps(keys, vers)
	return vers, local, nil
}

// applyBumps raises versions to those this process set itself recently.
func (c *Cache) applyBumps(keys []string, vers []int64) {
	if c.nbumps.Load() == 0 {
		return
	}
	now := time.Now()
	c.bumpMu.RLock()
	for i, k := range keys {
		if b, ok := c.bumps[k]; ok && b.ver > vers[i] && now.Before(b.until) {
			vers[i] = b.ver
		}
	}
	c.bumpMu.RUnlock()
}

// Envelope: [flags][soft expiry, unix ns, 8 bytes big endian][codec bytes].
const (
	envHeader   = 9
	envNegative = 0x01
)

func (c *Cache) encode(v any, negative bool, soft time.Time) ([]byte, error) {
	buf := make([]byte, envHeader, 128)
	binary.BigEndian.PutUint64(buf[1:], uint64(soft.UnixNano()))
	if negative {
		buf[0] = envNegative
		return buf, nil
	}
	return c.codec.AppendMarshal(buf, v)
}

type envelope struct {
	negative bool
	soft     int64
	payload  []byte
}

func parseEnvelope(data []byte) (envelope, error) {
	if len(data) < envHeader {
		return envelope{}, fmt.Errorf("%w: short envelope (%d bytes)", ErrCodec, len(data))
	}
	return envelope{
		negative: data[0]&envNegative != 0,
		soft:     int64(binary.BigEndian.Uint64(data[1:envHeader])),
		payload:  data[envHeader:],
	}, nil
}

func (o Options) ttl(def time.Duration) time.Duration {
	if o.TTL > 0 {
		return o.TTL
	}
	return def
}

// Get returns the cached value for key or calls load, caching its result.
// It is the entry point for generated and hand-written code alike:
//
//	key := cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", id)}}, id)
//	agent, err := cache.Get(ctx, c, key, cache.Options{TTL: 5 * time.Minute}, func(ctx context.Context) (Agent, error) {
//		return q.GetAgent(ctx, id)
//	})
//
// Concurrent misses of one key in a process run load once; across processes
// a lease makes others wait (up to Config.LeaseWait) for the holder's fill.
// Redis trouble never fails the call: load runs and nothing is cached. A
// nil *Cache just calls load. Errors from load are returned unchanged and
// not cached, except not-found with Options.Negative.
func Get[T any](ctx context.Context, c *Cache, key Key, opts Options, load func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if c == nil {
		return load(ctx)
	}
	lk, res, data, tier := c.probe(ctx, key, opts)
	switch res {
	case probeBypass:
		c.obs.CacheMiss(MissEvent{Query: key.Query, Reason: MissBypass})
		return load(ctx)
	case probeHit:
		env, err := parseEnvelope(data)
		if err == nil {
			stale := opts.SWR > 0 && time.Now().UnixNano() > env.soft
			if env.negative {
				c.obs.CacheHit(HitEvent{Query: key.Query, Tier: tier, Negative: true, Stale: stale})
				if stale {
					c.refresh(ctx, lk, anyLoader(load))
				}
				return zero, c.cfg.NotFoundError
			}
			v, ok := memoGet[T](&c.memo, lk.vk, env.payload)
			if !ok {
				if err = c.codec.Unmarshal(env.payload, &v); err == nil {
					memoPut(&c.memo, lk.vk, env.payload, v)
				}
			}
			if err == nil {
				c.obs.CacheHit(HitEvent{Query: key.Query, Tier: tier, Stale: stale})
				if stale {
					c.refresh(ctx, lk, anyLoader(load))
				}
				return v, nil
			}
		}
		// An undecodable value is treated as absent and overwritten.
		c.obs.CacheError(ErrorEvent{Op: "decode", Query: key.Query, Err: err})
	}
	c.obs.CacheMiss(MissEvent{Query: key.Query, Reason: MissAbsent})
	return flight(ctx, c, lk, load)
}

func anyLoader[T any](load func(context.Context) (T, error)) func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) { return load(ctx) }
}

// flight joins or leads the in-process load of lk.vk.
func flight[T any](ctx context.Context, c *Cache, lk *lookup, load func(context.Context) (T, error)) (T, error) {
	var zero T
	for {
		c.mu.Lock()
		cl, ok := c.calls[lk.vk]
		if !ok {
			cl = &call{done: make(chan struct{})}
			c.calls[lk.vk] = cl
			c.mu.Unlock()
			c.lead(ctx, lk, cl, anyLoader(load), false)
			if cl.val == nil && cl.err == nil && cl.data != nil {
				return decodeShared[T](c, cl)
			}
			v, _ := cl.val.(T)
			return v, cl.err
		}
		c.mu.Unlock()
		select {
		case <-cl.done:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
		if cl.canceled {
			continue // the leader gave up; try again (possibly as leader)
		}
		return decodeShared[T](c, cl)
	}
}

// decodeShared gives a waiter its own copy of the leader's result.
func decodeShared[T any](c *Cache, cl *call) (T, error) {
	var zero T
	if cl.err != nil {
		return zero, cl.err
	}
	if cl.data != nil {
		env, err := parseEnvelope(cl.data)
		if err == nil && !env.negative {
			var v T
			if err = c.codec.Unmarshal(env.payload, &v); err == nil {
				return v, nil
			}
		}
		if err == nil && env.negative {
			return zero, c.cfg.NotFoundError
		}
	}
	// Not encodable: share the leader's value.
	v, _ := cl.val.(T)
	return v, nil
}

// lead runs the load for cl (registered under lk.vk) and schedules the fill.
// background is true for stale-while-revalidate refreshes, which give up if
// another process holds the lease.
func (c *Cache) lead(ctx context.Context, lk *lookup, cl *call, load func(context.Context) (any, error), background bool) {
	finish := func() {
		// Unregister first: a waiter woken by close must not find this call
		// again when it retries after a canceled leader.
		c.removeCall(lk.vk, cl)
		close(cl.done)
	}
	if c.cfg.LeaseWait > 0 && !c.breaker.IsOpen() {
		token, data := c.acquireLease(ctx, lk, background)
		if data != nil { // another process filled it while we waited
			// Served from Redis after all: report the hit (the caller has
			// already reported the miss that led here).
			c.obs.CacheHit(HitEvent{Query: lk.key.Query, Tier: TierRemote, Negative: len(data) > 0 && data[0]&envNegative != 0})
			cl.data = data
			finish()
			return
		}
		if token == "" && background {
			finish()
			return
		}
		lk.lease = token
	}
	v, err := loadGuarded(ctx, load, func() {
		// The loader panicked: release the waiters (they load themselves)
		// before the panic continues up the leader's stack.
		if lk.lease != "" {
			c.releaseLease(lk)
		}
		cl.canceled = true
		finish()
	})
	cl.val, cl.err = v, err
	var data []byte
	opts := lk.opts
	switch {
	case err == nil:
		var encErr error
		data, encErr = c.encode(v, false, time.Now().Add(opts.ttl(c.cfg.DefaultTTL)))
		if encErr != nil {
			c.obs.CacheError(ErrorEvent{Op: "encode", Query: lk.key.Query, Err: encErr})
			data = nil
		}
	case opts.Negative > 0 && c.cfg.IsNotFound(err):
		data, _ = c.encode(nil, true, time.Now().Add(opts.Negative))
	default:
		cl.canceled = ctx.Err() != nil
	}
	if data == nil {
		if lk.lease != "" {
			c.releaseLease(lk)
		}
		finish()
		return
	}
	cl.data = data
	close(cl.done)
	negative := err != nil
	if !c.background(func() {
		defer c.removeCall(lk.vk, cl)
		c.fill(lk, data, negative)
	}) {
		c.removeCall(lk.vk, cl)
	}
}

// background runs f on a goroutine Close waits for, unless the cache is
// closed.
func (c *Cache) background(f func()) bool {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return false
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// loadGuarded calls load; if it panics, onPanic runs and the panic goes on.
func loadGuarded(ctx context.Context, load func(context.Context) (any, error), onPanic func()) (v any, err error) {
	ok := false
	defer func() {
		if !ok {
			onPanic()
		}
	}()
	v, err = load(ctx)
	ok = true
	return v, err
}

func (c *Cache) removeCall(vk string, cl *call) {
	c.mu.Lock()
	if c.calls[vk] == cl {
		delete(c.calls, vk)
	}
	c.mu.Unlock()
}

// acquireLease takes the cross-process load lease of lk. It returns the
// token when taken; otherwise it waits up to LeaseWait for the holder's
// value and returns it, or returns neither (load without a lease). On Redis
// errors it returns neither: failing open.
func (c *Cache) acquireLease(ctx context.Context, lk *lookup, background bool) (token string, data []byte) {
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	tok := hex.EncodeToString(raw[:])
	lease := c.leaseKey(lk.tag)
	if background {
		lease = c.refreshKey(lk.tag)
	}
	lk.leaseK = lease
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	err := c.client.Do(rctx, c.client.B().Set().Key(lease).Value(tok).Nx().Px(c.cfg.LeaseTTL).Build()).Error()
	cancel()
	if err == nil {
		return tok, nil
	}
	if !rueidis.IsRedisNil(err) {
		c.redisError(ctx, "lease", lk.key.Query, err, false)
		return "", nil
	}
	if background {
		return "", nil
	}
	deadline := time.Now().Add(c.cfg.LeaseWait)
	wait := 2 * time.Millisecond
	for time.Now().Before(deadline) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", nil
		case <-t.C:
		}
		if wait < 20*time.Millisecond {
			wait *= 2
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
		b, err := c.client.Do(rctx, c.client.B().Get().Key(lk.vk).Build()).AsBytes()
		cancel()
		if err == nil {
			return "", b
		}
		if !rueidis.IsRedisNil(err) {
			c.redisError(ctx, "lease", lk.key.Query, err, false)
			return "", nil
		}
	}
	return "", nil
}

var releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func (c *Cache) releaseLease(lk *lookup) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RedisTimeout)
	defer cancel()
	_ = releaseScript.Exec(ctx, c.client, []string{lk.leaseK}, []string{lk.lease}).Error()
}

// fill stores data under lk.vk unless a dependency's version moved since the
// lookup. The value key embeds the versions, so even a fill that slips past
// this check lands on a key no later reader computes; the check keeps such
// values out of Redis altogether.
func (c *Cache) fill(lk *lookup, data []byte, negative bool) {
	if h := c.hooks.beforeFill.Load(); h != nil {
		(*h)(lk.vk)
	}
	ev := FillEvent{Query: lk.key.Query, Bytes: len(data), Negative: negative}
	defer func() { c.obs.CacheFill(ev) }()
	if c.breaker.IsOpen() {
		ev.Err = errors.New("cache: redis breaker open")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RedisTimeout)
	defer cancel()
	if len(lk.vkeys) > 0 {
		cur, _, err := c.readVersions(ctx, lk.vkeys, true)
		if err != nil {
			ev.Err = err
			c.redisError(ctx, "fill", lk.key.Query, err, false)
			return
		}
		for i := range cur {
			if cur[i] != lk.vers[i] {
				ev.Skipped = true
				if lk.lease != "" {
					c.releaseLease(lk)
				}
				return
			}
		}
	}
	ttl := lk.opts.ttl(c.cfg.DefaultTTL) + lk.opts.SWR
	if negative {
		ttl = lk.opts.Negative
	}
	cmds := rueidis.Commands{c.client.B().Set().Key(lk.vk).Value(rueidis.BinaryString(data)).Px(ttl).Build()}
	for _, r := range c.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			ev.Err = err
			c.redisError(ctx, "fill", lk.key.Query, err, false)
			if lk.lease != "" {
				c.releaseLease(lk)
			}
			return
		}
	}
	// A successful fill keeps its lease until LeaseTTL: a late miss (one
	// that looked before the SET) then finds the lease taken and polls the
	// value instead of loading again.
}

// refresh starts one background reload of a stale value.
func (c *Cache) refresh(ctx context.Context, lk *lookup, load func(context.Context) (any, error)) {
	c.mu.Lock()
	if _, ok := c.calls[lk.vk]; ok || c.closed.Load() {
		c.mu.Unlock()
		return
	}
	cl := &call{done: make(chan struct{})}
	c.calls[lk.vk] = cl
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() {
			// No caller to hand a refresh panic to: report it, keep the process.
			if r := recover(); r != nil {
				c.obs.CacheError(ErrorEvent{Op: "refresh", Query: lk.key.Query, Err: fmt.Errorf("cache: loader panicked: %v", r)})
			}
		}()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RefreshTimeout)
		defer cancel()
		c.lead(rctx, lk, cl, load, true)
	}()
}
