package surreal_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
)

// Connection limits (issue 11): with MaxInFlight requests outstanding, a
// further call fails after AcquireTimeout with ErrBusy, naming the limit,
// instead of queueing without bound; Stats shows the numbers.
func TestMaxInFlightFailsFast(t *testing.T) {
	cfg := configFor(surrealpeer.ForTest(t))
	cfg.PoolSize, cfg.MaxInFlight, cfg.AcquireTimeout = 1, 2, 100*time.Millisecond
	ctx := context.Background()
	s, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := surreal.QueryRaw(ctx, s, "SLEEP 1500ms", nil); err != nil {
				t.Errorf("slow query: %v", err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().InFlight < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("slow queries never in flight: %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_, err = surreal.Select[person](ctx, s, surreal.Record("person", 1))
	waited := time.Since(start)
	if !errors.Is(err, surreal.ErrBusy) || !strings.Contains(err.Error(), "all 2 request slots") {
		t.Fatalf("call over the limit: %v, want ErrBusy naming the limit", err)
	}
	if waited > time.Second {
		t.Errorf("waited %v for ErrBusy (AcquireTimeout 100ms)", waited)
	}
	st := s.Stats()
	if st.MaxInFlight != 2 || st.InFlight != 2 || st.Busy != 1 || st.PoolSize != 1 || st.OpenConns != 1 {
		t.Errorf("stats %+v", st)
	}
	wg.Wait()
	if err := s.Health(ctx); err != nil {
		t.Fatalf("after the slow queries: %v", err)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("%d requests still counted in flight", st.InFlight)
	}
}
