package cache

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Linked values (Deps.Link) carry the versions of the rows they were read
// from after the codec-independent header:
//
//	[flags|envLinked][soft][MAC][uvarint n][n x (uvarint len, key, varint version)][codec bytes]
//
// The MAC covers them like the payload.

// anchorKeys are the counters a linked lookup reads before its load: the
// table's counter (every row bump sets the row to it) and the Absent
// tables' counters.
func (c *Cache) anchorKeys(l *Link) []string {
	keys := make([]string, 0, 2+2*len(l.Absent))
	keys = append(keys, c.tableKey(l.Table))
	for _, a := range l.Absent {
		keys = append(keys, c.tableKey(a))
	}
	// Their epochs let applyBumps raise them to this process' own bumps.
	keys = append(keys, c.epochKey(l.Table))
	for _, a := range l.Absent {
		keys = append(keys, c.epochKey(a))
	}
	return keys
}

// readAnchor records the anchor versions of a linked lookup before its
// load. Versions from the in-process tier may be older than Redis' (a push
// in flight), never newer: an old anchor only makes the fill check refuse
// more. On error the fill is skipped.
func (c *Cache) readAnchor(ctx context.Context, lk *lookup) {
	l := lk.key.Deps.Link
	if l == nil || c.br.isOpen() {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RedisTimeout)
	defer cancel()
	keys := c.anchorKeys(l)
	vers, _, err := c.readVersions(rctx, keys, false)
	if err != nil {
		c.redisError(ctx, "versions", lk.key.Query, err, noPermit)
		return
	}
	lk.anchor = vers
}

// linkCheck runs in the fill after the version check: it returns the
// extra dependencies to store with the value, or ok false when the value
// may be older than a write already invalidated (a row it came from was
// bumped after the anchor was read, or an Absent counter moved).
func (c *Cache) linkCheck(ctx context.Context, lk *lookup, negative bool) (keys []string, vers []int64, ok bool, err error) {
	l := lk.key.Deps.Link
	if len(lk.anchor) < 1+len(l.Absent) {
		return nil, nil, false, nil
	}
	if negative {
		keys = c.anchorKeys(l)[1 : 1+len(l.Absent)]
	} else {
		for _, r := range lk.linkRows {
			if r.Table != l.Table {
				return nil, nil, false, nil
			}
			if k := c.rowKey(r); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return nil, nil, false, nil
		}
	}
	if len(keys) == 0 {
		return nil, nil, true, nil
	}
	vers, _, err = c.readVersions(ctx, keys, true)
	if err != nil {
		return nil, nil, false, err
	}
	for i, v := range vers {
		if negative && v != lk.anchor[1+i] || !negative && v > lk.anchor[0] {
			return nil, nil, false, nil
		}
	}
	return keys, vers, true, nil
}

// linksCurrent reports whether the extra dependencies a linked value was
// stored with still hold (read like the lookup's own versions, raised by
// this process' bumps); if so they are kept on lk for the typed tier.
func (c *Cache) linksCurrent(ctx context.Context, lk *lookup, keys []string, vers []int64) bool {
	if len(keys) == 0 {
		return true
	}
	// The epochs let applyBumps raise rows this process bumped.
	all := slices.Clone(keys)
	for _, k := range keys {
		if e := epochKeyOf(k); e != "" && !slices.Contains(all, e) {
			all = append(all, e)
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RedisTimeout)
	defer cancel()
	cur, _, err := c.readVersions(rctx, all, lk.strict)
	if err != nil {
		c.redisError(ctx, "versions", lk.key.Query, err, noPermit)
		return false
	}
	for i := range keys {
		if cur[i] != vers[i] {
			return false
		}
	}
	lk.xkeys, lk.xvers = all, cur
	return true
}

// withLinks returns data (sealed for vk without links) with the extra
// dependencies added and the MAC recomputed.
func (c *Cache) withLinks(vk string, data []byte, keys []string, vers []int64) []byte {
	out := make([]byte, envHeader, len(data)+16+len(keys)*(len(vk)+12))
	out[0] = data[0] | envLinked
	copy(out[envFlags:], data[envFlags:envFlags+envSoftLen])
	out = binary.AppendUvarint(out, uint64(len(keys)))
	for i, k := range keys {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendVarint(out, vers[i])
	}
	out = append(out, data[envHeader:]...)
	c.mac.sum(out[envFlags+envSoftLen:envHeader], vk, out[:envFlags+envSoftLen], out[envHeader:])
	return out
}

// parseLinks splits the extra dependencies off the front of b.
func parseLinks(b []byte) (keys []string, vers []int64, rest []byte, err error) {
	n, m := binary.Uvarint(b)
	if m <= 0 || n > 64 {
		return nil, nil, nil, fmt.Errorf("%w: %w: bad link count", ErrIntegrity, ErrCodec)
	}
	b = b[m:]
	keys, vers = make([]string, n), make([]int64, n)
	for i := range keys {
		l, m := binary.Uvarint(b)
		if m <= 0 || l > uint64(len(b)-m) {
			return nil, nil, nil, fmt.Errorf("%w: %w: bad link key", ErrIntegrity, ErrCodec)
		}
		keys[i] = string(b[m : m+int(l)])
		b = b[m+int(l):]
		v, m2 := binary.Varint(b)
		if m2 <= 0 {
			return nil, nil, nil, fmt.Errorf("%w: %w: bad link version", ErrIntegrity, ErrCodec)
		}
		vers[i] = v
		b = b[m2:]
	}
	return keys, vers, b, nil
}

// isRowKey reports whether k is a row version counter.
func isRowKey(k string) bool { return strings.Contains(k, "}:r:") }

// tableKeyOfRow returns the table counter in the slot of row counter k.
func tableKeyOfRow(k string) string {
	i := strings.LastIndex(k, "}:r:")
	return k[:i] + "}:t"
}

// Row counters are bumped through their table's counter (bumpScript with
// a third key): the table counter is incremented (raised first to the
// row's value, should that be higher) and the row set to it. So every row
// is at most its table's counter, and a row bumped after the table's
// counter was read holds a larger number (what linkCheck relies on). A
// missing or damaged row starts at its table's counter (initScript with a
// second key), never below a value it held before.
