package faults_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
)

// surrealFaults kills and restarts a SurrealDB peer (data kept on disk)
// under a workload of merges with increasing counters and reads, and checks
// that acknowledged merges survive and reads after recovery are current.
func surrealFaults(t *testing.T, outage time.Duration) []result {
	p := surrealpeer.Private(t, surrealpeer.Config{DataDir: t.TempDir()})
	ctx := context.Background()
	s, err := surreal.Open(ctx, surreal.Config{URL: p.URL(), Namespace: "faults", Database: "faults",
		Username: p.Username(), Password: p.Password(), DialTimeout: time.Second})
	must(t, err)
	defer s.Close(ctx)
	if _, err := surreal.QueryRaw(ctx, s, "DEFINE TABLE counter SCHEMALESS", nil); err != nil {
		t.Fatal(err)
	}
	const keys = 8
	acked := make([]int, keys)
	for i := range keys {
		if _, err := surreal.Create[map[string]any](ctx, s, surreal.Record("counter", i), map[string]any{"n": 0}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	var mu sync.Mutex
	var unknown int
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; wctx.Err() == nil; i++ {
				k := g + 4*(i%2) // each writer owns two keys
				mu.Lock()
				n := acked[k] + 1
				mu.Unlock()
				start := time.Now()
				_, err := surreal.Merge[map[string]any](wctx, s, surreal.Record("counter", k), map[string]any{"n": n})
				if wctx.Err() != nil {
					return
				}
				rec.add(start, err)
				mu.Lock()
				if err == nil {
					acked[k] = n
				} else {
					unknown++
				}
				mu.Unlock()
				start = time.Now()
				_, err = surreal.Select[map[string]any](wctx, s, surreal.Record("counter", (k+1)%keys))
				if wctx.Err() == nil {
					rec.add(start, err)
				}
				time.Sleep(3 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	must(t, p.Kill(ctx))
	time.Sleep(outage - time.Since(start))
	must(t, p.Restart(ctx))
	end := time.Now()
	time.Sleep(max(2*end.Sub(start), 1500*time.Millisecond))
	stop()
	wg.Wait()
	r := summarize("SurrealDB killed and restarted", end.Sub(start), rec.between(start, time.Now()), end)
	r.Unknown = unknown
	for k := range keys {
		got, err := surreal.Select[map[string]any](ctx, s, surreal.Record("counter", k))
		if err != nil {
			t.Fatalf("read after recovery: %v", err)
		}
		var n int
		fmt.Sscan(fmt.Sprint(got["n"]), &n)
		if n < acked[k] {
			r.Lost++
		}
	}
	t.Logf("%s: %+v", r.Fault, r)
	return []result{r}
}
