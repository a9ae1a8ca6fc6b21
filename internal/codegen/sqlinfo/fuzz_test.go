package sqlinfo_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// FuzzDirectives feeds arbitrary query files to the directive parser
// (issue 11): it must never panic, every problem must be a *Error with a
// line inside the file, and every query it returns must point inside the
// file. Seeds: the project's queries/ and directive snippets; `go test`
// runs them, `go test -fuzz FuzzDirectives` explores.
func FuzzDirectives(f *testing.F) {
	files, _ := filepath.Glob("../../../queries/*.sql")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"-- name: Q :one\n-- @cache ttl=5m swr=1m negative=30s\nSELECT * FROM t WHERE id = $1;",
		"-- name: Q :exec\n-- @audit\n-- @invalidates a, b\n-- @retry attempts=3\n-- @timeout 2s\n-- @policy p.x\nDELETE FROM t WHERE id = $1;",
		"-- @cache ttl=1m\n-- name: Q :one\nSELECT 1;",
		"/* name: Q :many */\nSELECT 1 FROM t;\n-- name: R :execrows\nUPDATE t SET a = 1;",
		"-- name: Q :one\n-- @cache ttl=\nSELECT $1::text;",
		"-- name:\n-- @\n--@@@\n;;;",
		"-- name: Q :copyfrom\nINSERT INTO t (a, b) VALUES ($1, $2);",
		"-- name: Q :one\nSELECT 'unterminated",
		"-- name: Q :one\nSELECT $$ -- name: R :one $$;",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		qs, err := sqlinfo.ParseQueryFile("f.sql", src)
		lines := bytes.Count(src, []byte("\n")) + 1
		if err != nil {
			var list sqlinfo.ErrorList
			var one *sqlinfo.Error
			switch {
			case errors.As(err, &list):
				for _, e := range list {
					if e.File != "f.sql" || e.Line < 0 || e.Line > lines+1 || e.Msg == "" {
						t.Fatalf("bad error %#v (file has %d lines)", e, lines)
					}
				}
			case errors.As(err, &one):
				if one.Line < 0 || one.Line > lines+1 {
					t.Fatalf("bad error %#v", one)
				}
			default:
				t.Fatalf("error of type %T, want sqlinfo.ErrorList: %v", err, err)
			}
		}
		for _, q := range qs {
			if q.Name == "" || q.Line < 1 || q.Line > lines || q.SQLLine < q.Line {
				t.Fatalf("query %q at line %d (SQL at %d) in a %d-line file", q.Name, q.Line, q.SQLLine, lines)
			}
			if q.Directives.Cache != nil && q.Directives.Cache.TTL <= 0 {
				t.Fatalf("query %s cached with TTL %v", q.Name, q.Directives.Cache.TTL)
			}
		}
	})
}
