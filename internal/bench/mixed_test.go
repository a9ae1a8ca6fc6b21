package bench_test

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
)

// versionBook tracks, per agent, the latest version whose write a
// goroutine has seen complete. A read that starts after that and returns
// an older version is stale: it missed a write that had already finished.
type versionBook struct {
	vers  []atomic.Int32
	stale atomic.Int64

	mu    sync.Mutex
	first string
}

func newVersionBook(n int) *versionBook { return &versionBook{vers: make([]atomic.Int32, n)} }

// load sets every agent's version from the database (agents in name order,
// as fixture.agents).
func (vb *versionBook) load(ctx context.Context, f *fixture) error {
	rows, err := f.pool.Query(ctx, `SELECT version FROM agents ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var v int32
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if i >= len(vb.vers) {
			return fmt.Errorf("more agents than %d", len(vb.vers))
		}
		vb.vers[i].Store(v)
		i++
	}
	return rows.Err()
}

// latest is the version to guard a write with, and the floor for a read.
func (vb *versionBook) latest(k int) int32 { return vb.vers[k].Load() }

// committed records that the write from version from to from+1 finished.
// Writes are guarded by version, so only one writer can win each step.
func (vb *versionBook) committed(k int, from int32) {
	if !vb.vers[k].CompareAndSwap(from, from+1) {
		vb.flag(fmt.Sprintf("agent #%d: write from v%d won but the book holds v%d", k, from, vb.vers[k].Load()))
	}
}

// read checks a read that started when the book said floor.
func (vb *versionBook) read(k int, floor, got int32) {
	if got < floor {
		vb.flag(fmt.Sprintf("agent #%d: read v%d after v%d was committed", k, got, floor))
	}
}

func (vb *versionBook) flag(msg string) {
	if vb.stale.Add(1) == 1 {
		vb.mu.Lock()
		vb.first = msg
		vb.mu.Unlock()
	}
}

func (vb *versionBook) firstStale() string {
	vb.mu.Lock()
	defer vb.mu.Unlock()
	return vb.first
}

// workload is one goroutine's random source: zipf-distributed agents (low
// indexes hottest) and a write every mixedWritePct percent on average.
type workload struct {
	rng  *rand.Rand
	zipf *rand.Zipf
	n    int
}

func newWorkload(seed int64, n int) *workload {
	rng := rand.New(rand.NewSource(seed))
	return &workload{rng: rng, zipf: rand.NewZipf(rng, zipfS, 1, uint64(n-1)), n: n}
}

func (w *workload) agent() int   { return int(w.zipf.Uint64()) }
func (w *workload) uniform() int { return w.rng.Intn(w.n) }
func (w *workload) write() bool  { return w.rng.Intn(100) < mixedWritePct }

func TestVersionBookCountsStaleReads(t *testing.T) {
	vb := newVersionBook(2)
	vb.vers[0].Store(1)
	vb.vers[1].Store(1)

	vb.read(0, vb.latest(0), 1) // nothing written yet: fresh
	vb.committed(0, 1)          // v1 -> v2 finished
	vb.read(0, 1, 1)            // read started before the write finished: not stale
	vb.read(0, vb.latest(0), 2) // fresh
	if got := vb.stale.Load(); got != 0 {
		t.Fatalf("stale = %d after fresh reads, want 0 (%s)", got, vb.firstStale())
	}
	vb.read(0, vb.latest(0), 1) // started after v2 was committed, saw v1
	if got := vb.stale.Load(); got != 1 {
		t.Fatalf("stale = %d after a stale read, want 1", got)
	}
	if vb.firstStale() == "" {
		t.Fatal("first stale read not described")
	}
	vb.committed(1, 5) // the book holds v1: a bookkeeping error is flagged too
	if got := vb.stale.Load(); got != 2 {
		t.Fatalf("stale = %d after an inconsistent commit, want 2", got)
	}
}

func TestWorkloadMix(t *testing.T) {
	const n, ops = 10000, 200000
	w := newWorkload(1, n)
	var writes, hot int
	seen := map[int]bool{}
	for range ops {
		k := w.agent()
		if k < 0 || k >= n {
			t.Fatalf("agent index %d out of [0,%d)", k, n)
		}
		seen[k] = true
		if k < 100 {
			hot++
		}
		if w.write() {
			writes++
		}
		if u := w.uniform(); u < 0 || u >= n {
			t.Fatalf("uniform agent index %d out of [0,%d)", u, n)
		}
	}
	if pct := 100 * float64(writes) / ops; pct < mixedWritePct-1 || pct > mixedWritePct+1 {
		t.Errorf("writes = %.1f%%, want %d%%", pct, mixedWritePct)
	}
	// zipf: the hottest 1% of agents take most of the traffic, yet the
	// tail is visited too.
	if share := float64(hot) / ops; share < 0.5 {
		t.Errorf("top 100 agents got %.0f%% of operations, want a zipf skew (> 50%%)", 100*share)
	}
	if len(seen) < 1000 {
		t.Errorf("only %d distinct agents visited, want a long tail", len(seen))
	}
}
