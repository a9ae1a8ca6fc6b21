package dockerserver_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/devserver/dockerserver"
)

// testcontainers remembers the Docker host it found for the life of the
// process, so each probe scenario runs in a child process of its own.
const childEnv = "TEST_DOCKERSERVER_PROBE_CHILD"

// TestProbeChild is the child's body: probe once, print the outcome.
func TestProbeChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as the child of TestProbe*")
	}
	start := time.Now()
	err := dockerserver.New(dockerserver.Config{ProbeTimeout: 700 * time.Millisecond}).Probe(t.Context())
	t.Logf("PROBE elapsed=%s err=%v", time.Since(start).Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("probe succeeded")
	}
}

// probeIn runs the probe in a child process with DOCKER_HOST=host and returns
// how long the child took and its output.
func probeIn(t *testing.T, host string) (time.Duration, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestProbeChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "DOCKER_HOST="+host, "HOME="+t.TempDir(),
		"TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE=", "TESTCONTAINERS_HOST_OVERRIDE=")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil || !strings.Contains(string(out), "PROBE elapsed=") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return elapsed, string(out)
}

func TestProbeNoDocker(t *testing.T) {
	elapsed, out := probeIn(t, "unix://"+filepath.Join(t.TempDir(), "absent.sock"))
	if !strings.Contains(out, "no such file or directory") {
		t.Errorf("probe output:\n%s", out)
	}
	if elapsed > 5*time.Second {
		t.Errorf("child with no Docker took %v", elapsed)
	}
}

// A socket that accepts connections and never answers must cost no more than
// the probe deadline (700ms in the child).
func TestProbeHungDockerIsBounded(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hung.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // hold it open, say nothing
		}
	}()
	_, out := probeIn(t, "unix://"+sock)
	if !strings.Contains(out, "did not answer within 700ms") {
		t.Errorf("probe output:\n%s", out)
	}
	t.Log(out[strings.Index(out, "PROBE"):][:40])
}
