package health_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/health"
)

// fixed is a check whose store is in state s; it counts its runs.
func fixed(name string, critical bool, s health.State, runs *atomic.Int64) health.Check {
	return health.Check{Name: name, Critical: critical, Probe: func(context.Context) health.Status {
		runs.Add(1)
		return health.Status{State: s}
	}}
}

func TestStatesAndStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		pg, redis, surreal health.State
		code               int
		state              health.State
	}{
		{health.Up, health.Up, health.Up, 200, health.Up},
		{health.Up, health.Down, health.Up, 200, health.Degraded},
		{health.Up, health.Up, health.Down, 200, health.Degraded},
		{health.Degraded, health.Up, health.Up, 200, health.Degraded},
		{health.Down, health.Up, health.Up, 503, health.Down},
		{health.Down, health.Down, health.Down, 503, health.Down},
	} {
		var n atomic.Int64
		c := health.New(health.Config{Checks: []health.Check{
			fixed("postgres", true, tc.pg, &n), fixed("redis", false, tc.redis, &n), fixed("surrealdb", false, tc.surreal, &n),
		}})
		rec := httptest.NewRecorder()
		c.Ready().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var rep health.Report
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rec.Code != tc.code || rep.State != tc.state || rep.Ready != (tc.code == 200) || len(rep.Stores) != 3 {
			t.Errorf("pg %s, redis %s, surreal %s: %d %+v; want %d %s", tc.pg, tc.redis, tc.surreal, rec.Code, rep, tc.code, tc.state)
		}
	}
}

// Concurrent probes share one run; results are reused for CacheFor.
func TestChecksAreSharedAndReused(t *testing.T) {
	var n atomic.Int64
	slow := health.Check{Name: "postgres", Critical: true, Probe: func(ctx context.Context) health.Status {
		n.Add(1)
		time.Sleep(50 * time.Millisecond)
		return health.Status{State: health.Up}
	}}
	c := health.New(health.Config{Checks: []health.Check{slow}, CacheFor: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { c.Check(context.Background()) })
	}
	wg.Wait()
	if got := n.Load(); got != 1 {
		t.Errorf("100 concurrent probes ran the check %d times; want 1", got)
	}
	time.Sleep(350 * time.Millisecond)
	c.Check(context.Background())
	if got := n.Load(); got != 2 {
		t.Errorf("a probe after CacheFor ran the check %d times in all; want 2", got)
	}
}

// A check that ignores its context is still bounded by the timeout.
func TestTimeoutBoundsAHungCheck(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	hung := health.Check{Name: "postgres", Critical: true, Probe: func(context.Context) health.Status {
		<-block
		return health.Status{State: health.Up}
	}}
	c := health.New(health.Config{Checks: []health.Check{hung}, Timeout: 100 * time.Millisecond})
	start := time.Now()
	rep := c.Check(context.Background())
	if time.Since(start) > time.Second || rep.Ready || rep.Stores["postgres"].State != health.Down || rep.Stores["postgres"].Error == "" {
		t.Errorf("hung check: %+v after %s", rep, time.Since(start))
	}
}
