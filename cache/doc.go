// Package cache is the cache-aside runtime used by the generated
// repositories (and usable by hand-written code): a rueidis client with
// RESP3 client-side caching, a msgpack+s2 codec, key building, version keys
// and leases for race-free fills, invalidation that is retried until it
// lands, an Observer, and a Redis session store.
//
// # Reading
//
//	key := cache.NewKey("GetAgent", cache.Deps{Rows: []cache.RowRef{cache.Row("agents", "id", id)}}, id)
//	a, err := cache.Get(ctx, c, key, cache.Options{TTL: 5 * time.Minute, SWR: time.Minute, Negative: 30 * time.Second},
//		func(ctx context.Context) (Agent, error) { return q.GetAgent(ctx, id) })
//
// A Key is the query name, a 128-bit SHA-256 of the arguments (type-tagged,
// so "1" and 1 differ; integer widths and pgtype wrappers of the same value
// agree), and the Deps the result depends on: whole Tables, and/or Rows
// named by a key column. Table names are just names: hand-written code may
// use any label and invalidate it the same way.
//
// # Writing
//
// After a write COMMITS, call
//
//	c.Invalidate(ctx, tables, rows)
//
// tables for writes that may touch any row (no key in the WHERE clause,
// cascades, triggers), rows (cache.Row(table, column, value)) for writes
// identified by a primary or unique key. Inside a transaction collect them
// in a Batch and call c.Apply(ctx, &batch) after commit; drop the batch on
// rollback. Reads inside a transaction must not use the cache at all (they
// must see their own writes): call the loader directly.
//
// A write whose commit outcome is unknown (a timeout or a broken connection
// after COMMIT or an autocommit write was sent) calls InvalidateUncertain:
// it may have committed and become visible only later (a commit waiting for
// a synchronous standby is released after the client gave up), after a
// reader cached the old rows under the new versions; the bumps are repeated
// after each Config.UncertainRecheck delay so such entries become
// unreachable. Writes made outside the code that invalidates (psql, another
// service, a data migration) are invisible until Invalidate (those tables)
// or InvalidateAll is called, or the TTL ends.
//
// Rules the generator follows: a read keyed by column C of table T may
// depend on Row(T, C, v) only if every write to T that can change that row
// either names it by the same column C or invalidates T as a whole;
// otherwise it depends on the table. An INSERT names its new row (or the
// table) so a cached not-found for that key is dropped.
//
// # Design: version keys embedded in value keys, checked again at fill
//
// Every table T has two counters in Redis, and every written row one:
//
//	T.all   bumped by every write to T           → list/aggregate reads depend on it
//	T.wide  bumped by writes to T not by key     → row reads depend on it
//	T.row   bumped by writes naming that row     → row reads depend on it (set to T.all, see Linked reads)
//	T.epoch "<run_id>:<random>", see below       → every read of T depends on it
//
// A lookup first reads the versions of its dependencies (from the
// in-process tier when possible), then GETs the value key
// <prefix>:q:{<schema>:<query>:<args>:<versions>}. Invalidate bumps the
// counters with a Lua script (INCR, or, if the key is gone, a fresh value
// from the Redis clock so an evicted counter never returns to an old number)
// and the tracking push drops every process's in-process copy. The old value
// keys are never deleted: no later lookup computes them, and their TTL
// reclaims them. Counters holding anything but a decimal integer (or of
// another type) are treated as missing and re-created the same way, by
// reads and bumps alike: one damaged key neither disables the cache nor
// keeps its invalidation pending.
//
// Epochs: Redis can lose or roll back state: a restart from an older RDB
// snapshot or AOF, a failover to a replica that lagged, FLUSHALL, eviction.
// Restored counters then go back in time together with values cached under
// them, and a value older than an acknowledged write would be served. So
// every table's versions include its epoch, "<run_id>:<n>": the run_id of
// the Redis server (the node owning the table's slot) that created it, and
// a random n. An epoch read from Redis is validated by a script that
// compares it with the server's current run_id (INFO server) and replaces
// it with a new random one when it differs or is missing; an epoch read
// from the in-process tier is used only if it is the value last validated
// (and, after a loss of Redis, only once the table was renewed: see the
// reconnect fence under Failure behaviour). Every restart changes the
// run_id and every lost connection empties the in-process tier, so after
// any loss of state the first lookup of each table moves it to a new epoch,
// under which nothing was ever stored. Within
// one epoch the server has not lost state: counters only grow, and the
// argument below holds. A fill carries the epoch it read; if Redis restarts
// between its check and its SET the value lands under the old epoch, which
// is never validated again. Local bumps (read-your-writes, below) are
// remembered with the epoch the bump script saw and applied only in that
// epoch. Cost: epochs come from the in-process tier like versions (one
// validation per table per connection and ClientTTL); without the tier
// (DisableClientCache) every lookup runs the validating script in its
// version pipeline. It relies on each client's connection to Redis ending
// when the server does (no connection-pooling proxy in between).
// TestRedisRollbackNeverServesOlderValue (SAVE, write, restart from the
// snapshot) and TestFailoverToLaggingReplicaNeverServesOlderValue check it.
//
// Race freedom: the versions are read BEFORE the database load, and the
// value is stored under a key that embeds them. A reader that loaded old
// rows before a write committed holds the old versions; the writer's
// Invalidate (after commit) moves them. The fill then (1) re-reads the
// versions from Redis and skips the SET if any moved (FillEvent.Skipped),
// and (2) even if the bump lands between that check and the SET, writes to
// a key no lookup after the bump can compute. So a stale fill can never be
// served to a read that starts after Invalidate returned (within a process;
// across processes see the window below). TestStaleFillNeverLands forces the
// interleaving with a hook between the load and the fill.
//
// # Linked reads: one row, several keys
//
// A read keyed by one unique key (agents by owner and name) of rows that
// writes name by another key (updates by id) cannot be addressed by those
// writes. Without Deps.Link it depends on a pseudo-table every such write
// bumps, so each update of any agent drops every cached by-name read. With
// a Link, the value found depends on its own row by the other keys instead
// (Link.Rows(value), e.g. Row(agents, id, value.ID)), and only a not-found
// result depends on the pseudo-table (Link.Absent).
//
// Those rows are only known after the load, so their versions cannot be
// read before it as the argument above requires. Instead a row's version is
// taken from its table's counter: a row bump increments T.t and sets the row
// to it (bumpScript with a third key), and a missing row starts at T.t (initScript with a second key),
// so a row never exceeds T.t and a row bumped after T.t was read holds a
// larger number. A linked lookup reads T.t (S) before its load; its fill,
// after the usual check, reads each linked row R from Redis and stores only
// if R <= S: then the last bump of that row happened before S was read,
// hence before the load started, so the load saw that write. (S read
// through the in-process tier may be older than Redis' value, never newer:
// that only refuses more fills.) A not-found result stores the Absent
// counters read before the load and requires them unchanged at the fill.
// The checked (key, version) pairs are stored in the envelope (under the
// MAC) and checked on every hit like the lookup's own versions (in the
// typed tier as part of the entry's versions): a bump after the check
// moves R, so the entry is no longer served, by the same push or local
// bump rule as any other version. A value whose links moved is reloaded
// and overwritten without waiting for a lease. TestLinkedStaleFillNeverServed
// forces a write by id between the load and the checks, and between the
// checks and the SET.
//
// Version numbers read through the in-process tier are also memoized in a
// small map kept exact by the same invalidation pushes (rueidis'
// OnInvalidations hook, which runs after rueidis drops its own copy; a read
// stores only if no push for one of its keys arrived while it fetched; a
// lost connection clears it), so a hit whose versions are all known makes no
// rueidis call for them.
//
// # Typed in-process tier
//
// Typed (used by the generated repositories, one per method and Cache)
// keeps decoded values keyed by the arguments' bytes, each with the version
// keys and versions V it was cached under. A value enters it only after it
// was verified under value key vk(V) (a Redis or in-process hit: MAC
// checked, decoded) or stored there by this process' fill (whose version
// check passed). A Typed hit requires every version key to be in the exact
// version memo with, after this process' own bumps are applied (the same
// rule as readVersions), exactly V: then a lookup starting now would compute
// vk(V) itself and be answered from it, so the Typed hit answers what Get
// would, and the argument above carries over unchanged: after Invalidate
// returns, this process' bump differs from V (read-your-writes); another
// process' bump ends Typed hits when its push reaches the memo (the same
// window as the in-process tier). A stale load whose fill check passed and
// whose SET landed after the bump is in Typed under V, which no lookup after
// the bump sees as current. To skip the per-key lookups, a successful check
// leaves a stamp: the memo's generation (moved by every push and by every
// store that replaced a different version), the generation of the local
// bumps, and the earliest expiry the check relied on; while both
// generations are unchanged and the stamp has not expired, the check's
// inputs are unchanged. Stale values (past TTL) and Strict lookups use the
// slow path. Callers get copies (generated copy functions, else reflection).
// TestTypedTierStaleFillNeverServed forces a write between a load and its
// fill's version check and between that check and the SET, with the
// invalidation push held back (HoldVersionPushes) so only the bump tells.
// Typed lookups that reach Redis read the value and take the fill lease in
// one script (leaseScript): one command per miss or remote hit.
//
// Within a process, versions this process bumped are remembered for
// ClientTTL and win over older ones from the in-process tier, so a read
// after Invalidate returns never sees the old value even before the push
// arrives (read-your-writes).
//
// # Stampedes
//
// Concurrent misses of one value key in a process share one load
// (singleflight; each waiter decodes its own copy). Across processes the
// first miss takes a lease (<prefix>:l:{...}, LeaseTTL) with a script that
// returns the value instead when it is there; others poll the same script
// up to LeaseWait, then load themselves. A successful fill deletes its lease
// in the script that SETs the value, a skipped or failed fill releases it
// (compare-and-delete), and a poller takes over a lease that was freed: a
// lease is held only while a load and its fill are under way (or until
// LeaseTTL when its holder died), so no read waits on a lease no fill is
// using (a value expiring before LeaseTTL once made the next reader wait
// the whole LeaseWait); a miss that looked just before the SET finds the
// value through the script. A lookup that took the lease in its probe but
// joins another in-process load frees it at once. Refreshes use their own
// lease (<prefix>:r:{...}), kept until it expires. Fills run in the
// background: a miss costs the load plus the version/GET/lease round trip
// (GET and lease are sent together), not the SET. Options.Negative caches not-found results (Config.IsNotFound,
// default pgx.ErrNoRows; a negative hit returns Config.NotFoundError, default
// pgx.ErrNoRows, so callers see the same error as without the cache).
// Options.SWR serves a value up to SWR past its TTL and starts one background
// refresh (lease-guarded across processes).
//
// # Integrity
//
// A value is stored as [flags][soft expiry][MAC][links][codec bytes] (links
// only for linked reads). The MAC is
// HMAC-SHA-256 (128 bits kept) over the value key, the flags, the expiry and
// the payload, keyed with Config.Secret (a built-in key without one). A
// flipped byte, a set not-found flag, a truncated value or one copied from
// another key fails the check and is treated as absent: the loader runs,
// its result overwrites it, and the failure is reported (ErrorEvent Op
// "integrity", Counters.Corrupt). With a secret, whoever can write to Redis
// but does not hold the secret cannot inject rows. A hit whose bytes equal
// those decoded before under the same key (the decoded-value memo) skips
// the check: they were verified then. The same check guards a value found
// while polling another process's fill lease.
//
// # Failure behaviour (fail-open)
//
// Every Redis call on the read path is bounded by RedisTimeout; errors are
// reported (Observer.CacheError) and the loader runs with nothing cached. A
// breaker opens after BreakerThreshold consecutive infrastructure failures
// (an error reply means Redis is up and does not count): then lookups go
// straight to the loader with no Redis call at all. After BreakerDelay
// exactly one lookup probes Redis (half-open); only a probe that made a
// Redis round trip can close the breaker, a failed probe reopens it for
// another delay, and a probe that learned nothing (its caller left, or it
// was answered from the in-process tier) hands the probe to the next
// lookup. Lookups bypassed for a pending invalidation never take a permit.
// So the breaker stays open while Redis stays down. A failed Invalidate keeps its bumps pending,
// returns an error matching ErrInvalidationPending, retries in the
// background with exponential backoff (RetryInterval..MaxRetryInterval,
// back to RetryInterval on every new failure and when the breaker closes:
// until they land other processes may serve the old values), reports every attempt through Observer.CacheInvalidate, and meanwhile reads
// in this process that depend on a pending bump bypass the cache. Close
// reports bumps that never landed.
//
// Reconnect fence (fence.go): other processes cannot see a pending bump,
// and after an outage the versions they read from Redis are the old ones
// until the retry lands (up to MaxRetryInterval later). But a process that
// lost Redis itself knows that writes may have been acknowledged meanwhile
// with their bumps pending. So a loss event (rueidis reports a lost
// connection, or the breaker opens) fences every table: before this process
// uses a table's epoch again, to serve a value (from Redis, the in-process
// tier or a Typed tier) or to check a fill, it gives the table a new random
// epoch, whatever the key holds. Every value of that table cached before is
// then unreachable for all processes, and the next lookups load from the
// database, which holds every write acknowledged during the outage. The
// event empties the version memo (so Typed and memo hits stop at once); an
// epoch validated before the event is not trusted after it; a validation
// overtaken by another event is redone. One renewal per table per event:
// concurrent lookups (and fill checks) wait for it, and fail open if it
// fails; several events before Redis is back (a failed half-open probe
// reopens the breaker) still cost one renewal per table. The first
// connection of a new Cache is not a loss (else every start would empty
// every process's cache). The writer's pending bumps still land when
// retried. Cost: nothing on the hit path; the slow path loads one counter
// while no loss happened; after a loss, one script per table per process,
// and every process's values of a table are cold once more for each process
// that renews it. To report lost connections the client runs rueidis'
// pipelined mode from its first command also without the in-process tier
// (concurrent callers put it there anyway; a strictly sequential caller's
// Redis hit measured 198 -> 240 us, 27 -> 29 allocs, BenchmarkGet/redis-hit).
// A Client passed in Config.Client gives no connection reports: only its
// breaker fences. What the fence cannot cover is under
// Consistency. TestReconnectFenceNeverServesOlderValue cuts and stalls the
// connections of two instances around a write whose bump stays pending.
//
// # Consistency
//
//   - Within one process: after Invalidate returns, every lookup sees data at
//     least as new as the write (bumped versions are remembered locally).
//   - Across processes, default mode: a value may be served from another
//     process's in-process tier until Redis' invalidation push for the
//     version key reaches it. Measured on loopback, 2 busy cores: under
//     1 ms typically, a few ms on average and up to ~12 ms under heavy
//     load (TestCrossProcessWindow, BenchmarkInvalidationWindow). A lost
//     connection flushes the tier; ClientTTL bounds it otherwise.
//   - Across processes, Strict (Config.Strict or Options.Strict): versions
//     are read from Redis on every lookup (one round trip), values still come
//     from the in-process tier (a value key never changes meaning). After
//     Invalidate returns, no process serves the old value: the test counts 0
//     stale reads.
//   - Against the database: a cached read may lag a committed write until
//     that write's Invalidate returns (the generated code invalidates right
//     after commit, before returning to its caller).
//   - Writes whose invalidation is pending (ErrInvalidationPending: Redis
//     unreachable from the writer): the writer bypasses the cache for them.
//     Every process that lost Redis too (its connection broke, or its
//     breaker opened) renews the epochs of the tables it reads before it
//     serves them again (the reconnect fence), so its reads that start
//     after it reconnected never return a value older than a write
//     acknowledged before then, and its renewals hide the old values from
//     every other process too (after their push window). A process that
//     cannot know stays a gap, bounded by the writer's retry landing
//     (RetryInterval..MaxRetryInterval once Redis is reachable again), a
//     renewal by a fenced process, ClientTTL (values it holds in process)
//     and the TTL: one whose connection never broke and whose breaker never
//     opened while the writer's path to Redis failed (a one-sided partition;
//     a stall it rode out on its in-process tier), one started after the
//     outage, one on a Client of its own (only its breaker tells), and a
//     connection that dies silently until rueidis notices (if it notices only
//     after the network is back, a lookup sent on the new connection can
//     race the report). A lookup that
//     read its epoch before the event and finishes after it may still
//     return the old value: it started before anything was written during
//     the outage.
//
// # Redis key layout
//
//	<p>:v:{<table>}:t / :w / :r:<col>:<id>   version counters (one slot per table)
//	<p>:v:{<table>}:e                        the table's epoch (same slot)
//	                                         (a row counter is set from :t when bumped)
//	<p>:q:{<schema>:<query>:<args>:<vers>}  values: [flags][soft expiry][MAC][codec bytes]
//	<p>:l:{...same tag...}, <p>:r:{...}      fill and refresh leases
//	<p>:sess:<id>, <p>:usess:<user>          sessions (SessionStore)
//
// Cluster-safe: multi-key commands only touch one slot, Lua scripts one key.
// Needs Redis >= 7 (RESP3 client tracking, PEXPIRE NX/GT).
//
// # Codec
//
// msgpack (vmihailenco/msgpack/v5): time.Time keeps nanoseconds, pgtype
// values (Numeric, UUID, Timestamptz, Text, ...) and jsonb []byte round-trip.
// Payloads above CompressThreshold are s2-compressed; the first byte says
// which. Decoding never aliases the input, so values read from the
// in-process tier are never shared.
//
// Hits skip the decode when they can: the Cache keeps the decoded form of
// recently hit values (Config.DecodedEntries), keyed by value key and
// validated by comparing the stored bytes in full, and hands every caller
// its own deep copy (slices, maps, pointers and *big.Int are copied; types
// holding interfaces, funcs or unexported references are decoded every
// time). Callers may mutate what Get returns.
//
// # Sessions
//
// SessionStore keeps login sessions (256-bit crypto/rand ids, sliding TTL,
// optional absolute lifetime, revoke one, revoke all of a user). It never
// fails open and never uses the in-process tier.
package cache
