package db_test

// TEMPORARY stand-in for internal/testinfra while it is being written.
// DELETE before the final commit.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

const tmpServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	tmplOnce sync.Once
	tmplName string
	tmplErr  error
	dbSeq    atomic.Int64
)

func tmpMain(m *testing.M) { os.Exit(m.Run()) }

func tmpPostgres(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	tmplOnce.Do(func() {
		tmplName = fmt.Sprintf("dbtest_tmpl_%d", os.Getpid())
		c, err := pgx.Connect(ctx, tmpServer)
		if err != nil {
			tmplErr = err
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "CREATE DATABASE "+tmplName); err != nil {
			tmplErr = err
			return
		}
		tc, err := pgx.Connect(ctx, strings.Replace(tmpServer, "/postgres?", "/"+tmplName+"?", 1))
		if err != nil {
			tmplErr = err
			return
		}
		defer tc.Close(ctx)
		files, _ := filepath.Glob("../schema/*.sql")
		sort.Strings(files)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if _, err := tc.Exec(ctx, string(b)); err != nil {
				tmplErr = fmt.Errorf("%s: %w", f, err)
				return
			}
		}
	})
	if tmplErr != nil {
		t.Fatal(tmplErr)
	}
	name := fmt.Sprintf("dbtest_%d_%d", os.Getpid(), dbSeq.Add(1))
	c, err := pgx.Connect(ctx, tmpServer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmplName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, tmpServer)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return strings.Replace(tmpServer, "/postgres?", "/"+name+"?", 1)
}
