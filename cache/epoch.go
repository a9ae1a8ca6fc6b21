package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// Epochs: every table has an epoch key <p>:v:{<table>}:e holding
// "<run_id>:<n>", where run_id is that of the Redis server (the node owning
// the table's hash slot) which created it and n a random number. The epoch
// number is part of every value key, next to the version counters. A
// restart (also from an older snapshot or an append-only file), a failover
// to another server, FLUSHALL or the eviction of the epoch key all change
// it: the restored epoch carries the old run_id and is replaced on first
// validation, a missing one is created anew. Every value written before is
// then unreachable, although the restored counters may have gone back in
// time: within one epoch counters only grow, and values under an epoch were
// all filled while it was current.
const epochScriptBody = `
local rid = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if redis.call('TYPE', KEYS[1]).ok == 'string' then
  local e = redis.call('GET', KEYS[1])
  if string.match(e, '^' .. rid .. ':%d+$') then return e end
end
local n = rid .. ':' .. ARGV[1]
redis.call('SET', KEYS[1], n)
return n`

var (
	epochScript    = rueidis.NewLuaScript(epochScriptBody)
	epochScriptSHA = func() string { s := sha1.Sum([]byte(epochScriptBody)); return hex.EncodeToString(s[:]) }()
)

func (c *Cache) epochKey(table string) string { return c.prefix + ":v:{" + table + "}:e" }

func isEpochKey(k string) bool { return strings.HasSuffix(k, "}:e") }

// epochKeyOf returns the epoch key of the table a version key belongs to.
func epochKeyOf(k string) string {
	i := strings.IndexByte(k, '{')
	j := strings.IndexByte(k, '}')
	if i < 0 || j < i {
		return ""
	}
	return k[:j+1] + ":e"
}

// parseEpoch returns the number of "<run_id>:<n>".
func parseEpoch(s string) (int64, bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	return n, err == nil && n > 0
}

// newEpochNumber is a random positive 62-bit number, in decimal.
func newEpochNumber() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(int64(binary.BigEndian.Uint64(b[:])>>2)|1, 10)
}

func isNoScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && re.IsNoScript()
}

// validateEpochs runs the epoch script for keys[i], i in idx, and stores
// the numbers in vers. Tables fenced by a loss event (fence.go) get a new
// epoch instead. If another loss event happens meanwhile, what was read is
// not used: the tables are fenced again and renewed.
func (c *Cache) validateEpochs(ctx context.Context, keys []string, idx []int, vers []int64) error {
	for attempt := 0; ; attempt++ {
		g := c.fence.gen.Load()
		plain := idx
		if g > 0 {
			var err error
			if plain, err = c.renewEpochs(ctx, keys, idx, vers, g); err != nil {
				return err
			}
		}
		if err := c.checkEpochs(ctx, keys, plain, vers, g); err != nil {
			return err
		}
		if c.fence.gen.Load() == g {
			return nil
		}
		if attempt == 2 {
			return errFenceMoved
		}
	}
}

// errFenceMoved: loss events kept happening while epochs were validated.
var errFenceMoved = errors.New("cache: redis connection lost while validating epochs")

// checkEpochs runs the epoch script for keys[i], i in idx; a result is
// trusted only if no loss event happened since generation g.
func (c *Cache) checkEpochs(ctx context.Context, keys []string, idx []int, vers []int64, g uint64) error {
	if len(idx) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, len(idx))
	for j, i := range idx {
		execs[j] = rueidis.LuaExec{Keys: []string{keys[i]}, Args: []string{newEpochNumber()}}
	}
	for j, r := range epochScript.ExecMulti(ctx, c.client, execs...) {
		s, err := r.ToString()
		if err != nil {
			return err
		}
		n, ok := parseEpoch(s)
		if !ok {
			return &epochError{value: s}
		}
		c.trustEpochAt(keys[idx[j]], s, g)
		vers[idx[j]] = n
	}
	return nil
}

type epochError struct{ value string }

func (e *epochError) Error() string { return "cache: epoch script returned " + strconv.Quote(e.value) }

func (c *Cache) trustEpoch(k, v string) {
	c.epochMu.Lock()
	c.setTrusted(k, v)
	c.epochMu.Unlock()
}

// trustEpochAt is trustEpoch for a value validated in fence generation g:
// it is not trusted if a loss event happened since.
func (c *Cache) trustEpochAt(k, v string, g uint64) {
	c.epochMu.Lock()
	if c.fence.gen.Load() == g {
		c.setTrusted(k, v)
	}
	c.epochMu.Unlock()
}

func (c *Cache) setTrusted(k, v string) {
	if len(c.epochOK) > 1<<16 {
		clear(c.epochOK)
	}
	c.epochOK[k] = v
}

// epochTrusted reports whether v, read from the in-process tier, is the
// epoch last validated for k, and k needs no renewal (fence.go).
func (c *Cache) epochTrusted(k, v string) bool {
	c.epochMu.Lock()
	ok := c.epochOK[k] == v
	c.epochMu.Unlock()
	return ok && !c.fenced(k)
}

// InvalidateAll makes every value cached under this Cache's prefix
// unreachable, for all processes, by deleting every table's epoch key (the
// next lookup of each table creates a new epoch): use it after changes
// made outside the repositories whose tables are unknown or many, such as
// a restored backup or a data migration. Values written before it returns
// are never served again; they expire with their TTL. On a cluster every
// primary is scanned.
func (c *Cache) InvalidateAll(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	pattern := globEscape(c.prefix) + ":v:{*}:e"
	for addr, node := range c.client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				if _, replied := rueidis.IsRedisErr(err); replied && strings.Contains(err.Error(), "READONLY") {
					break // a replica: its primary is scanned too
				}
				return fmt.Errorf("cache: invalidate all: scan %s: %w", addr, err)
			}
			if len(e.Elements) > 0 {
				cmds := make(rueidis.Commands, len(e.Elements))
				for i, k := range e.Elements {
					cmds[i] = c.client.B().Unlink().Key(k).Build()
				}
				for _, r := range c.client.DoMulti(ctx, cmds...) {
					if err := r.Error(); err != nil {
						return fmt.Errorf("cache: invalidate all: %w", err)
					}
				}
			}
			if e.Cursor == 0 {
				break
			}
			cursor = e.Cursor
		}
	}
	// Read-your-writes in this process, before the invalidation pushes
	// arrive: forget which epochs were validated and every memoized
	// version, so the next lookups validate (and renew) their epochs.
	c.epochMu.Lock()
	clear(c.epochOK)
	c.epochMu.Unlock()
	if c.vmemo != nil {
		c.vmemo.onInvalidations(nil)
	}
	return nil
}

// globEscape quotes the glob metacharacters of s for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
