package surreal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/surreal"
)

func TestSecretsStayOutOfStringsAndErrors(t *testing.T) {
	const secret = "s3cr3t-pw"
	if r := surreal.Redact("ws://user:" + secret + "@127.0.0.1:1/rpc"); strings.Contains(r, secret) || !strings.Contains(r, "user") {
		t.Fatalf("Redact = %q", r)
	}
	cfg := surreal.Config{URL: "ws://user:" + secret + "@127.0.0.1:1", Namespace: "n", Database: "d", Username: "root", Password: secret, Token: secret}
	if s := cfg.String(); strings.Contains(s, secret) {
		t.Fatalf("Config.String leaks the password: %s", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg.DialTimeout = time.Second
	_, err := surreal.Open(ctx, cfg) // nothing listens on port 1
	if err == nil {
		t.Fatal("open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error leaks the password: %v", err)
	}
	if _, err := surreal.Open(ctx, surreal.Config{URL: "ftp://x", Namespace: "n", Database: "d"}); err == nil {
		t.Fatal("ftp URL accepted")
	}
	if _, err := surreal.Open(ctx, surreal.Config{URL: "ws://x"}); err == nil {
		t.Fatal("missing namespace accepted")
	}
}
