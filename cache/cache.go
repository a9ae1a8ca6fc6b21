package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentical/datalayer/resilience"
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
	// typedEntries counts the entries of every Typed tier of this Cache
	// (bounded by Config.DecodedEntries, like memo).
	typedEntries atomic.Int64
	vmemo        *versionMemo // nil: not available (client not ours, or no in-process tier)
	obs          Observer
	br           *breaker
	mac          *macer
	versionTTL   string
	leaseTTL     string // LeaseTTL in ms

	mu    sync.Mutex
	calls map[string]*call

	// bumps remembers versions this process set, so its own reads never use
	// an older version from the in-process tier while the invalidation push
	// is in flight (read-your-writes within a process).
	bumpMu    sync.RWMutex
	bumps     map[string]localBump
	nbumps    atomic.Int32
	bumpGen   atomic.Uint64 // moves whenever bumps changes
	lastPrune time.Time

	// epochOK holds, per epoch key, the last value validated against the
	// server's run_id; an epoch read from the in-process tier is trusted
	// only when it equals this.
	epochMu sync.Mutex
	epochOK map[string]string
	fence   fence // renews epochs after a lost connection (fence.go)

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
	// afterFillCheck runs after the fill's version check passed, before its
	// SET.
	afterFillCheck atomic.Pointer[func(valueKey string)]
}

type localBump struct {
	ver   int64
	epoch int64 // the table's epoch number when bumped
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
		mac:         newMacer(cfg.Secret),
		epochOK:     make(map[string]string),
		memo:        memo{max: cfg.DecodedEntries},
		obs:         cfg.Observer,
		versionTTL:  strconv.FormatInt(cfg.VersionTTL.Milliseconds(), 10),
		leaseTTL:    strconv.FormatInt(cfg.LeaseTTL.Milliseconds(), 10),
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
		}
		opt.OnInvalidations = c.onInvalidations // also reports lost connections (fence.go)
		client, err := newClient(ctx, opt, cfg.Addrs)
		if err != nil {
			return nil, err
		}
		c.client, c.ownClient = client, true
	}
	c.br = &breaker{threshold: cfg.BreakerThreshold, delay: cfg.BreakerDelay, onChange: c.breakerChanged, onOpen: c.breakerOpened}
	go c.retryLoop()
	return c, nil
}

// Client returns the underlying rueidis client (e.g. for a SessionStore).
func (c *Cache) Client() rueidis.Client { return c.client }

// Codec returns the codec values are stored with.
func (c *Cache) Codec() *Codec { return c.codec }

// RedisAvailable reports whether the Redis breaker lets calls through.
func (c *Cache) RedisAvailable() bool { return !c.br.isOpen() }

// RedisState returns the Redis breaker's state. Open means lookups go
// straight to the loader; an open breaker whose delay elapsed reports
// HalfOpen (the next lookup probes Redis).
func (c *Cache) RedisState() resilience.State { return c.br.current() }

