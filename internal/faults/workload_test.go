package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/resilience"
)

// op is one request of the workload.
type op struct {
	at    time.Time // when it returned
	lat   time.Duration
	class string // "" for success
	stale bool   // a read older than a write acknowledged before it started
	// peer marks a read of a hot agent through the other instance, checked
	// against the writes acknowledged peerLag before it started (the
	// cross-process push window): its stale reads are reported apart, and
	// fail the suite like the others.
	peer bool
}

// recorder keeps every op; the suite slices it by time per fault.
type recorder struct {
	mu  sync.Mutex
	ops []op
}

func (r *recorder) add(start time.Time, err error) { r.addRead(start, err, false, false) }

func (r *recorder) addRead(start time.Time, err error, stale, peer bool) {
	now := time.Now()
	o := op{at: now, lat: now.Sub(start), class: classOf(err), stale: stale, peer: peer}
	r.mu.Lock()
	r.ops = append(r.ops, o)
	r.mu.Unlock()
}

func (r *recorder) between(from, to time.Time) []op {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []op
	for _, o := range r.ops {
		if !o.at.Before(from) && o.at.Before(to) {
			out = append(out, o)
		}
	}
	return out
}

// classOf names an error's class for the table.
func classOf(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, resilience.ErrOpen):
		return "breaker-open"
	case errors.Is(err, resilience.ErrTimeout) || errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, postgres.ErrPoolExhausted):
		return "pool-exhausted"
	}
	switch resilience.Classify(err) {
	case resilience.ClassInfrastructure:
		return "unavailable"
	case resilience.ClassConflict:
		return "conflict"
	}
	return "other"
}

// ack is an acknowledged agent version and when its write returned.
type ack struct {
	at      time.Time
	version int32
}

// peerLag is how long after a write's acknowledgement the other instance
// may still read the older value: its in-process copy lasts until Redis's
// invalidation push arrives (the cross-process window in cache/doc.go).
const peerLag = 100 * time.Millisecond

// pgWorkload drives the generated repository: writers own agents and update
// their config under optimistic versions (so a write cannot apply twice),
// and insert tasks with unique titles; readers read agents through the
// cache. It tracks what each acknowledged write must leave behind.
type pgWorkload struct {
	repo *db.Repository
	// peer is a second service instance: its own cache (so none of repo's
	// in-process state, such as the versions repo bumped itself), the same
	// Redis and PostgreSQL. It only reads.
	peer *db.Repository
	raw  *db.Queries
	rec  *recorder

	pause sync.RWMutex // held for writing while the checker looks

	mu      sync.Mutex
	agents  []uuid.UUID         // written by the writers all the time
	cold    []uuid.UUID         // read all the time, written only by touchCold
	acked   map[uuid.UUID]int32 // last acknowledged version per agent
	history map[uuid.UUID][]ack // every acknowledged version per agent
	known   map[uuid.UUID]int32 // version a writer will update from
	tokens  []string            // titles of acknowledged task inserts
	unknown int                 // writes whose outcome is unknown
	writes  atomic.Int64
}

func newPGWorkload(t testing.TB, repo, peer *db.Repository, raw *db.Queries, rec *recorder, agents, cold int) *pgWorkload {
	t.Helper()
	ctx := context.Background()
	w := &pgWorkload{repo: repo, peer: peer, raw: raw, rec: rec, acked: map[uuid.UUID]int32{}, history: map[uuid.UUID][]ack{}, known: map[uuid.UUID]int32{}}
	u, err := repo.CreateUser(ctx, db.CreateUserParams{Email: "faults-" + uuid.NewString() + "@example.com", DisplayName: "faults", Role: db.UserRoleMember})
	if err != nil {
		t.Fatal(err)
	}
	for i := range agents + cold {
		a, err := repo.CreateAgent(ctx, db.CreateAgentParams{OwnerID: u.ID, Name: fmt.Sprintf("fault-agent-%d-%s", i, uuid.NewString()[:8]),
			Kind: db.AgentKindWorker, Status: db.AgentStatusDraft, Config: []byte(`{"n":0}`)})
		if err != nil {
			t.Fatal(err)
		}
		if i < agents {
			w.agents = append(w.agents, a.ID)
		} else {
			w.cold = append(w.cold, a.ID)
		}
		w.acked[a.ID], w.known[a.ID] = a.Version, a.Version
		w.history[a.ID] = []ack{{time.Now(), a.Version}}
	}
	return w
}

