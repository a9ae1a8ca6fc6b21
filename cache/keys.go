package cache

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vmihailenco/msgpack/v5"
)

// RowRef names one row by a key column, for row-level invalidation. Build it
// with Row so writers and readers encode the same value the same way.
type RowRef struct {
	Table  string
	Column string
	// ID is the stable hash of the key value(s).
	ID string
}

// Row builds a RowRef from the value(s) of a primary or unique key column.
// Integer types of any width, pgtype.Int2/4/8, string and pgtype.Text,
// [16]byte and pgtype.UUID hash alike, so a write whose parameter is int32 and
// a read whose parameter is int64 name the same row.
func Row(table, column string, key ...any) RowRef {
	return RowRef{Table: table, Column: column, ID: hashArgs(key)}
}

func (r RowRef) String() string { return r.Table + "." + r.Column + "=" + r.ID }

// Deps are what a cached result depends on. A read depends on whole Tables
// (any write to them invalidates it) and/or on Rows (only writes to those
// rows, or table-wide writes, invalidate it). Use Rows only when every write
// to that table that can change the row identifies it by the same column;
// otherwise list the table.
type Deps struct {
	Tables []string
	Rows   []RowRef
	// Link, when set, also makes the value depend on the rows it was read
	// from (see Link).
	Link *Link
}

// Link serves a read keyed by one unique key of Table (Rows holds that
// row) when writes name the same rows by other keys (an update by primary
// key of a row read by its unique name). Without it such a read must
// depend on every write by those other keys. With it, a value found
// depends on the rows Rows(value) returns, named by those other keys: a
// write to another row leaves it valid. A not-found result depends on the
// Absent tables instead (pseudo-tables bumped by every write that could
// make a row appear under the read's key without naming it by that key).
//
// Race freedom: rows' versions are taken from their table's counter when
// bumped, and the fill stores a found value only if none of Rows(value)
// was bumped after the table's counter was read, before the load. See
// doc.go.
type Link struct {
	Table string
	// Rows lists the rows of Table a loaded value came from, by the keys
	// other writes use. Empty: the value is not cached.
	Rows   func(v any) []RowRef
	Absent []string
}

// Key identifies one cached read: the query name, the hash of its
// arguments, and its dependencies. Build it with NewKey.
type Key struct {
	Query string
	Args  string
	Deps  Deps
}

// NewKey builds a Key. args are the query's arguments (values, pgtype values,
// or whole parameter structs); their hash is stable across processes and
// runs.
func NewKey(query string, deps Deps, args ...any) Key {
	return Key{Query: query, Args: hashArgs(args), Deps: deps}
}

var b64 = base64.RawURLEncoding

// hashArgs returns 128 bits of SHA-256 over a canonical, type-tagged
// encoding of args: collisions would serve one caller another's data, so a
// non-cryptographic hash is not used.
func hashArgs(args []any) string {
	var stack [256]byte
	buf := stack[:0]
	for _, a := range args {
		buf = appendCanonical(buf, a)
	}
	sum := sha256.Sum256(buf)
	return b64.EncodeToString(sum[:16])
}

func appendLenBytes(buf []byte, tag byte, b []byte) []byte {
	buf = append(buf, tag)
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

func appendInt(buf []byte, v int64) []byte {
	return binary.AppendVarint(append(buf, 'i'), v)
}

func appendCanonical(buf []byte, a any) []byte {
	switch v := a.(type) {
	case nil:
		return append(buf, 'n')
	case int:
		return appendInt(buf, int64(v))
	case int8:
		return appendInt(buf, int64(v))
	case int16:
		return appendInt(buf, int64(v))
	case int32:
		return appendInt(buf, int64(v))
	case int64:
		return appendInt(buf, v)
	case uint8:
		return appendInt(buf, int64(v))
	case uint16:
		return appendInt(buf, int64(v))
	case uint32:
		return appendInt(buf, int64(v))
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return appendInt(buf, int64(v))
		}
		return binary.AppendUvarint(append(buf, 'u'), uint64(v))
	case uint64:
		if v <= math.MaxInt64 {
			return appendInt(buf, int64(v))
		}
		return binary.AppendUvarint(append(buf, 'u'), v)
	case bool:
		if v {
			return append(buf, 't')
		}
		return append(buf, 'f')
	case float32:
		return binary.BigEndian.AppendUint64(append(buf, 'd'), math.Float64bits(float64(v)))
	case float64:
		return binary.BigEndian.AppendUint64(append(buf, 'd'), math.Float64bits(v))
	case string:
		return appendLenBytes(buf, 's', []byte(v))
	case []byte:
		return appendLenBytes(buf, 'b', v)
	case [16]byte:
		return appendLenBytes(buf, 'U', v[:])
	case time.Time:
		buf = binary.AppendVarint(append(buf, 'T'), v.Unix())
		return binary.AppendVarint(buf, int64(v.Nanosecond()))
	case *big.Int:
		if v == nil {
			return append(buf, 'n')
		}
		return appendLenBytes(buf, 'B', []byte(v.String()))
	case pgtype.Int2:
		if !v.Valid {
			return append(buf, 'n')
		}
		return appendInt(buf, int64(v.Int16))
	case pgtype.Int4:
		if !v.Valid {
			return append(buf, 'n')
		}
		return appendInt(buf, int64(v.Int32))
	case pgtype.Int8:
		if !v.Valid {
			return append(buf, 'n')
		}
		return appendInt(buf, v.Int64)
	case pgtype.Text:
		if !v.Valid {
			return append(buf, 'n')
		}
		return appendLenBytes(buf, 's', []byte(v.String))
	case pgtype.UUID:
		if !v.Valid {
			return append(buf, 'n')
		}
		return appendLenBytes(buf, 'U', v.Bytes[:])
	case pgtype.Bool:
		if !v.Valid {
			return append(buf, 'n')
		}
		return appendCanonical(buf, v.Bool)
	case pgtype.Timestamptz:
		if !v.Valid {
			return append(buf, 'n')
		}
		if v.InfinityModifier != pgtype.Finite {
			return appendInt(append(buf, 'I'), int64(v.InfinityModifier))
		}
		return appendCanonical(buf, v.Time)
	case pgtype.Timestamp:
		if !v.Valid {
			return append(buf, 'n')
		}
		if v.InfinityModifier != pgtype.Finite {
			return appendInt(append(buf, 'I'), int64(v.InfinityModifier))
		}
		return appendCanonical(buf, v.Time)
	case pgtype.Numeric:
		if !v.Valid {
			return append(buf, 'n')
		}
		s, _ := v.MarshalJSON() // canonical decimal text
		return appendLenBytes(buf, 'N', s)
	case fmt.Stringer:
		return appendLenBytes(buf, 'S', []byte(v.String()))
	default:
		// Structs (sqlc XxxParams), slices and maps: msgpack with sorted map
		// keys is deterministic for a given Go type; the type name is mixed in
		// so equal encodings of different types differ.
		enc, err := marshalSorted(v)
		if err != nil {
			return appendLenBytes(buf, '?', []byte(fmt.Sprintf("%T:%#v", v, v)))
		}
		buf = appendLenBytes(buf, 'M', []byte(fmt.Sprintf("%T", v)))
		return appendLenBytes(buf, 'm', enc)
	}
}

