// Package sqlinfo analyses sqlc query files and a PostgreSQL schema for the
// repository generator: it parses the "-- @" directives under each
// "-- name:" line, finds the tables every statement reads and writes with
// the PostgreSQL parser (pg_query), detects row keys, and computes which
// tables a write can change through foreign-key actions. It does no I/O
// beyond the bytes it is handed.
//
// # Pipeline
//
//	qs, err := sqlinfo.ParseQueryFile("queries/agents.sql", src) // directives + SQL facts
//	schema, err := sqlinfo.LoadSchema(map[string][]byte{...})   // schema/*.sql
//	as, err := schema.AnalyzeAll(qs)                             // keys, views, cascades
//
// Every error is an *Error rendered "file:line: message"; a call returns all
// of them at once as an ErrorList. errors.Is(err, ErrInvalid) holds for each.
//
// # Directives
//
// Comment lines "-- @name args" directly under "-- name:" and before the SQL
// (ordinary comments may be mixed in). See Directives for the grammar. One
// of these directives anywhere else (above "-- name:", inside or after the
// SQL), an unknown or repeated directive under "-- name:" (sqlc's own @param
// and @sqlc-vet-disable excepted), a bad duration or option are errors;
// other "-- @" comments outside the header are ordinary comments. @cache
// is an error on write commands (:exec, :execrows, :execresult, :execlastid,
// :copyfrom, :batchexec), on :batchone/:batchmany, on SQL that writes (e.g. a
// data-modifying CTE under :one), and on SQL with a volatile function or a
// row lock (now(), random(), nextval(), clock_timestamp(), CURRENT_TIMESTAMP,
// gen_random_uuid(), statement_timestamp(), setval(), 'now'::timestamptz,
// FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / FOR KEY SHARE, ...) unless the
// author adds volatile-ok to @cache or a separate @cache-unsafe line.
// @nocache marks a read that must never be cached, for generators with a
// cache-by-default mode; it conflicts with @cache. @invalidates is only
// accepted on writes.
//
// # Tables
//
// Reads and writes come from the parse tree: joins, subqueries, EXISTS, set
// operations, UPDATE ... FROM, DELETE ... USING, INSERT ... SELECT,
// ON CONFLICT, MERGE, TRUNCATE and data-modifying CTEs. CTE names are scoped
// like PostgreSQL scopes them and never reported as tables. Names are
// normalised: unquoted identifiers lower-cased, "public." dropped, other
// schemas kept as "schema.table". Reading a view reads its base relations.
// A relation the schema does not define (pg_catalog, information_schema, a
// table created elsewhere) is never an error: Analysis.Outside lists it and
// @cache on such a read needs volatile-ok. Writing a view invalidates its
// base relations.
// Calls to functions defined in the schema are resolved by name: a
// LANGUAGE sql body's tables join the read set (and lose read keys, being
// read a second time) and its writes join the write set (table-wide); a
// VOLATILE function (the
// default) or a STABLE one whose body cannot be read (plpgsql, ...) makes
// @cache an error without the override, like now(); so do volatile
// expressions and such calls inside views the query reads. Not visible to the
// analysis, so the author must declare them: rows that triggers write in
// other tables (@invalidates; Analysis.Triggers lists the triggers on
// written tables so a generator can warn) and functions not in the schema.
//
// # Keys
//
// A read pins a table's row when the top-level WHERE (or an inner join's ON,
// or the nullable side of an outer join's ON) is a conjunction containing
// "col = $n" (either order, casts on the parameter allowed, sqlc.arg,
// sqlc.narg and @name understood, row comparisons (a, b) = ($1, $2) too) for
// every column of the table's primary key or of a unique constraint or
// non-partial unique column index, and the table occurs once in the
// statement. A write pins rows the same way: UPDATE/DELETE by its WHERE
// (dropped when SET assigns a key column); INSERT of a single VALUES row by
// the parameters given for key columns; INSERT ... ON CONFLICT DO UPDATE only
// by the conflict target's key, since the row it updates is the conflicting
// one. A written table that is also reached through a cascade, inheritance or
// @invalidates (say a self-referencing ON DELETE CASCADE) gets no write key.
//
// Matching a read key against a write key of the same columns is sound even
// without uniqueness: the write changes only rows whose pinned columns equal
// its parameters and does not move rows between values; uniqueness is
// required because it is what makes per-row entries useful. Parameter
// numbers follow sqlc: explicit $n keep their number, each new named
// parameter takes the lowest free number in tree order. When in doubt, run
// AnalyzeSQL on the SQL sqlc emitted, where names are already numbers.
//
// When no parameter pins the written rows but RETURNING yields their key
// (INSERT ... RETURNING * with a database-generated id), ReturnedKeys names
// the result columns that identify each changed row at run time.
//
// # Using the result
//
// After a successful write W, a cached read R is stale for each table T in
// both W.Invalidates and R.Reads: if W has a WriteKey (values from its
// parameters) or a ReturnedKey (values from its returned rows) on T and R
// has a ReadKey on T with the same columns (Key.SameKey), only R's entries
// whose key values are among W's are stale; otherwise every entry of R is.
//
// # Cascades
//
// Schema.Analyze propagates each written table's operations: a DELETE
// follows ON DELETE CASCADE (deleting referencing rows) and ON DELETE SET
// NULL / SET DEFAULT (updating them); an UPDATE follows any ON UPDATE action
// other than NO ACTION / RESTRICT, whether or not the referenced columns
// change (conservative); an INSERT cascades nowhere, except INSERT ... ON
// CONFLICT DO UPDATE which counts as an update; MERGE counts as insert,
// update and delete; TRUNCATE ... CASCADE reaches every referencing table.
// Inheritance and partitions: a change in a table shows in every ancestor,
// and an UPDATE, DELETE or TRUNCATE through a parent reaches every
// descendant (an INSERT does not). The closure is transitive.
// Schema.CascadeClosure takes bare table names and assumes update and delete
// for each, so it is a superset of what Analyze reports for every statement
// but TRUNCATE ... CASCADE (which reaches even NO ACTION references). Both
// over-invalidate rather than miss a table.
package sqlinfo