func (c *Cache) breakerChanged(from, to resilience.State, failures uint) {
	ch := resilience.StateChange{From: from, To: to, Failures: failures}
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
	if ch.To == resilience.Closed {
		c.redisAnswered()
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
	// The rechecks that ran while closing may have left bumps pending (the
	// retry loop has already made its last attempt): one more, direct,
	// before the client goes.
	if c.Pending() > 0 {
		c.retryPending()
	}
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
	// preTok and preCode: the probe already ran leaseScript with this
	// token, concurrently with its GET (one round trip for a miss).
	preTok  string
	preCode int64
	// keep, when set, is called by the load's leader with the loaded value
	// (synchronously, so it can copy it); the function it returns runs
	// after the fill landed.
	keep   func(v any, negative bool, soft int64) func()
	filled func()
	strict bool
	// Linked lookups (Deps.Link): anchor holds the anchor versions read
	// before the load, linkRows the rows the loaded value came from, and
	// xkeys/xvers the extra dependencies checked (a hit) or stored (a
	// fill), which the typed tier checks too. noLease: a value is stored
	// under the key but its links moved, so the lease cannot be had; the
	// fill overwrites it.
	anchor   []int64
	linkRows []RowRef
	xkeys    []string
	xvers    []int64
	noLease  bool
}

type probeResult uint8

const (
	probeBypass probeResult = iota
	probeMiss
	probeHit
)

// probe reads the dependency versions and the value. It never returns an
// error: any Redis trouble is a bypass (fail open).
//
// typed lookups (those with a typed tier, which keeps their values in
// process) read the value and take the fill lease with one script instead
// of a tracked GET: one command, one round trip, hit or miss.
func (c *Cache) probe(ctx context.Context, key Key, opts Options, typed bool) (*lookup, probeResult, []byte, Tier) {
	lk := &lookup{key: key, opts: opts, strict: opts.Strict || c.cfg.Strict}
	if c.closed.Load() {
		return lk, probeBypass, nil, 0
	}
	lk.vkeys = c.depKeys(key.Deps)
	// Checked before taking a breaker permit: a bypass for a pending bump
	// says nothing about Redis and must not count as a probe.
	if c.npending.Load() > 0 && c.anyPending(lk.vkeys) {
		return lk, probeBypass, nil, 0
	}
	p := c.br.allow()
	if p == noPermit {
		return lk, probeBypass, nil, 0
	}
	rctx := newLazyTimeout(ctx, c.cfg.RedisTimeout)
	defer rctx.release()
	vers, local, err := c.readVersions(rctx, lk.vkeys, lk.strict)
	if err != nil {
		c.redisError(ctx, "versions", key.Query, err, p)
		return lk, probeBypass, nil, 0
	}
	lk.vers = vers
	lk.tag = c.tag(key, vers)
	lk.vk = c.valueKey(lk.tag)
	if typed && c.cfg.LeaseWait > 0 && !lk.strict { // strict lookups keep their values in rueidis' tier
		tok := newLeaseToken()
		code, data, err := c.tryLease(rctx, lk, tok, true)
		if err != nil {
			c.redisError(ctx, "get", key.Query, err, p)
			return lk, probeBypass, nil, 0
		}
		c.answered(p, false)
		if code == leaseFilled && data != nil {
			return lk, probeHit, data, TierRemote
		}
		lk.preTok, lk.preCode = tok, code
		return lk, probeMiss, nil, 0
	}
	// A value not hit recently in this process is probably not in the
	// in-process tier either: try the fill lease in the same round trip as
	// the GET (leaseScript takes it only when the value is absent), so a
	// miss costs one round trip before its load.
	var pre chan preLease
	if c.cfg.LeaseWait > 0 && !c.memo.has(lk.vk) {
		lk.preTok = newLeaseToken()
		pre = make(chan preLease, 1)
		go func(tok string) {
			code, _, err := c.tryLease(ctx, lk, tok, false)
			pre <- preLease{code, err}
		}(lk.preTok)
	}
	var resp rueidis.RedisResult
	if c.clientCache {
		resp = c.client.DoCache(rctx, c.client.B().Get().Key(lk.vk).Cache(), c.cfg.ClientTTL)
	} else {
		resp = c.client.Do(rctx, c.client.B().Get().Key(lk.vk).Build())
	}
	local = local && resp.IsCacheHit()
	data, err := resp.AsBytes()
	miss := err != nil && rueidis.IsRedisNil(err)
	if pre != nil {
		r := <-pre
		switch {
		case r.err != nil:
			lk.preTok = "" // the lead tries again
		case !miss && r.code == leaseTaken:
			// The value expired between the two commands, or the GET failed:
			// this lookup loads nothing, so it must not keep the lease.
			c.dropLease(lk.tag, lk.preTok)
			lk.preTok = ""
		case !miss:
			lk.preTok = ""
		default:
			lk.preCode = r.code
		}
	}
	if err != nil {
		if miss {
			c.answered(p, local)
			return lk, probeMiss, nil, 0
		}
		c.redisError(ctx, "get", key.Query, err, p)
		return lk, probeBypass, nil, 0
	}
	c.answered(p, local)
	tier := TierRemote
	if local {
		tier = TierLocal
	}
	return lk, probeHit, data, tier
}

// answered records a lookup that got its answers: from Redis, or (local)
// all from the in-process tier, which says nothing about Redis and so
// cannot close a half-open breaker.
func (c *Cache) answered(p permit, local bool) {
	if !local {
		c.redisAnswered()
	}
	if local && p == probePermit {
		c.br.release(p)
		return
	}
	c.br.success(p)
}

// redisError reports err and feeds the Redis breaker. p is the permit the
// caller holds (noPermit: calls outside a lookup, which only count while
// the breaker is closed).
func (c *Cache) redisError(ctx context.Context, op, query string, err error, p permit) {
	callerGone := ctx.Err() != nil
	_, replied := rueidis.IsRedisErr(err) // the server answered with an error: it is up
	switch {
	case callerGone:
		c.br.release(p) // the caller left; says nothing about Redis
	case replied:
		c.br.success(p)
	case p != noPermit || resilience.IsInfrastructure(err):
		c.br.failure(p)
	}
	if callerGone {
		return
	}
	c.obs.CacheError(ErrorEvent{Op: op, Query: query, Err: err})
	if l := c.cfg.Logger; l != nil {
		l.LogAttrs(ctx, slogWarn, "cache: redis "+op+" failed, failing open", slogString("query", query), slogErr(err))
	}
}

// counterLua is the scripts' shared part: valid(k) returns counter k when
// it holds a decimal integer (else nil), clock() a fresh value from the
// Redis clock (microseconds: above any count reached since).
const counterLua = `
local function valid(k)
  if redis.call('TYPE', k).ok == 'string' then
    local s = redis.call('GET', k)
    if string.match(s, '^%d+$') and #s <= 18 then return s end
  end
  return nil
end
local function clock()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end
`

// initScript returns a version counter (KEYS[1]), creating it from the
// Redis clock when it is missing or does not hold a decimal integer (never
// from 0: an evicted or damaged counter must not make old values reachable
// again). With KEYS[2], its table's counter, KEYS[1] is a row counter and
// starts at that counter instead (see link.go).
var initScript = rueidis.NewLuaScript(counterLua + `
local v = valid(KEYS[1])
if v then return v end
if KEYS[2] then
  v = valid(KEYS[2])
  if not v then
    v = clock()
    redis.call('SET', KEYS[2], v, 'PX', ARGV[1])
  end
else
  v = clock()
end
redis.call('SET', KEYS[1], v, 'PX', ARGV[1])
return v`)

// bumpScript increments a version counter (KEYS[1]), re-creating it from
// the Redis clock when missing or damaged, and returns it with the epoch of
// its table (KEYS[2], same hash slot) as read now, so the bump is only
// remembered locally for that epoch. With KEYS[3], its table's counter,
// KEYS[1] is a row counter: KEYS[3] is incremented (raised first to the
// row's value, should that be higher) and the row set to it (link.go).
var bumpScript = rueidis.NewLuaScript(counterLua + `
local v
if KEYS[3] then
  local ts = valid(KEYS[3])
  if not ts then
    ts = clock()
    redis.call('SET', KEYS[3], ts)
  end
  local rs = valid(KEYS[1])
  if rs and tonumber(rs) > tonumber(ts) then redis.call('SET', KEYS[3], rs) end
  v = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[1])
  redis.call('SET', KEYS[1], redis.call('GET', KEYS[3]), 'PX', ARGV[1])
else
  if valid(KEYS[1]) then v = redis.call('INCR', KEYS[1]) end
  if not v then
    local s = clock()
    redis.call('SET', KEYS[1], s)
    v = tonumber(s)
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local e = ''
if redis.call('TYPE', KEYS[2]).ok == 'string' then e = redis.call('GET', KEYS[2]) end
return {v, e}`)

// readVersions returns the current version of each key (counters and
// epochs, see depKeys): counters are created from the Redis clock when
// missing or damaged, epochs are validated against the server's run_id
// whenever they did not come from the in-process tier as a value validated
// before. local is true when every version came from the in-process tier.
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
	resps := c.fetchVersions(ctx, keys, strict)
	local = true
	var missing, check []int
	direct := !c.clientCache // epochs came from the validating script
	for i, r := range resps {
		epoch := isEpochKey(keys[i])
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			if _, replied := rueidis.IsRedisErr(err); !replied || (epoch && direct && !isNoScript(err)) {
				return nil, false, err
			}
			// WRONGTYPE and the like: the key is damaged, repair it.
			local = false
			if epoch {
				check = append(check, i)
			} else {
				missing = append(missing, i)
			}
			continue
		}
		if !r.IsCacheHit() {
			local = false
		}
		if epoch {
			s, err := r.ToString()
			n, ok := parseEpoch(s)
			switch {
			case err == nil && ok && direct && !c.fenced(keys[i]):
				c.trustEpoch(keys[i], s)
				vers[i] = n
			case err == nil && ok && r.IsCacheHit() && c.epochTrusted(keys[i], s):
				vers[i] = n
			default:
				check = append(check, i)
			}
			continue
		}
		v, err := r.AsInt64()
		if err != nil { // absent, or not an integer
			missing = append(missing, i)
			continue
		}
		vers[i] = v
	}
	if len(check) > 0 {
		local = false
		if err := c.validateEpochs(ctx, keys, check, vers); err != nil {
			return nil, false, err
		}
	}
	if len(missing) > 0 {
		local = false
		execs := make([]rueidis.LuaExec, len(missing))
		for j, i := range missing {
			ks := []string{keys[i]}
			if isRowKey(keys[i]) { // rows start at their table's counter
				ks = append(ks, tableKeyOfRow(keys[i]))
			}
			execs[j] = rueidis.LuaExec{Keys: ks, Args: []string{c.versionTTL}}
		}
		for j, r := range initScript.ExecMulti(ctx, c.client, execs...) {
			v, err := r.AsInt64()
			if err != nil {
				return nil, false, err
			}
			vers[missing[j]] = v
		}
	}
	// Memoize only what was read as is: a validation or a repair wrote a
	// key, and its invalidation push may not have arrived yet.
	if useMemo && len(missing) == 0 && len(check) == 0 {
		c.vmemo.store(s0, keys, vers, now)
	}
	c.applyBumps(keys, vers)
	return vers, local, nil
}

