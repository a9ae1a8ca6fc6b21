package surreal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
)

// Credential rotation (issue 11): Config.PasswordFile is read for every new
// connection, so after the user's password changes (DEFINE USER OVERWRITE,
// then the file) the store logs in again with the new one when its
// connections are re-established, here by a server restart.
func TestPasswordFileRotation(t *testing.T) {
	p := surrealpeer.Private(t, surrealpeer.Config{DataDir: t.TempDir()})
	tg := surrealpeer.Target{URL: p.URL(), Username: p.Username(), Password: p.Password(), Namespace: "n", Database: "d"}
	root := openStore(t, tg)
	ctx := context.Background()
	exec(t, root, "DEFINE USER app ON DATABASE PASSWORD 'pw-one' ROLES EDITOR; DEFINE TABLE person SCHEMALESS")
	pwFile := filepath.Join(t.TempDir(), "surreal-password")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(pwFile+".tmp", []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(pwFile+".tmp", pwFile); err != nil {
			t.Fatal(err)
		}
	}
	write("pw-one")
	cfg := configFor(tg)
	cfg.Username, cfg.Password, cfg.PasswordFile, cfg.AuthLevel = "app", "", pwFile, surreal.AuthDatabase
	cfg.PoolSize = 2
	s, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := surreal.Create[person](ctx, s, surreal.Record("person", 1), person{Name: "one"}); err != nil {
		t.Fatal(err)
	}
	exec(t, root, "DEFINE USER OVERWRITE app ON DATABASE PASSWORD 'pw-two' ROLES EDITOR")
	write("pw-two")
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := surreal.Create[person](ctx, s, surreal.Record("person", 2), person{Name: "two"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store never logged in with the rotated password: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The old password no longer works, so the new one was used.
	old := configFor(tg)
	old.Username, old.Password, old.AuthLevel = "app", "pw-one", surreal.AuthDatabase
	if o, err := surreal.Open(ctx, old); err == nil {
		o.Close(ctx)
		t.Fatal("the old password still signs in: the rotation did not happen on the server")
	}
	if _, err := surreal.Open(ctx, func() surreal.Config { c := cfg; c.PasswordFile = pwFile + ".missing"; return c }()); err == nil {
		t.Fatal("Open with a missing password file succeeded")
	}
}
