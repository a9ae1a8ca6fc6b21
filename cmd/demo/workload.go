package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/repo"
	"github.com/agentical/datalayer/resilience"
)

// op is one kind of workload step; weight is its share out of the sum.
type op struct {
	weight int
	run    func(ctx context.Context, w *worker) error
}

// The mix: ~90% reads, mostly cached, zipf-skewed over agents; ~10% writes,
// the optimistic ones guarded by the version just read.
var ops = []op{
	{30, func(ctx context.Context, w *worker) error { _, err := w.r.GetAgent(ctx, w.agent().ID); return err }},
	{14, func(ctx context.Context, w *worker) error {
		_, err := w.r.ListAgentTools(ctx, w.agent().ID)
		return err
	}},
	{10, func(ctx context.Context, w *worker) error {
		_, err := w.r.CountTasksByStatusPerAgent(ctx, w.agent().OwnerID)
		return err
	}},
	{10, func(ctx context.Context, w *worker) error { _, err := w.r.GetTask(ctx, w.task()); return err }},
	{5, func(ctx context.Context, w *worker) error { _, err := w.r.GetUser(ctx, w.agent().OwnerID); return err }},
	{5, func(ctx context.Context, w *worker) error {
		_, err := w.r.GetWorkflowWithSteps(ctx, w.workflow())
		return err
	}},
	{4, func(ctx context.Context, w *worker) error {
		_, err := w.r.ListTools(ctx, w.d.categories[w.rng.Intn(len(w.d.categories))])
		return err
	}},
	{3, func(ctx context.Context, w *worker) error {
		a := w.agent()
		_, err := w.r.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: a.OwnerID, Name: a.Name})
		return err
	}},
	{3, func(ctx context.Context, w *worker) error {
		_, err := w.r.CountExecutionEvents(ctx, w.execution())
		return err
	}},
	{2, func(ctx context.Context, w *worker) error { _, err := w.r.GetExecution(ctx, w.execution()); return err }},
	{2, func(ctx context.Context, w *worker) error { _, err := w.r.ListOverdueTasks(ctx, 20); return err }}, // never cached (now())
	// writes
	{3, func(ctx context.Context, w *worker) error {
		a, err := w.r.GetAgent(ctx, w.agent().ID)
		if err != nil {
			return err
		}
		next := db.AgentStatusPaused
		if a.Status == db.AgentStatusPaused {
			next = db.AgentStatusActive
		}
		n, err := w.r.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{ID: a.ID, Status: next, Version: a.Version})
		w.conflict(n, err)
		return err
	}},
	{3, func(ctx context.Context, w *worker) error {
		t, err := w.r.GetTask(ctx, w.task())
		if err != nil {
			return err
		}
		var next db.TaskStatus
		switch t.Status {
		case db.TaskStatusPending, db.TaskStatusBlocked:
			next = db.TaskStatusQueued
		case db.TaskStatusQueued:
			next = db.TaskStatusRunning
		case db.TaskStatusRunning:
			next = db.TaskStatusCompleted
		default:
			// Finished tasks stay finished: TransitionTaskStatus keeps
			// completed_at when a task is reopened, and a later start
			// would break tasks_completed_after_start.
			return nil
		}
		n, err := w.r.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: t.ID, Status: next, Version: t.Version})
		w.conflict(n, err)
		return err
	}},
	{2, func(ctx context.Context, w *worker) error {
		_, err := w.r.AppendExecutionEvent(ctx, db.AppendExecutionEventParams{
			ExecutionID: w.execution(), Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(`{"msg":"workload"}`),
		})
		if errors.Is(err, postgres.ErrConflict) { // two appenders took the same seq
			w.conflicts.Add(1)
			return nil
		}
		return err
	}},
	{1, func(ctx context.Context, w *worker) error {
		return w.r.AssignTool(ctx, db.AssignToolParams{
			AgentID: w.agent().ID, ToolID: w.d.tools[w.rng.Intn(len(w.d.tools))].ID, Config: json.RawMessage(`{}`),
		})
	}},
	{1, func(ctx context.Context, w *worker) error {
		a := w.agent()
		_, err := w.r.CreateTask(ctx, db.CreateTaskParams{
			Title: "Follow up", Priority: 2, AssigneeAgentID: &a.ID, Metadata: json.RawMessage(`{"source":"workload"}`),
		})
		return err
	}},
}

// worker is one goroutine's state. Agents, tasks, workflows and executions
// are each picked zipf-distributed: a few are hot, most are rarely touched.
type worker struct {
	r                          *db.Repository
	d                          *dataset
	rng                        *rand.Rand
	agents, tasks, flows, runs *rand.Zipf
	conflicts                  *atomic.Int64
}

func newWorker(r *db.Repository, d *dataset, seed int64, conflicts *atomic.Int64) *worker {
	rng := rand.New(rand.NewSource(seed))
	z := func(n int) *rand.Zipf { return rand.NewZipf(rng, 1.1, 1, uint64(n-1)) }
	return &worker{
		r: r, d: d, rng: rng, conflicts: conflicts,
		agents: z(len(d.agents)), tasks: z(len(d.tasks)), flows: z(len(d.workflows)), runs: z(len(d.executions)),
	}
}