// fetchVersions reads keys in one round trip. With the in-process tier,
// epochs always go through it (they change only when Redis lost state,
// which also drops the tier), and so do counters unless strict. Without
// it, epochs are read through the validating script.
func (c *Cache) fetchVersions(ctx context.Context, keys []string, strict bool) []rueidis.RedisResult {
	if c.clientCache && !strict {
		cmds := make([]rueidis.CacheableTTL, len(keys))
		for i, k := range keys {
			cmds[i] = rueidis.CT(c.client.B().Get().Key(k).Cache(), c.cfg.ClientTTL)
		}
		return c.client.DoMultiCache(ctx, cmds...)
	}
	if c.clientCache { // strict: counters from Redis, epochs from the tier
		resps := make([]rueidis.RedisResult, len(keys))
		var ecmds []rueidis.CacheableTTL
		var cmds rueidis.Commands
		for _, k := range keys {
			if isEpochKey(k) {
				ecmds = append(ecmds, rueidis.CT(c.client.B().Get().Key(k).Cache(), c.cfg.ClientTTL))
			} else {
				cmds = append(cmds, c.client.B().Get().Key(k).Build())
			}
		}
		eresps := c.client.DoMultiCache(ctx, ecmds...)
		cresps := c.client.DoMulti(ctx, cmds...)
		for i, k := range keys {
			if isEpochKey(k) {
				resps[i], eresps = eresps[0], eresps[1:]
			} else {
				resps[i], cresps = cresps[0], cresps[1:]
			}
		}
		return resps
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		if isEpochKey(k) {
			cmds[i] = c.client.B().Evalsha().Sha1(epochScriptSHA).Numkeys(1).Key(k).Arg(newEpochNumber()).Build()
		} else {
			cmds[i] = c.client.B().Get().Key(k).Build()
		}
	}
	return c.client.DoMulti(ctx, cmds...)
}

