package surrealpeer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/devserver/dockerserver"
)

// Target is a SurrealDB server handed to one test, with a namespace and
// database of its own.
type Target struct {
	URL       string // ws://host:port; clients append /rpc
	Username  string // root user
	Password  string
	Namespace string // unique per ForTest call
	Database  string
	Peer      *Peer // the shared peer; nil when the server is external
}

// The process-wide peer behind ForTest. It is started on first use and ends
// with the test binary: the peer exits when its stdin (held by this process)
// closes, so no TestMain hook is needed.
var shared struct {
	mu   sync.Mutex
	peer *Peer
	err  error

	dockerTried bool
	dockerURL   string // a surrealdb container, when Docker answered
}

// dockerProbe is how long ForTest waits for a Docker endpoint before it
// falls back to the peer.
const dockerProbe = 4 * time.Second

// ForTest returns a SurrealDB server for t with a fresh namespace and
// database. The server is, in order: TEST_SURREALDB_URL or SURREALDB_URL
// (credentials from TEST_SURREALDB_USER/TEST_SURREALDB_PASS, else
// SURREALDB_USER/SURREALDB_PASS, else root/root); else, when Docker answers
// a bounded probe (and TEST_DOCKER is not 0/false/off/no), a real
// surrealdb/surrealdb v3 container shared by the test binary (removed by
// testcontainers' reaper when the binary exits); else one peer shared by the
// whole test binary. It fails the test when no server can be had.
func ForTest(t testing.TB) Target {
	t.Helper()
	tg := Target{Namespace: "t_" + randomName(), Database: "db"}
	if url := firstEnv("TEST_SURREALDB_URL", "SURREALDB_URL"); url != "" {
		tg.URL = url
		tg.Username = firstEnv("TEST_SURREALDB_USER", "SURREALDB_USER")
		tg.Password = firstEnv("TEST_SURREALDB_PASS", "SURREALDB_PASS")
		if tg.Username == "" {
			tg.Username = "root"
		}
		if tg.Password == "" {
			tg.Password = "root"
		}
		return tg
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.dockerTried {
		shared.dockerTried = true
		shared.dockerURL = startContainer(t)
	}
	if shared.dockerURL != "" {
		tg.URL, tg.Username, tg.Password = shared.dockerURL, "root", containerPass
		return tg
	}
	if shared.peer == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		shared.peer, shared.err = Start(ctx, Config{})
		cancel()
	}
	if shared.err != nil {
		t.Fatalf("surrealpeer: %v", shared.err)
	}
	tg.URL, tg.Username, tg.Password, tg.Peer = shared.peer.URL(), shared.peer.Username(), shared.peer.Password(), shared.peer
	return tg
}

// Private starts a peer used only by t (for tests that stop, kill or restart
// it) and stops it at cleanup. It ignores TEST_SURREALDB_URL: restarting a
// server needs a peer this process controls.
func Private(t testing.TB, cfg Config) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("surrealpeer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
	return p
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// containerPass is the root password of the test container; it never
// leaves this machine.
const containerPass = "surrealpeer-root"

// startContainer returns the URL of a surrealdb container, or "" when Docker
// is disabled or does not answer within dockerProbe (the reason is logged).
func startContainer(t testing.TB) string {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("TEST_DOCKER"))) {
	case "0", "false", "off", "no":
		return ""
	}
	rt := dockerserver.New(dockerserver.Config{ProbeTimeout: dockerProbe})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := rt.Probe(ctx); err != nil {
		t.Logf("surrealpeer: no Docker (%v); using the embedded-engine peer", err)
		return ""
	}
	url, _, err := rt.StartSurreal(ctx, "root", containerPass)
	if err != nil {
		t.Logf("surrealpeer: surrealdb container failed (%v); using the embedded-engine peer", err)
		return ""
	}
	return url
}
