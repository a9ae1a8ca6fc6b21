package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/resilience"
	"github.com/jackc/pgx/v5/pgxpool"
)

// privateServer starts a PostgreSQL cluster of the test's own, which it may
// stop and start (devserver.Postgres.Down/Up) without disturbing other tests.
func privateServer(t testing.TB, settings map[string]string) *devserver.Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{MaxConnections: 40, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

func openPool(t testing.TB, cfg postgres.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.NewPool(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Regression (issue 11, item 5): pooled connections that a server restart
// closed are dropped before use, so writes right after a quick restart
// succeed instead of failing on a dead connection (writes are not retried
// once sent, so the pool must not send them on one).
func TestDeadPooledConnectionsAreDropped(t *testing.T) {
	srv := privateServer(t, nil)
	pool := openPool(t, postgres.Config{URL: srv.DSN(), MaxConns: 4, MinConns: 4})
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE w (id bigserial PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	warm := func() {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _, _ = pool.Exec(ctx, "SELECT pg_sleep(0.01)") })
		}
		wg.Wait()
	}
	warm()
	pol, err := resilience.New(resilience.Config{})
	if err != nil {
		t.Fatal(err)
	}
	write := pol.MustExecutor(resilience.Write, "", resilience.Profile{})
	for round := range 2 {
		if err := srv.Down(ctx, devserver.Fast); err != nil {
			t.Fatal(err)
		}
		if err := srv.Up(ctx); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i := range 4 {
			wg.Go(func() {
				err := resilience.Run(ctx, write, func(ctx context.Context) error {
					_, err := pool.Exec(ctx, "INSERT INTO w (v) VALUES ($1)", i)
					return err
				})
				if err != nil {
					failed.Add(1)
					t.Errorf("round %d: write after restart: %v", round, err)
				}
			})
		}
		wg.Wait()
		if failed.Load() > 0 {
			return
		}
		warm()
	}
}

// Regression (issue 11, item 5): a one-second restart under a mixed workload
// must not cost ~10 s of errors (a breaker open for its full delay). Errors
// must stop within the outage's own length after the server is back, i.e.
// within twice the outage.
func TestOneSecondRestartRecoversFast(t *testing.T) {
	srv := privateServer(t, nil)
	pool := openPool(t, postgres.Config{URL: srv.DSN(), MaxConns: 8, ConnectTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := pool.Exec(ctx, "CREATE TABLE w (id bigserial PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	pol, err := resilience.New(resilience.Config{Timeout: time.Second}) // default breaker
	if err != nil {
		t.Fatal(err)
	}
	read := pol.MustExecutor(resilience.Read, "", resilience.Profile{})
	write := pol.MustExecutor(resilience.Write, "", resilience.Profile{})

	var mu sync.Mutex
	var lastErr time.Time
	var lastErrText string
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var err error
				if (g+i)%3 == 0 {
					err = resilience.Run(ctx, write, func(ctx context.Context) error {
						_, err := pool.Exec(ctx, "INSERT INTO w (v) VALUES ($1)", i)
						return err
					})
				} else {
					_, err = resilience.Get(ctx, read, func(ctx context.Context) (int64, error) {
						var n int64
						return n, pool.QueryRow(ctx, "SELECT count(*) FROM w WHERE v = $1", i%10).Scan(&n)
					})
				}
				switch {
				case ctx.Err() != nil:
				case err != nil:
					failed.Add(1)
					mu.Lock()
					lastErr, lastErrText = time.Now(), err.Error()
					mu.Unlock()
				default:
					ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	const outage = time.Second
	down := time.Now()
	if err := srv.Down(context.Background(), devserver.Fast); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outage - time.Since(down))
	if err := srv.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	// Watch long enough that a breaker stuck open for its old 10 s delay shows.
	time.Sleep(4 * time.Second)
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	downFor := back.Sub(down)
	t.Logf("outage %v (server back after %v); %d ok, %d failed; last error %v after the outage began: %s",
		outage, downFor.Round(time.Millisecond), ok.Load(), failed.Load(), lastErr.Sub(down).Round(time.Millisecond), lastErrText)
	if lastErr.IsZero() {
		return
	}
	if late := lastErr.Sub(back); late > downFor {
		t.Errorf("errors went on %v after the server was back (outage %v): want them to stop within twice the outage; last: %s",
			late.Round(time.Millisecond), downFor.Round(time.Millisecond), lastErrText)
	}
}
