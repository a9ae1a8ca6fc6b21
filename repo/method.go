package repo

import (
	"strings"
	"time"
)

// Method describes one generated repository method. Generated code declares
// one per query as a package variable; the runtime keys its executors and
// statistics by pointer.
type Method struct {
	Name   string
	Source string // query file and line, for messages
	// Schema is the generated package's SchemaVersion. It is hashed into
	// every cache key, so values cached under another schema are never
	// decoded into these types, whatever the cache's own configuration.
	Schema string
	// Shape hashes the query's SQL and result fields; also hashed into
	// keys, so an edited query never reads values cached by its old form.
	Shape string
	Write bool // the statement can change rows
	// RowCount marks :execrows methods: a result of 0 rows means nothing
	// changed, so nothing is invalidated.
	RowCount bool
	Cache    *CacheSpec

	// Per-query policy overrides (-- @timeout, -- @retry, -- @policy).
	Timeout       time.Duration
	RetryAttempts int
	Policy        string
	// Audit (-- @audit) records each successful call in AuditTable, in the
	// write's transaction (see audit.go).
	Audit bool
	// Copy is the deep copy of a result, func(T) T for the method's result
	// type T, that the typed in-process tier hands each caller (generated
	// per result type); nil copies by reflection.
	Copy any
	// Result gives the values of the result's key columns that Dep.Links
	// index (generated for single-table keyed reads).
	Result func(v any) []any
	// Key gives a Via-served method's own arguments from a result (the
	// values of the key it reads by).
	Key func(v any) []any
	// Feeds are the methods served through this one (ReadVia): the rows
	// this method loads tell them which row their key values name.
	Feeds []*Method

	Deps    []Dep    // what a cached result depends on
	Effects []Effect // what a successful write invalidates
}

// CacheSpec is a parsed "-- @cache" directive.
type CacheSpec struct {
	TTL      time.Duration // how long a value is served
	SWR      time.Duration // after TTL, how long a stale value is served while one caller refreshes it
	Negative time.Duration // how long a not-found result is cached; 0: not cached
}

// Dep is one table a cached read depends on. With Key, the read pins the
// table to the row whose key columns equal the arguments at Params.
type Dep struct {
	Table  string
	Key    []string
	Params []int // indexes into the method's arguments, parallel to Key
	// Links are the table's other keys that writes name rows by, read
	// from the result (Params index Method.Result's values): a value found
	// then depends on its row by those keys, not on every write by them.
	Links []KeyRef
}

// Effect is one table a write changes. With Keys, only rows with those key
// values change (and with them every non-keyed read of the table); without,
// any row may.
type Effect struct {
	Table string
	// Insert marks a statement that only adds rows: entries of existing
	// rows stay valid, only lists, aggregates and cached not-found results
	// of the new rows' keys are invalidated.
	Insert bool
	Keys   []KeyRef
	// Returned are keys whose values come from the written row the
	// statement returns (INSERT ... RETURNING id); Params index the values
	// the method's result extractor gives.
	Returned  []KeyRef
	OtherKeys [][]string // key column sets cached reads of Table use besides Keys
}

// KeyRef names a primary or unique key by its columns and the arguments
// that hold its values.
type KeyRef struct {
	Columns []string
	Params  []int
}

func keyName(cols []string) string { return strings.Join(cols, ",") }
