package sqlinfo

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command kinds sqlc accepts after a query name.
const (
	CmdOne        = ":one"
	CmdMany       = ":many"
	CmdExec       = ":exec"
	CmdExecRows   = ":execrows"
	CmdExecResult = ":execresult"
	CmdExecLastID = ":execlastid"
	CmdCopyFrom   = ":copyfrom"
	CmdBatchExec  = ":batchexec"
	CmdBatchOne   = ":batchone"
	CmdBatchMany  = ":batchmany"
)

var knownCmds = []string{CmdOne, CmdMany, CmdExec, CmdExecRows, CmdExecResult, CmdExecLastID,
	CmdCopyFrom, CmdBatchExec, CmdBatchOne, CmdBatchMany}

// IsWriteCmd reports whether cmd returns no rows, which sqlc uses for
// statements run for their effect. A :one or :many can still write
// (UPDATE ... RETURNING); Query.IsWrite also looks at the SQL.
func IsWriteCmd(cmd string) bool {
	switch cmd {
	case CmdExec, CmdExecRows, CmdExecResult, CmdExecLastID, CmdCopyFrom, CmdBatchExec:
		return true
	}
	return false
}

// Query is one named query of an sqlc query file with its directives and the
// schema-independent facts read from its SQL.
type Query struct {
	File    string // file name as given to ParseQueryFile
	Name    string // e.g. GetAgent
	Cmd     string // e.g. ":one"
	Line    int    // line of the "-- name:" comment
	SQLLine int    // line where the SQL text starts
	SQL     string // the statement as written (directives and header comments removed)

	Directives Directives
	Info       Info
}

// IsWrite reports whether running the query can change rows: a write command
// or SQL that modifies a table (including data-modifying CTEs).
func (q *Query) IsWrite() bool { return IsWriteCmd(q.Cmd) || len(q.Info.Writes) > 0 }

// Directives are the "-- @..." lines directly under "-- name:".
//
//	@cache ttl=D [swr=D] [negative=D] [volatile-ok]   cache a :one/:many read
//	@cache-unsafe                                       same as volatile-ok
//	@nocache                                            never cache this read, whatever a default says
//	@timeout D                                          per-call timeout
//	@retry attempts=N                                   total attempts, 1 = no retry
//	@policy NAME                                        named policy profile from config
//	@invalidates t1, t2                                 extra tables a write changes (triggers)
//	@audit                                              record actor, method, tables, keys with the write
//
// D is a Go duration ("1m30s"), strictly positive.
type Directives struct {
	Cache         *CacheSpec    // nil: not cached
	NoCache       bool          // explicit @nocache
	Timeout       time.Duration // 0: config default
	RetryAttempts int           // 0: config default; else total attempts >= 1
	Policy        string        // "": config default
	Invalidates   []string      // normalised table names, sorted, deduplicated
	Audit         bool          // @audit: the write is recorded in the audit table, in its transaction
	AuditLine     int           // line of @audit
}

// CacheSpec is a parsed @cache directive.
type CacheSpec struct {
	TTL        time.Duration // fresh lifetime
	SWR        time.Duration // extra time a stale value may be served while refreshed; 0 = off
	Negative   time.Duration // lifetime of a cached not-found; 0 = not-found is not cached
	VolatileOK bool          // author accepts caching despite volatile functions or row locks
	Line       int           // line of the @cache directive
}

