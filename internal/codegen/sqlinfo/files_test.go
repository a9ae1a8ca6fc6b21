package sqlinfo_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agentical/datalayer/internal/codegen/sqlinfo"
)

func TestReadAndParseFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"queries/a.sql":     {Data: []byte("-- name: A :one\nSELECT * FROM users WHERE id = $1;\n-- name: Same :exec\nDELETE FROM users;\n")},
		"queries/b.sql":     {Data: []byte("-- name: B :many\nSELECT * FROM users;\n\n-- name: Same :exec\nDELETE FROM users;\n")},
		"queries/notes.txt": {Data: []byte("not sql")},
		"empty/readme.md":   {Data: []byte("x")},
	}
	files, err := sqlinfo.ReadSQLFiles(fsys, "queries")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files["queries/a.sql"] == nil {
		t.Fatalf("files = %v", files)
	}
	qs, err := sqlinfo.ParseQueryFiles(files)
	var list sqlinfo.ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Error() != "queries/b.sql:4: query Same already defined in queries/a.sql" {
		t.Fatalf("err = %v", err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	if strings.Join(names, ",") != "A,Same,B" {
		t.Errorf("queries = %v", names)
	}
	if _, err := sqlinfo.ReadSQLFiles(fsys, "empty"); err == nil {
		t.Error("no error for a directory without .sql files")
	}
}