// applyBumps raises versions to those this process set itself recently,
// in the same epoch.
func (c *Cache) applyBumps(keys []string, vers []int64) {
	if c.nbumps.Load() == 0 {
		return
	}
	c.applyBumpsAt(keys, vers, time.Now())
}

// applyBumpsAt is applyBumps at now; it returns the earliest expiry of the
// bumps it applied (zero: none).
func (c *Cache) applyBumpsAt(keys []string, vers []int64, now time.Time) (first time.Time) {
	c.bumpMu.RLock()
	for i, k := range keys {
		b, ok := c.bumps[k]
		if !ok || b.ver <= vers[i] || !now.Before(b.until) {
			continue
		}
		if j := slices.Index(keys, epochKeyOf(k)); j >= 0 && vers[j] == b.epoch {
			vers[i] = b.ver
			if first.IsZero() || b.until.Before(first) {
				first = b.until
			}
		}
	}
	c.bumpMu.RUnlock()
	return first
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
	return get(ctx, c, key, opts, load, nil, "")
}

// get is Get; values it verifies or stores also enter the typed tier tt
// (when not nil) under akey.
func get[T any](ctx context.Context, c *Cache, key Key, opts Options, load func(ctx context.Context) (T, error), tt *Typed[T], akey string) (T, error) {
	var zero T
	if c == nil {
		return load(ctx)
	}
	lk, res, data, tier := c.probe(ctx, key, opts, tt != nil)
	switch res {
	case probeBypass:
		c.obs.CacheMiss(MissEvent{Query: key.Query, Reason: MissBypass})
		return load(ctx)
	case probeHit:
		var env envelope
		var err error
		opened := false
		if len(data) > 0 && data[0]&envLinked != 0 {
			// The key says nothing about the rows a linked value came from:
			// check them (integrity first: the links are part of it).
			if env, err = c.openEnvelope(lk.vk, data); err != nil {
				c.reportBad(key.Query, err)
				lk.noLease = true
				break
			}
			opened = true
			if !c.linksCurrent(ctx, lk, env.links, env.linkVers) {
				lk.noLease = true
				break
			}
		}
		// A value whose exact bytes were verified and decoded before under
		// this key skips the MAC and the decode.
		if v, ok := memoGet[T](&c.memo, lk.vk, data); ok {
			soft := splitTrusted(data).soft
			stale := opts.SWR > 0 && time.Now().UnixNano() > soft
			if !stale {
				tt.put(akey, lk, v, false, soft)
			}
			c.obs.CacheHit(HitEvent{Query: key.Query, Tier: tier, Stale: stale})
			if stale {
				c.refresh(ctx, lk, anyLoader(load))
			}
			return v, nil
		}
		if !opened {
			env, err = c.openEnvelope(lk.vk, data)
		}
		if err == nil {
			stale := opts.SWR > 0 && time.Now().UnixNano() > env.soft
			if env.negative {
				if !stale {
					tt.put(akey, lk, zero, true, env.soft)
				}
				c.obs.CacheHit(HitEvent{Query: key.Query, Tier: tier, Negative: true, Stale: stale})
				if stale {
					c.refresh(ctx, lk, anyLoader(load))
				}
				return zero, c.cfg.NotFoundError
			}
			var v T
			if err = c.codec.Unmarshal(env.payload, &v); err == nil {
				memoPut(&c.memo, lk.vk, data, v)
				if !stale {
					tt.put(akey, lk, v, false, env.soft)
				}
				c.obs.CacheHit(HitEvent{Query: key.Query, Tier: tier, Stale: stale})
				if stale {
					c.refresh(ctx, lk, anyLoader(load))
				}
				return v, nil
			}
		}
		// A value that fails its check or does not decode is treated as
		// absent, reported, and overwritten by the fill.
		c.reportBad(key.Query, err)
		lk.noLease = true
	}
	c.obs.CacheMiss(MissEvent{Query: key.Query, Reason: MissAbsent})
	if tt != nil {
		// A value this lookup loads and stores enters the tier once its
		// fill has landed (the fill's version check passed).
		lk.keep = func(v any, negative bool, soft int64) func() {
			tv, _ := v.(T)
			if !negative {
				tv = tt.copy(tv) // the caller gets v itself and may change it
			}
			return func() { tt.put(akey, lk, tv, negative, soft) }
		}
	}
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
				if v, err, ok := decodeShared[T](c, cl); ok {
					return v, err
				}
				return load(ctx) // never hand out a value that did not decode
			}
			v, _ := cl.val.(T)
			return v, cl.err
		}
		c.mu.Unlock()
		if lk.preTok != "" && lk.preCode == leaseTaken {
			// The probe took the fill lease but another lookup in this
			// process leads the load: free the lease for it.
			c.dropLease(lk.tag, lk.preTok)
			lk.preTok = ""
		}
		select {
		case <-cl.done:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
		if cl.canceled {
			continue // the leader gave up; try again (possibly as leader)
		}
		if v, err, ok := decodeShared[T](c, cl); ok {
			return v, err
		}
		return load(ctx)
	}
}