// run starts writers (each owning a slice of the agents) and readers until
// ctx ends.
func (w *pgWorkload) run(ctx context.Context, writers, readers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for g := range writers {
		mine := []uuid.UUID{}
		for i, id := range w.agents {
			if i%writers == g {
				mine = append(mine, id)
			}
		}
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				w.pause.RLock()
				if i%4 == 3 {
					w.insertTask(ctx, g, i)
				} else {
					w.update(ctx, mine[i%len(mine)])
				}
				w.pause.RUnlock()
				time.Sleep(3 * time.Millisecond)
			}
		})
	}
	for g := range readers {
		reader := w.repo // half the readers read through the peer instance
		if g%2 == 1 {
			reader = w.peer
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				w.pause.RLock()
				id := w.agents[rand.IntN(len(w.agents))]
				if n := rand.IntN(len(w.agents) + len(w.cold)); n >= len(w.agents) {
					id = w.cold[n-len(w.agents)]
				}
				start := time.Now()
				lag := time.Duration(0)
				if reader == w.peer {
					lag = peerLag
				}
				want := w.ackedAt(id, start.Add(-lag))
				a, err := reader.GetAgent(ctx, id)
				if ctx.Err() == nil {
					w.rec.addRead(start, err, err == nil && a.Version < want, reader == w.peer && !slices.Contains(w.cold, id))
				}
				w.pause.RUnlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return &wg
}

func (w *pgWorkload) update(ctx context.Context, id uuid.UUID) {
	w.mu.Lock()
	from := w.known[id]
	w.mu.Unlock()
	cfg, _ := json.Marshal(map[string]any{"n": from + 1})
	start := time.Now()
	a, err := w.repo.UpdateAgentConfig(ctx, db.UpdateAgentConfigParams{ID: id, Version: from, Config: cfg, Description: "faults"})
	if ctx.Err() != nil {
		return
	}
	w.writes.Add(1)
	switch {
	case err == nil:
		w.rec.add(start, nil)
		w.mu.Lock()
		w.acked[id], w.known[id] = a.Version, a.Version
		w.history[id] = append(w.history[id], ack{time.Now(), a.Version})
		w.mu.Unlock()
	case postgres.IsNotFound(err):
		// An earlier write whose reply was lost did apply: resynchronise.
		w.rec.add(start, nil)
		if cur, err := w.raw.GetAgent(ctx, id); err == nil {
			w.mu.Lock()
			w.known[id] = cur.Version
			w.mu.Unlock()
		}
	default:
		w.rec.add(start, err)
		w.mu.Lock()
		w.unknown++
		w.mu.Unlock()
		if cur, err := w.raw.GetAgent(ctx, id); err == nil {
			w.mu.Lock()
			w.known[id] = cur.Version
			w.mu.Unlock()
		}
	}
}

// ackedAt is the agent's last version acknowledged at or before t.
func (w *pgWorkload) ackedAt(id uuid.UUID, t time.Time) int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.history[id]
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].at.After(t) {
			return h[i].version
		}
	}
	return 0
}

// readCold reads every cold agent through both instances, so each has a
// value cached under its current versions.
func (w *pgWorkload) readCold(ctx context.Context) error {
	for _, id := range w.cold {
		for _, r := range []*db.Repository{w.repo, w.peer} {
			if _, err := r.GetAgent(ctx, id); err != nil {
				return fmt.Errorf("read cold agent: %w", err)
			}
		}
	}
	return nil
}

// touchCold updates every cold agent once (acknowledged) and reads it
// back, caching the new value. Nothing writes them again, so a cache that
// later serves the older value keeps serving it: the check sees it.
func (w *pgWorkload) touchCold(ctx context.Context) error {
	for _, id := range w.cold {
		w.update(ctx, id)
	}
	return w.readCold(ctx)
}

func (w *pgWorkload) insertTask(ctx context.Context, g, i int) {
	title := fmt.Sprintf("fault-%d-%d-%s", g, i, uuid.NewString()[:8])
	start := time.Now()
	_, err := w.repo.CreateTask(ctx, db.CreateTaskParams{Title: title, Metadata: []byte(`{}`)})
	if ctx.Err() != nil {
		return
	}
	w.writes.Add(1)
	w.rec.add(start, err)
	w.mu.Lock()
	if err == nil {
		w.tokens = append(w.tokens, title)
	} else {
		w.unknown++
	}
	w.mu.Unlock()
}

// check pauses the workload and counts acknowledged writes lost (the
// database holds an older agent version, or lacks an acknowledged task),
// stale reads (with no write in flight, the repository's cached read of an
// agent differs from PostgreSQL's row or is older than its last
// acknowledged write) and duplicate task inserts. Every agent is read,
// the cold ones included.
func (w *pgWorkload) check(ctx context.Context, pool postgres.DBTX) (lost, stale, dups int, err error) {
	w.pause.Lock()
	defer w.pause.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range slices.Concat(w.agents, w.cold) {
		raw, err := w.raw.GetAgent(ctx, id)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("raw read: %w", err)
		}
		if raw.Version < w.acked[id] {
			lost++
		}
		for _, r := range []*db.Repository{w.repo, w.peer} {
			got, err := r.GetAgent(ctx, id)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("repository read: %w", err)
			}
			if got.Version < w.acked[id] || got.Version != raw.Version || !bytes.Equal(got.Config, raw.Config) {
				stale++
			}
		}
	}
	var present int
	if err := pool.QueryRow(ctx, "SELECT count(DISTINCT title) FROM tasks WHERE title = ANY($1)", w.tokens).Scan(&present); err != nil {
		return 0, 0, 0, err
	}
	lost += len(w.tokens) - present
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM (SELECT title FROM tasks WHERE title LIKE 'fault-%' GROUP BY title HAVING count(*) > 1) d").Scan(&dups); err != nil {
		return 0, 0, 0, err
	}
	return lost, stale, dups, nil
}

func p99(ops []op) time.Duration {
	if len(ops) == 0 {
		return 0
	}
	lat := make([]time.Duration, len(ops))
	for i, o := range ops {
		lat[i] = o.lat
	}
	slices.Sort(lat)
	return lat[(len(lat)*99)/100]
}
