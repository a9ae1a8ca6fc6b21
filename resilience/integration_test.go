package resilience_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/resilience"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/rueidis"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// Real server errors: a unique violation from PostgreSQL is never retried;
// a missing row is not a failure.
func TestRealPostgresErrors(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testinfra.PostgresServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE u (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO u VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	p := newPolicies(t, resilience.Config{RetryAttempts: 5, BreakerThreshold: 2})
	write := p.MustExecutor(resilience.Write, "", resilience.Profile{})
	read := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	for range 5 {
		calls := 0
		err := resilience.Run(ctx, write, func(ctx context.Context) error {
			calls++
			_, err := conn.Exec(ctx, "INSERT INTO u VALUES (1)")
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" || calls != 1 {
			t.Fatalf("duplicate insert: err=%v calls=%d", err, calls)
		}
		_, err = resilience.Get(ctx, read, func(ctx context.Context) (int, error) {
			var id int
			return id, conn.QueryRow(ctx, "SELECT id FROM u WHERE id = 2").Scan(&id)
		})
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("missing row: %v", err)
		}
	}
	if p.State() != resilience.Closed {
		t.Fatalf("breaker %v after application errors", p.State())
	}
}

// PostgreSQL unreachable: connect errors are infrastructure, retried for
// reads, and open the breaker; calls then fail fast with ErrOpen.
func TestUnreachablePostgresOpensBreaker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	p := newPolicies(t, resilience.Config{RetryAttempts: 2, BreakerThreshold: 3, BreakerDelay: time.Minute})
	read := p.MustExecutor(resilience.Read, "", resilience.Profile{})
	ctx := context.Background()
	attempts := 0
	dial := func(ctx context.Context) (int, error) {
		attempts++
		conn, err := pgx.Connect(ctx, "postgres://u@"+addr+"/db?connect_timeout=2")
		if err == nil {
			conn.Close(ctx)
		}
		return 0, err
	}
	for range 3 {
		if _, err := resilience.Get(ctx, read, dial); !resilience.IsInfrastructure(err) {
			t.Fatalf("connect error classified %v: %v", resilience.Classify(err), err)
		}
	}
	if attempts != 6 || p.State() != resilience.Open {
		t.Fatalf("attempts=%d state=%v", attempts, p.State())
	}
	start := time.Now()
	_, err = resilience.Get(ctx, read, dial)
	if !errors.Is(err, resilience.ErrOpen) || attempts != 6 {
		t.Fatalf("open breaker: err=%v attempts=%d", err, attempts)
	}
	t.Logf("rejected in %v", time.Since(start))
}

// Redis errors: a nil reply is no failure, WRONGTYPE is permanent, a dead
// server is infrastructure.
func TestRedisErrors(t *testing.T) {
	ctx := context.Background()
	target := testinfra.Redis(t)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{target.Addr}, Username: target.Username,
		Password: target.Password, SelectDB: target.DB, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	k := target.Prefix + "list"
	if err := client.Do(ctx, client.B().Lpush().Key(k).Element("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	nilErr := client.Do(ctx, client.B().Get().Key(target.Prefix+"missing").Build()).Error()
	wrongType := client.Do(ctx, client.B().Get().Key(k).Build()).Error()
	if c := resilience.Classify(nilErr); c != resilience.ClassNone {
		t.Fatalf("nil reply: %v (%v)", c, nilErr)
	}
	if c := resilience.Classify(wrongType); c != resilience.ClassPermanent {
		t.Fatalf("WRONGTYPE: %v (%v)", c, wrongType)
	}

	srv := testinfra.PrivateRedis(t)
	dead, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	down := dead.Do(ctx, dead.B().Get().Key("k").Build()).Error()
	if c := resilience.Classify(down); c != resilience.ClassInfrastructure {
		t.Fatalf("redis down: %v (%v)", c, down)
	}
}
