package cache_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/redis/rueidis"
)

// Credential rotation (issue 11): the ACL password is read from
// Config.PasswordFile on every reconnect, so after the password changes on
// the server and in the file, a dropped connection comes back with the new
// one, without a restart.
func TestRedisPasswordFileRotation(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	ctx := context.Background()
	admin, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	acl := func(args ...string) {
		t.Helper()
		if err := admin.Do(ctx, admin.B().Arbitrary("ACL").Args(args...).Build()).Error(); err != nil {
			t.Fatalf("ACL %v: %v", args, err)
		}
	}
	acl("SETUSER", "app", "on", ">pw-one", "~*", "&*", "+@all")
	pwFile := filepath.Join(t.TempDir(), "redis-password")
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
	client, err := cache.NewClient(ctx, cache.Config{Addrs: []string{srv.Addr()}, Username: "app", PasswordFile: pwFile, DisableClientCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	whoami := func() (string, error) {
		return client.Do(ctx, client.B().AclWhoami().Build()).ToString()
	}
	if u, err := whoami(); err != nil || u != "app" {
		t.Fatalf("whoami = %q, %v", u, err)
	}

	// Rotate: add the new password, publish it, drop the old one, and cut
	// the client's connections so that it must log in again.
	acl("SETUSER", "app", ">pw-two")
	write("pw-two")
	acl("SETUSER", "app", "<pw-one")
	if err := admin.Do(ctx, admin.B().Arbitrary("CLIENT", "KILL").Args("USER", "app").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for {
		u, err := whoami()
		if err == nil && u == "app" {
			break
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("client never logged in again with the rotated password: %v", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := client.Do(ctx, client.B().Set().Key("rotated").Value("yes").Build()).Error(); err != nil {
		t.Fatal(err)
	}
}
