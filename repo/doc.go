// Package repo is the runtime of the repositories datalayer-gen writes:
// method descriptors, the read and write paths that put cache-aside
// (package cache) and resilience policies (package resilience) around every
// sqlc call, per-method statistics, and transaction-scoped invalidation.
//
// Generated code calls Read, ReadVia, Hit, Write and (*Runtime).Batch; hand-written code
// builds a Runtime once and passes it to NewRepository.
//
// # Invalidation
//
// Every cached read lists what it depends on (Method.Deps) and every write
// what it changes (Method.Effects), both derived by the generator from the
// SQL and the schema. Dependencies become version tokens in the cache:
//
//   - a read of a whole table T (lists, aggregates, joins) depends on "T"
//     and "T|list";
//   - a read that pins table T to one row by a primary or unique key C
//     depends on "T", "T|key:C" and the row (T, C, values).
//
// A write that identifies its rows by key C bumps the row (T, C, values),
// "T|list", and "T|key:C2" for every other key C2 that cached reads of T use
// (those entries cannot be addressed by C's values). Any other write,
// cascaded foreign-key changes and @invalidates tables bump "T", which
// invalidates every read of T. Outside a transaction the bump happens right
// after the statement succeeds; inside one, after commit (see Tx).
//
// When the result of a read pinned by key C carries the other keys writes
// to T name rows by (Dep.Links, values from Method.Result), the read
// depends on "T|key:C" only for a not-found result; a value found depends
// on its own row by those keys (cache.Link), so a write by id to one row
// leaves by-name entries of the other rows cached.
//
// # Entity cache and the hit fast path
//
// A read that is nothing but "the row of T with key C" (no other
// condition, limit or lock), when another cached read returns the same
// columns by T's single-column key, is served through that read
// (ReadVia): an in-process index maps C's values to the row's id (learnt
// from both methods' loads), the row comes from the id read's cache, and
// it is served only if it still carries C's values (the key is unique, so
// it is the row the read would return). Both reads then share one entry.
//
// Generated methods whose arguments are all UUIDs or strings try Hit
// before Read: the typed in-process tier alone, with a key built without
// boxing; a miss there falls through to Read.
//
// A write whose outcome is unknown (a timeout, a lost or terminated session
// after the statement or COMMIT was sent) may have committed and may become
// visible only later; its invalidations are applied at once and again
// after cache.Config.UncertainRecheck (cache.Cache.InvalidateUncertain).
// Generated InTx methods call InTx, which does this for a failed COMMIT. A
// write after the cache was closed returns an error matching
// cache.ErrClosed, never nil. Writes made outside the repositories are invisible to
// cached reads until Runtime.InvalidateTables (or cache.Cache.InvalidateAll)
// is called, or their TTL ends.
//
// The race-freedom of fills (a reader that loaded old rows never stores them
// after the write's invalidation) is the cache package's guarantee; see its
// documentation.
package repo