func marshalSorted(v any) ([]byte, error) {
	var sb strings.Builder
	enc := msgpack.NewEncoder(&sb)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(sb.String()), nil
}

// Redis key layout. Everything lives under Config.Prefix:
//
//	<p>:v:{<table>}:t              table version, bumped by every write to the table
//	<p>:v:{<table>}:w              table-wide version, bumped by writes not identified by a key
//	<p>:v:{<table>}:r:<col>:<id>   row version, bumped by writes identified by that key
//	<p>:v:{<table>}:e              epoch "<run_id>:<n>", replaced when Redis lost state
//
// The version keys of one table share a hash slot, so the versions of a
// single-table read come back in one pipelined call from one connection.
//
//	<p>:q:{<schema>:<query>:<args>:<versions>}   value
//	<p>:l:{<schema>:<query>:<args>:<versions>}   fill lease (same hash slot as the value)
//	<p>:r:{<schema>:<query>:<args>:<versions>}   stale-while-revalidate refresh lease
func (c *Cache) tableKey(table string) string { return c.prefix + ":v:{" + table + "}:t" }
func (c *Cache) wideKey(table string) string  { return c.prefix + ":v:{" + table + "}:w" }
func (c *Cache) rowKey(r RowRef) string {
	return c.prefix + ":v:{" + r.Table + "}:r:" + r.Column + ":" + r.ID
}

// depKeys lists the version keys a read with deps must check: the
// counters, then the epoch key of every table involved (see epoch.go).
func (c *Cache) depKeys(d Deps) []string {
	keys := make([]string, 0, 2*len(d.Tables)+3*len(d.Rows))
	for _, t := range d.Tables {
		keys = append(keys, c.tableKey(t))
	}
	for _, r := range d.Rows {
		keys = append(keys, c.wideKey(r.Table), c.rowKey(r))
	}
	n := len(keys)
	addEpoch := func(t string) {
		k := c.epochKey(t)
		for _, have := range keys[n:] {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	for _, t := range d.Tables {
		addEpoch(t)
	}
	for _, r := range d.Rows {
		addEpoch(r.Table)
	}
	return keys
}

// bumpKeys lists the version keys a write must bump, deduplicated.
func (c *Cache) bumpKeys(tables []string, rows []RowRef) []string {
	seen := make(map[string]struct{}, 2*len(tables)+2*len(rows))
	keys := make([]string, 0, 2*len(tables)+2*len(rows))
	add := func(k string) {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	for _, t := range tables {
		add(c.tableKey(t))
		add(c.wideKey(t))
	}
	for _, r := range rows {
		add(c.tableKey(r.Table))
		add(c.rowKey(r))
	}
	return keys
}

func (c *Cache) tag(k Key, versions []int64) string {
	var sb strings.Builder
	sb.Grow(len(c.schema) + len(k.Query) + len(k.Args) + 4 + 17*len(versions))
	sb.WriteString(c.schema)
	sb.WriteByte(':')
	sb.WriteString(k.Query)
	sb.WriteByte(':')
	sb.WriteString(k.Args)
	sb.WriteByte(':')
	var num [20]byte
	for i, v := range versions {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.Write(strconv.AppendInt(num[:0], v, 36))
	}
	return sb.String()
}

func (c *Cache) valueKey(tag string) string   { return c.prefix + ":q:{" + tag + "}" }
func (c *Cache) leaseKey(tag string) string   { return c.prefix + ":l:{" + tag + "}" }
func (c *Cache) refreshKey(tag string) string { return c.prefix + ":r:{" + tag + "}" }