// decodeShared gives a waiter its own copy of the leader's result. ok is
// false when there is nothing usable (the caller then loads itself).
// cl.data was sealed by this process, or verified by acquireLease.
func decodeShared[T any](c *Cache, cl *call) (v T, err error, ok bool) {
	if cl.err != nil {
		return v, cl.err, true
	}
	if cl.data != nil {
		env := splitTrusted(cl.data)
		if env.negative {
			return v, c.cfg.NotFoundError, true
		}
		if err := c.codec.Unmarshal(env.payload, &v); err == nil {
			return v, nil, true
		}
	}
	// Not decodable into T: share the leader's own value, if it has one.
	v, ok = cl.val.(T)
	return v, nil, ok
}

// reportBad reports a cached value that was treated as absent.
func (c *Cache) reportBad(query string, err error) {
	op := "decode"
	if errors.Is(err, ErrIntegrity) {
		op = "integrity"
	}
	c.obs.CacheError(ErrorEvent{Op: op, Query: query, Err: err})
	if l := c.cfg.Logger; l != nil {
		l.LogAttrs(context.Background(), slogWarn, "cache: bad value treated as a miss", slogString("query", query), slogErr(err))
	}
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
	if lk.key.Deps.Link != nil {
		c.readAnchor(ctx, lk)
	}
	if !lk.noLease && ((lk.preTok != "" && !background) || (c.cfg.LeaseWait > 0 && !c.br.isOpen())) {
		token, data := c.acquireLease(ctx, lk, background)
		if data != nil && data[0]&envLinked != 0 {
			if env := splitTrusted(data); !c.linksCurrent(ctx, lk, env.links, env.linkVers) {
				data = nil // stored before its rows changed: load and overwrite
				lk.noLease = true
			}
		}
		if data != nil { // another process filled it while we waited
			// Served from Redis after all: report the hit (the caller has
			// already reported the miss that led here).
			c.obs.CacheHit(HitEvent{Query: lk.key.Query, Tier: TierRemote, Negative: splitTrusted(data).negative})
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
		if l := lk.key.Deps.Link; l != nil && l.Rows != nil {
			lk.linkRows = l.Rows(v)
		}
		var encErr error
		soft := time.Now().Add(opts.ttl(c.cfg.DefaultTTL))
		data, encErr = c.seal(lk.vk, v, false, soft)
		if encErr != nil {
			c.obs.CacheError(ErrorEvent{Op: "encode", Query: lk.key.Query, Err: encErr})
			data = nil
		} else if lk.keep != nil && !background {
			lk.filled = lk.keep(v, false, soft.UnixNano())
		}
	case opts.Negative > 0 && c.cfg.IsNotFound(err):
		soft := time.Now().Add(opts.Negative)
		data, _ = c.seal(lk.vk, nil, true, soft)
		if data != nil && lk.keep != nil && !background {
			lk.filled = lk.keep(nil, true, soft.UnixNano())
		}
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

// leaseScript takes the fill lease KEYS[2] of value key KEYS[1] (same hash
// slot) in one round trip: {2, value} when the value is there (the value
// only when ARGV[3] is "1"), {1} when the lease was free and is now held
// with token ARGV[1] for ARGV[2] ms, {0} when another fill holds it. A fill
// deletes its lease when it stores the value (fillScript), so a lease is
// only ever held while a load and its fill are under way (or, if the
// holder died, until LeaseTTL): no reader waits on a lease that no fill
// is using, and a miss that looked just before the SET finds the value
// here instead of loading again.
var leaseScript = rueidis.NewLuaScript(`
local d = redis.call('GET', KEYS[1])
if d then
  if ARGV[3] == '1' then return {2, d} end
  return {2}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {0}`)

const (
	leaseHeld   = 0 // another fill holds the lease
	leaseTaken  = 1 // this lookup holds it
	leaseFilled = 2 // the value is there
)

func newLeaseToken() string {
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// tryLease runs leaseScript once for lk: the outcome, and the value when
// withData and it was there.
func (c *Cache) tryLease(ctx context.Context, lk *lookup, tok string, withData bool) (code int64, data []byte, err error) {
	flag := "0"
	if withData {
		flag = "1"
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
	defer cancel()
	arr, err := leaseScript.Exec(rctx, c.client, []string{lk.vk, c.leaseKey(lk.tag)}, []string{tok, c.leaseTTL, flag}).ToArray()
	if err != nil {
		return 0, nil, err
	}
	if len(arr) == 0 {
		return 0, nil, errors.New("cache: lease script returned nothing")
	}
	if code, err = arr[0].AsInt64(); err != nil {
		return 0, nil, err
	}
	if code == leaseFilled && len(arr) > 1 {
		data, err = arr[1].AsBytes()
	}
	return code, data, err
}

// acquireLease takes the cross-process load lease of lk. It returns the
// token when taken; otherwise it waits up to LeaseWait for the holder's
// value and returns it, or returns neither (load without a lease). A lease
// that is freed while waiting (the holder's fill was skipped or failed) is
// taken over. On Redis errors it returns neither: failing open.
func (c *Cache) acquireLease(ctx context.Context, lk *lookup, background bool) (token string, data []byte) {
	if background {
		tok := newLeaseToken()
		lease := c.refreshKey(lk.tag)
		lk.leaseK = lease
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RedisTimeout)
		err := c.client.Do(rctx, c.client.B().Set().Key(lease).Value(tok).Nx().Px(c.cfg.LeaseTTL).Build()).Error()
		cancel()
		if err == nil {
			return tok, nil
		}
		if !rueidis.IsRedisNil(err) {
			c.redisError(ctx, "lease", lk.key.Query, err, noPermit)
		}
		return "", nil
	}
	lk.leaseK = c.leaseKey(lk.tag)
	tok, code := lk.preTok, lk.preCode
	if tok == "" { // the probe did not try the lease already
		tok = newLeaseToken()
		var err error
		if code, data, err = c.tryLease(ctx, lk, tok, true); err != nil {
			c.redisError(ctx, "lease", lk.key.Query, err, noPermit)
			return "", nil
		}
	}
	deadline := time.Now().Add(c.cfg.LeaseWait)
	wait := 2 * time.Millisecond
	for {
		switch code {
		case leaseTaken:
			return tok, nil
		case leaseFilled:
			if data == nil { // the probe's script did not return it
				break
			}
			if _, err := c.openEnvelope(lk.vk, data); err != nil {
				// Damaged: load without the lease; the holder's fill (or
				// ours, when it expires) replaces it.
				c.reportBad(lk.key.Query, err)
				return "", nil
			}
			return "", data
		default:
			if !time.Now().Before(deadline) {
				return "", nil
			}
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
		}
		var err error
		if code, data, err = c.tryLease(ctx, lk, tok, true); err != nil {
			c.redisError(ctx, "lease", lk.key.Query, err, noPermit)
			return "", nil
		}
	}
}

type preLease struct {
	code int64
	err  error
}

// dropLease releases, in the background, a fill lease taken with tok that
// no load will use.
func (c *Cache) dropLease(tag, tok string) {
	lk := &lookup{leaseK: c.leaseKey(tag), lease: tok}
	if !c.background(func() { c.releaseLease(lk) }) {
		c.releaseLease(lk)
	}
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
	if c.br.isOpen() {
		ev.Err = errors.New("cache: redis breaker open")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RedisTimeout)
	defer cancel()
	if len(lk.vkeys) > 0 {
		cur, _, err := c.readVersions(ctx, lk.vkeys, true)
		if err != nil {
			ev.Err = err
			c.redisError(ctx, "fill", lk.key.Query, err, noPermit)
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
	if lk.key.Deps.Link != nil {
		xkeys, xvers, ok, err := c.linkCheck(ctx, lk, negative)
		if err != nil {
			ev.Err = err
			c.redisError(ctx, "fill", lk.key.Query, err, noPermit)
		}
		if !ok {
			ev.Skipped = err == nil
			if lk.lease != "" {
				c.releaseLease(lk)
			}
			return
		}
		data = c.withLinks(lk.vk, data, xkeys, xvers)
		lk.xkeys, lk.xvers = xkeys, xvers
	}
	if h := c.hooks.afterFillCheck.Load(); h != nil {
		(*h)(lk.vk)
	}
	ttl := lk.opts.ttl(c.cfg.DefaultTTL) + lk.opts.SWR
	if negative {
		ttl = lk.opts.Negative
	}
	// A fill lease is deleted together with the SET (a late miss finds the
	// value through leaseScript); a refresh lease is kept until LeaseTTL, so
	// processes that still see the stale value do not refresh it again.
	var err error
	if lk.lease != "" && lk.leaseK == c.leaseKey(lk.tag) {
		err = fillScript.Exec(ctx, c.client, []string{lk.vk, lk.leaseK},
			[]string{rueidis.BinaryString(data), strconv.FormatInt(ttl.Milliseconds(), 10), lk.lease}).Error()
	} else {
		err = c.client.Do(ctx, c.client.B().Set().Key(lk.vk).Value(rueidis.BinaryString(data)).Px(ttl).Build()).Error()
	}
	if err != nil {
		ev.Err = err
		c.redisError(ctx, "fill", lk.key.Query, err, noPermit)
		if lk.lease != "" {
			c.releaseLease(lk)
		}
		return
	}
	if lk.filled != nil {
		lk.filled()
	}
}

// fillScript stores a value (KEYS[1], ARGV[1], PX ARGV[2]) and deletes the
// fill lease KEYS[2] if it still holds this fill's token ARGV[3].
var fillScript = rueidis.NewLuaScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1`)

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