func (w *worker) agent() *db.Agent     { return &w.d.agents[w.agents.Uint64()] }
func (w *worker) task() uuid.UUID      { return w.d.tasks[w.tasks.Uint64()] }
func (w *worker) workflow() uuid.UUID  { return w.d.workflows[w.flows.Uint64()] }
func (w *worker) execution() uuid.UUID { return w.d.executions[w.runs.Uint64()] }

// conflict counts optimistic writes that found another version (0 rows):
// expected under concurrency, not an error.
func (w *worker) conflict(n int64, err error) {
	if err == nil && n == 0 {
		w.conflicts.Add(1)
	}
}

type workloadResult struct {
	ops, failed, conflicts int64
	firstErr               error
}

// runWorkload runs workers goroutines for d (or until ctx ends). Operations
// use ctx only for cancellation by the user, so none is cut off at the end.
func runWorkload(ctx context.Context, r *db.Repository, d *dataset, workers int, dur time.Duration) workloadResult {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	var (
		res       workloadResult
		count     atomic.Int64
		failed    atomic.Int64
		conflicts atomic.Int64
		errOnce   sync.Once
		wg        sync.WaitGroup
	)
	end := time.Now().Add(dur)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(r, d, int64(i)+1, &conflicts)
			rng := w.rng
			for ctx.Err() == nil && time.Now().Before(end) {
				x := rng.Intn(total)
				var o op
				for _, o = range ops {
					if x < o.weight {
						break
					}
					x -= o.weight
				}
				if err := o.run(ctx, w); err != nil && ctx.Err() == nil {
					failed.Add(1)
					errOnce.Do(func() { res.firstErr = err })
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	res.ops, res.failed, res.conflicts = count.Load(), failed.Load(), conflicts.Load()
	return res
}

// observer counts cache events and keeps the first error for the report.
type observer struct {
	cache.Counters
	mu    sync.Mutex
	first *cache.ErrorEvent
}

func (o *observer) CacheError(e cache.ErrorEvent) {
	o.Counters.CacheError(e)
	o.mu.Lock()
	if o.first == nil {
		o.first = &e
	}
	o.mu.Unlock()
}

func (o *observer) firstError() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first == nil {
		return ""
	}
	return fmt.Sprintf("%s %s: %v", o.first.Op, o.first.Query, o.first.Err)
}

func printReport(out io.Writer, stats []repo.MethodStats, res workloadResult, obs *observer, pol *resilience.Policies, c *cache.Cache, elapsed time.Duration) {
	slices.SortStableFunc(stats, func(a, b repo.MethodStats) int { return int(b.Calls - a.Calls) })
	// Numbers align right; names are padded by hand so they align left.
	w := len("all methods")
	for _, s := range stats {
		w = max(w, len(s.Name))
	}
	name := func(s string) string { return fmt.Sprintf("%-*s", w, s) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\toperations\terrors\thit ratio\tp50\tp99\t\n", name("method"))
	rule := name(strings.Repeat("-", w)) + "\t----------\t------\t---------\t-------\t-------\t"
	fmt.Fprintln(tw, rule)
	var calls, errs, hits, misses int64
	for _, s := range stats {
		ratio := "-"
		if s.Hits+s.Misses > 0 {
			ratio = fmt.Sprintf("%.1f%%", 100*s.HitRatio())
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t\n", name(s.Name), s.Calls, s.Errors, ratio, dur(s.P50), dur(s.P99))
		calls += s.Calls
		errs += s.Errors
		hits += s.Hits
		misses += s.Misses
	}
	fmt.Fprintln(tw, rule)
	overall := "-"
	if hits+misses > 0 {
		overall = fmt.Sprintf("%.1f%%", 100*float64(hits)/float64(hits+misses))
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\t\t\n", name("all methods"), calls, errs, overall)
	_ = tw.Flush()

	cacheState := "closed (Redis reachable)"
	if !c.RedisAvailable() {
		cacheState = "open (Redis unreachable: reads go to PostgreSQL)"
	}
	fmt.Fprintf(out, "\nbreakers  database: %s   cache: %s\n", pol.State(), cacheState)
	fmt.Fprintf(out, "workload  %d operations in %s = %.0f ops/s; %d repository calls; %d failed; %d expected conflicts (optimistic 0-row updates, concurrent event appends)\n",
		res.ops, elapsed.Round(time.Millisecond), float64(res.ops)/elapsed.Seconds(), calls, res.failed, res.conflicts)
	fmt.Fprintf(out, "cache     hits: %d in-process, %d Redis; misses: %d (+%d bypassed); fills: %d (%d skipped as outdated); invalidations: %d; errors: %d; pending: %d\n",
		obs.LocalHits.Load(), obs.RemoteHits.Load(), obs.Misses.Load(), obs.Bypasses.Load(),
		obs.Fills.Load(), obs.FillsSkipped.Load(), obs.Invalidations.Load(), obs.Errors.Load(), c.Pending())
	if res.firstErr != nil {
		fmt.Fprintf(out, "first failed operation: %s\n", strings.TrimSpace(res.firstErr.Error()))
	}
	if e := obs.firstError(); e != "" {
		fmt.Fprintf(out, "first cache error (failed open to PostgreSQL): %s\n", e)
	}
}

// dur prints a latency with three significant digits.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Millisecond).String()
}