var (
	nameLineRE  = regexp.MustCompile(`^\s*--\s*name:\s*(\S+)\s+(:\S+)\s*$`)
	blockNameRE = regexp.MustCompile(`^\s*/\*\s*name:\s*(\S+)\s+(:\S+)\s*\*/\s*$`)
	directiveRE = regexp.MustCompile(`^\s*--\s*@(\S*)\s*(.*?)\s*$`)
	identRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

var knownDirectives = []string{"audit", "cache", "cache-unsafe", "invalidates", "nocache", "policy", "retry", "timeout"}

// sqlcFlags are sqlc's own "-- @" comment flags; they are sqlc's business.
var sqlcFlags = []string{"param", "sqlc-vet-disable"}

// misplacedDirective reports whether line is one of our directives (not an
// ordinary comment that happens to start with "-- @") outside the lines
// directly under "-- name:".
func misplacedDirective(line string) bool {
	m := directiveRE.FindStringSubmatch(line)
	return m != nil && slices.Contains(knownDirectives, m[1])
}

// ParseQueryFile splits an sqlc query file into its named queries, parses the
// directives under each "-- name:" line and analyses each statement's SQL.
// It reads nothing but src. All problems are returned together as an
// ErrorList of "file:line: message" errors; the queries that parsed are
// returned alongside.
func ParseQueryFile(filename string, src []byte) ([]Query, error) {
	var ec errs
	lines := splitLines(src)
	type header struct {
		name, cmd string
		line      int // index into lines
	}
	var heads []header
	for i, l := range lines {
		if m := nameLineRE.FindStringSubmatch(l); m != nil {
			heads = append(heads, header{m[1], m[2], i})
		} else if m := blockNameRE.FindStringSubmatch(l); m != nil {
			heads = append(heads, header{m[1], m[2], i})
		}
	}
	firstHead := len(lines)
	if len(heads) > 0 {
		firstHead = heads[0].line
	}
	for i := 0; i < firstHead; i++ {
		if misplacedDirective(lines[i]) {
			ec.add(filename, i+1, "directive outside a query: directives go directly under \"-- name:\"")
		}
	}
	seen := map[string]int{}
	var out []Query
	for h, hd := range heads {
		end := len(lines)
		if h+1 < len(heads) {
			end = heads[h+1].line
		}
		q := Query{File: filename, Name: hd.name, Cmd: hd.cmd, Line: hd.line + 1}
		if prev, dup := seen[hd.name]; dup {
			ec.add(filename, q.Line, "query %s already defined at line %d", hd.name, prev)
		}
		seen[hd.name] = q.Line
		if !slices.Contains(knownCmds, hd.cmd) {
			ec.add(filename, q.Line, "query %s: unknown command %s", hd.name, hd.cmd)
		}
		// Header: comments and blank lines up to the first SQL line.
		var dirLines []int
		i := hd.line + 1
		for ; i < end; i++ {
			t := strings.TrimSpace(lines[i])
			if t == "" || strings.HasPrefix(t, "--") {
				if directiveRE.MatchString(lines[i]) {
					dirLines = append(dirLines, i)
				}
				continue
			}
			break
		}
		// The rest is SQL; a directive in it is misplaced (and sqlc would
		// leave it in the statement or attach it to the next query). Other
		// comments starting with "-- @" are ordinary comments.
		for j := i; j < end; j++ {
			if misplacedDirective(lines[j]) {
				ec.add(filename, j+1, "directive inside or after the SQL of %s: directives go directly under \"-- name:\"", hd.name)
			}
		}
		q.SQLLine = i + 1
		q.SQL = strings.TrimSpace(strings.Join(lines[i:end], "\n"))
		q.Directives = parseDirectives(&ec, filename, lines, dirLines)
		if q.SQL == "" {
			ec.add(filename, q.Line, "query %s has no SQL", hd.name)
			continue
		}
		info, err := analyzeSQL(q.SQL)
		if err != nil {
			ec.add(filename, q.SQLLine+lineOf(q.SQL, err.pos), "query %s: %s", q.Name, err.msg)
			continue
		}
		q.Info = info
		validate(&ec, &q)
		out = append(out, q)
	}
	return out, ec.err()
}

// validate applies the rules that need both the directives and the SQL.
func validate(ec *errs, q *Query) {
	d := &q.Directives
	if d.Cache != nil {
		switch {
		case IsWriteCmd(q.Cmd):
			ec.add(q.File, d.Cache.Line, "@cache on %s %s: only :one and :many reads can be cached", q.Cmd, q.Name)
		case q.Cmd != CmdOne && q.Cmd != CmdMany:
			ec.add(q.File, d.Cache.Line, "@cache on %s %s: only :one and :many reads can be cached", q.Cmd, q.Name)
		case len(q.Info.Writes) > 0:
			ec.add(q.File, d.Cache.Line, "@cache on %s, which writes %s: only reads can be cached", q.Name, strings.Join(q.Info.Writes, ", "))
		case len(q.Info.Volatile) > 0 && !d.Cache.VolatileOK:
			v := q.Info.Volatile[0]
			if strings.HasPrefix(v.What, "FOR ") {
				ec.add(q.File, d.Cache.Line, "@cache on %s, which locks the rows it reads (%s): a cached result would skip the lock; remove @cache (add volatile-ok only if the lock does not matter outside transactions)",
					q.Name, v.What)
				break
			}
			ec.add(q.File, d.Cache.Line, "@cache on %s, which uses volatile %s (line %d): its result changes without a table write; add volatile-ok (or @cache-unsafe) if a cached value is acceptable",
				q.Name, v.What, q.SQLLine+lineOf(q.SQL, v.Offset))
		}
	}
	if d.Audit && !q.IsWrite() {
		ec.add(q.File, d.AuditLine, "@audit on read %s: only writes are audited", q.Name)
	}
	if d.Audit && strings.HasPrefix(q.Cmd, ":batch") {
		ec.add(q.File, d.AuditLine, "@audit on %s %s: batches cannot be audited (use a single-statement method)", q.Cmd, q.Name)
	}
	if len(d.Invalidates) > 0 && !q.IsWrite() {
		ec.add(q.File, q.Line, "@invalidates on read %s: only writes invalidate", q.Name)
	}
}

func parseDirectives(ec *errs, file string, lines []string, idx []int) Directives {
	var d Directives
	seen := map[string]int{}
	unsafeLine := 0
	for _, i := range idx {
		ln := i + 1
		m := directiveRE.FindStringSubmatch(lines[i])
		name, args := m[1], m[2]
		if slices.Contains(sqlcFlags, name) {
			continue
		}
		if !slices.Contains(knownDirectives, name) {
			ec.add(file, ln, "unknown directive @%s (known: @%s)", name, strings.Join(knownDirectives, ", @"))
			continue
		}
		if prev, ok := seen[name]; ok {
			ec.add(file, ln, "duplicate @%s (first at line %d)", name, prev)
			continue
		}
		seen[name] = ln
		switch name {
		case "cache":
			d.Cache = parseCache(ec, file, ln, args)
		case "cache-unsafe":
			if args != "" {
				ec.add(file, ln, "@cache-unsafe takes no arguments, got %q", args)
			}
			unsafeLine = ln
		case "nocache":
			if args != "" {
				ec.add(file, ln, "@nocache takes no arguments, got %q", args)
			}
			d.NoCache = true
		case "timeout":
			if strings.ContainsAny(args, " \t") || args == "" {
				ec.add(file, ln, "@timeout wants one duration, e.g. @timeout 2s; got %q", args)
				continue
			}
			if v, ok := parseDur(ec, file, ln, "@timeout", args); ok {
				d.Timeout = v
			}
		case "retry":
			kvs, ok := parseKV(ec, file, ln, "@retry", args)
			if !ok {
				continue
			}
			for _, kv := range kvs {
				if kv.k != "attempts" {
					ec.add(file, ln, "@retry: unknown option %q (known: attempts)", kv.k)
					continue
				}
				n, err := strconv.Atoi(kv.v)
				if err != nil || n < 1 || n > 100 {
					ec.add(file, ln, "@retry: attempts must be an integer from 1 to 100, got %q", kv.v)
					continue
				}
				d.RetryAttempts = n
			}
			if d.RetryAttempts == 0 && len(kvs) == 0 {
				ec.add(file, ln, "@retry wants attempts=N")
			}
		case "policy":
			if !identRE.MatchString(args) {
				ec.add(file, ln, "@policy wants one name of letters, digits, '_', '-', '.'; got %q", args)
				continue
			}
			d.Policy = args
		case "audit":
			if args != "" {
				ec.add(file, ln, "@audit takes no arguments, got %q", args)
			}
			d.Audit, d.AuditLine = true, ln
		case "invalidates":
			names := strings.FieldsFunc(args, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
			if len(names) == 0 {
				ec.add(file, ln, "@invalidates wants one or more table names")
			}
			for _, n := range names {
				t, ok := normaliseName(n)
				if !ok {
					ec.add(file, ln, "@invalidates: bad table name %q", n)
					continue
				}
				d.Invalidates = append(d.Invalidates, t)
			}
			d.Invalidates = sortedUnique(d.Invalidates)
		}
	}
	if unsafeLine > 0 {
		if d.Cache == nil {
			if _, had := seen["cache"]; !had {
				ec.add(file, unsafeLine, "@cache-unsafe without @cache")
			}
		} else {
			d.Cache.VolatileOK = true
		}
	}
	if d.NoCache && seen["cache"] > 0 {
		ec.add(file, seen["nocache"], "@nocache and @cache on the same query")
	}
	return d
}

func parseCache(ec *errs, file string, ln int, args string) *CacheSpec {
	c := &CacheSpec{Line: ln}
	okAll := true
	seen := map[string]bool{}
	for _, f := range strings.Fields(args) {
		if f == "volatile-ok" {
			c.VolatileOK = true
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			ec.add(file, ln, "@cache: bad option %q, want key=value (ttl, swr, negative) or volatile-ok", f)
			okAll = false
			continue
		}
		if seen[k] {
			ec.add(file, ln, "@cache: %s given twice", k)
			okAll = false
			continue
		}
		seen[k] = true
		var dst *time.Duration
		switch k {
		case "ttl":
			dst = &c.TTL
		case "swr":
			dst = &c.SWR
		case "negative":
			dst = &c.Negative
		default:
			ec.add(file, ln, "@cache: unknown option %q (known: ttl, swr, negative, volatile-ok)", k)
			okAll = false
			continue
		}
		if dv, ok := parseDur(ec, file, ln, "@cache "+k, v); ok {
			*dst = dv
		} else {
			okAll = false
		}
	}
	if !seen["ttl"] {
		ec.add(file, ln, "@cache needs ttl=D, e.g. @cache ttl=5m")
		okAll = false
	}
	if !okAll {
		return nil
	}
	return c
}

func parseDur(ec *errs, file string, ln int, what, s string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	if err != nil {
		ec.add(file, ln, "%s: bad duration %q (want e.g. 500ms, 30s, 5m, 1h)", what, s)
		return 0, false
	}
	if d <= 0 {
		ec.add(file, ln, "%s: duration must be positive, got %q", what, s)
		return 0, false
	}
	return d, true
}

type kv struct{ k, v string }

func parseKV(ec *errs, file string, ln int, what, args string) ([]kv, bool) {
	var out []kv
	ok := true
	for _, f := range strings.Fields(args) {
		k, v, found := strings.Cut(f, "=")
		if !found || k == "" || v == "" {
			ec.add(file, ln, "%s: bad option %q, want key=value", what, f)
			ok = false
			continue
		}
		out = append(out, kv{k, v})
	}
	return out, ok
}

func splitLines(src []byte) []string {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	return strings.Split(string(src), "\n")
}

// lineOf is the 0-based line of byte offset pos in s.
func lineOf(s string, pos int) int {
	if pos < 0 {
		return 0
	}
	if pos > len(s) {
		pos = len(s)
	}
	return strings.Count(s[:pos], "\n")
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
