package sqlinfo_test

import (
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

// @audit marks writes whose calls the repository records (issue 11).
func TestAuditDirective(t *testing.T) {
	q := parseOne(t, "-- name: DeleteT :exec\n-- @audit\nDELETE FROM t WHERE id = $1;")
	if !q.Directives.Audit || q.Directives.AuditLine != 2 {
		t.Fatalf("directives %+v: want Audit at line 2", q.Directives)
	}
	if q := parseOne(t, "-- name: DeleteT :exec\nDELETE FROM t WHERE id = $1;"); q.Directives.Audit {
		t.Fatal("Audit set without @audit")
	}
	for _, tc := range []struct{ src, want string }{
		{"-- name: Q :one\n-- @audit\nSELECT 1 FROM t;", "f.sql:2: @audit on read Q: only writes are audited"},
		{"-- name: Q :exec\n-- @audit who\nDELETE FROM t;", `f.sql:2: @audit takes no arguments, got "who"`},
		{"-- name: Q :exec\n-- @audit\n-- @audit\nDELETE FROM t;", "f.sql:3: duplicate @audit (first at line 2)"},
		{"-- name: Q :batchexec\n-- @audit\nDELETE FROM t WHERE id = $1;", "f.sql:2: @audit on :batchexec Q: batches cannot be audited"},
	} {
		_, err := sqlinfo.ParseQueryFile("f.sql", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}
