package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// TestDemo runs the demo briefly against the harness's servers (passed as
// DATABASE_URL and REDIS_URL) and checks the report and the cleanup: the
// demo's database is dropped and its Redis keys are gone.
func TestDemo(t *testing.T) {
	pgURL := testinfra.PostgresServer(t)
	target := testinfra.Redis(t)
	env := []string{"DATABASE_URL=" + pgURL, "REDIS_URL=" + target.URL(),
		"DB_POOL_SIZE=2", "DB_MAX_OVERFLOW=1", "CIRCUIT_BREAKER_ENABLED=true", "CIRCUIT_BREAKER_THRESHOLD=7", "MAX_RETRY_ATTEMPTS=4"}
	prefix := strings.TrimSuffix(target.Prefix, ":")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	args := []string{"-duration", "1s", "-workers", "4", "-agents", "100", "-docker=false", "-prefix", prefix}
	if err := run(ctx, args, &out, env); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)

	for _, want := range []string{
		"postgres  url", "redis     url",
		"seed      5 users, 100 agents, 40 tools,",
		"method", "hit ratio", "p50", "p99",
		"GetAgent", "ListAgentTools", "CountTasksByStatusPerAgent", "UpdateAgentStatus",
		"breakers  database: closed   cache: closed",
		// DB_POOL_SIZE + DB_MAX_OVERFLOW, CIRCUIT_BREAKER_*, MAX_RETRY_ATTEMPTS reach the components.
		"pool max 3 connections, breaker on (threshold 7), 5 attempts per read",
		"note      4 workers share 3 connections",
		" 0 failed;",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// GetAgent is zipf-skewed and cached: some of its reads must be hits.
	m := regexp.MustCompile(`(?m)^\s*GetAgent\s+(\d+)\s+0\s+([\d.]+)%`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no GetAgent row with 0 errors and a hit ratio in the report")
	}
	if m[2] == "0.0" {
		t.Errorf("GetAgent hit ratio is 0%% over %s calls", m[1])
	}

	name := regexp.MustCompile(`database  (datalayer_demo_[0-9a-f]+)`).FindStringSubmatch(report)
	if name == nil {
		t.Fatal("report does not name the database")
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name[1]).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s was not dropped", name[1])
	}

	opt, err := rueidis.ParseURL(target.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	keys, err := client.Do(ctx, client.B().Keys().Pattern(prefix+"*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		t.Errorf("%d keys left under %q, e.g. %s", len(keys), prefix, keys[0])
	}
}
