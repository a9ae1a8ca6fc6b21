package repo_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/repo"
)

func TestHitAndMiss(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.agent(t, e.user(t).ID)
	get := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }

	first := must[db.Agent](t)(oneQuery(t, e, "GetAgent", get))
	e.waitFills(t, 1)
	second := must[db.Agent](t)(noQuery(t, e, "GetAgent", get))
	third := must[db.Agent](t)(noQuery(t, e, "GetAgent", get))
	for _, got := range []db.Agent{first, second, third} {
		if got.ID != a.ID || got.Name != a.Name || got.Version != a.Version || string(got.Config) != string(a.Config) ||
			!got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("GetAgent = %+v, want %+v", got, a)
		}
	}
	if e.Obs.Hits() != 2 || e.Obs.Misses.Load() != 1 || e.Obs.Fills.Load() != 1 {
		t.Errorf("hits %d misses %d fills %d, want 2 1 1", e.Obs.Hits(), e.Obs.Misses.Load(), e.Obs.Fills.Load())
	}
	// The third read finds versions and value in the in-process tier.
	if e.Obs.LocalHits.Load() < 1 {
		t.Errorf("local hits = %d, want >= 1 (client-side tier)", e.Obs.LocalHits.Load())
	}
	i := slices.IndexFunc(e.RT.Stats(), func(s repo.MethodStats) bool { return s.Name == "GetAgent" })
	if i < 0 {
		t.Fatal("no GetAgent stats")
	}
	if s := e.RT.Stats()[i]; s.Calls != 3 || s.Hits != 2 || s.Misses != 1 {
		t.Errorf("stats = %+v, want 3 calls, 2 hits, 1 miss", s)
	}
	// An uncached method always goes to the database.
	n := e.Tracer.count("FindAgentsByConfig")
	for range 2 {
		must[[]db.Agent](t)(e.Repo.FindAgentsByConfig(ctx, []byte(`{"model":"m1"}`)))
	}
	if got := e.Tracer.count("FindAgentsByConfig") - n; got != 2 {
		t.Errorf("uncached FindAgentsByConfig ran %d queries, want 2", got)
	}
}

func TestKeyedUpdateInvalidatesOnlyItsRow(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user(t).ID
	a, b := e.agent(t, owner), e.agent(t, owner)
	getA := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	getB := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, b.ID) }
	byNameA := func() (db.Agent, error) {
		return e.Repo.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: owner, Name: a.Name})
	}
	byNameB := func() (db.Agent, error) {
		return e.Repo.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: owner, Name: b.Name})
	}
	warm(t, e, "GetAgent", getA)
	warm(t, e, "GetAgent", getB)
	warm(t, e, "GetAgentByName", byNameA)
	warm(t, e, "GetAgentByName", byNameB)

	e.setAgentStatus(t, a.ID, db.AgentStatusActive)

	// Precision across keys: a write naming a by id leaves b's entry read
	// by name (linked to b's id) alone.
	if got := must[db.Agent](t)(noQuery(t, e, "GetAgentByName", byNameB)); got.ID != b.ID || got.Status != db.AgentStatusDraft {
		t.Errorf("GetAgentByName(b) = %s %s, want b draft", got.ID, got.Status)
	}

	if got := must[db.Agent](t)(oneQuery(t, e, "GetAgent", getA)); got.Status != db.AgentStatusActive || got.Version != a.Version+1 {
		t.Errorf("GetAgent(a) after update = %s v%d, want active v%d", got.Status, got.Version, a.Version+1)
	}
	// Row granularity: the other agent's entry survives a keyed write.
	if got := must[db.Agent](t)(noQuery(t, e, "GetAgent", getB)); got.Status != db.AgentStatusDraft {
		t.Errorf("GetAgent(b) = %s, want draft", got.Status)
	}
	// A read keyed by another unique key of the row sees the write too
	// (served through GetAgent's fresh entry: no query of its own).
	if got := must[db.Agent](t)(byNameA()); got.Status != db.AgentStatusActive {
		t.Errorf("GetAgentByName(a) after update = %s, want active", got.Status)
	}

	// A keyed :one write (UPDATE ... RETURNING) as well.
	warm(t, e, "GetAgent", getA)
	cur := must[db.Agent](t)(getA())
	must[db.Agent](t)(e.Repo.UpdateAgentConfig(ctx, db.UpdateAgentConfigParams{
		Config: []byte(`{"model":"m2"}`), Description: "new", ID: a.ID, Version: cur.Version,
	}))
	if got := must[db.Agent](t)(oneQuery(t, e, "GetAgent", getA)); got.Description != "new" || string(got.Config) != `{"model": "m2"}` {
		t.Errorf("GetAgent(a) after UpdateAgentConfig = %q %s", got.Description, got.Config)
	}
	must[db.Agent](t)(noQuery(t, e, "GetAgent", getB))

	// A guarded write that matched nothing changes nothing and invalidates
	// nothing.
	warm(t, e, "GetAgent", getA)
	n, err := e.Repo.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusRetired, ID: a.ID, Version: 1})
	affected(t, "stale UpdateAgentStatus", n, err, 0)
	must[db.Agent](t)(noQuery(t, e, "GetAgent", getA))
}

func TestListsAndAggregatesInvalidatedByKeyedWrite(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user(t).ID
	a := e.agent(t, owner)
	task := e.task(t, &a.ID, nil)

	counts := func() ([]db.CountTasksByStatusPerAgentRow, error) {
		return e.Repo.CountTasksByStatusPerAgent(ctx, owner)
	}
	byStatus := func() ([]db.Agent, error) {
		return e.Repo.ListAgentsByStatus(ctx, db.ListAgentsByStatusParams{Status: db.AgentStatusActive, Limit: 10})
	}
	got := warm(t, e, "CountTasksByStatusPerAgent", counts)
	if len(got) != 1 || got[0].Status != db.TaskStatusPending || got[0].TaskCount != 1 {
		t.Fatalf("counts before = %+v", got)
	}
	if got := warm(t, e, "ListAgentsByStatus", byStatus); len(got) != 0 {
		t.Fatalf("active agents before = %d", len(got))
	}

	n, err := e.Repo.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{Status: db.TaskStatusQueued, ID: task.ID, Version: task.Version})
	affected(t, "TransitionTaskStatus", n, err, 1)
	got = must[[]db.CountTasksByStatusPerAgentRow](t)(oneQuery(t, e, "CountTasksByStatusPerAgent", counts))
	if len(got) != 1 || got[0].Status != db.TaskStatusQueued || got[0].TaskCount != 1 {
		t.Errorf("counts after TransitionTaskStatus = %+v, want 1 queued", got)
	}

	e.setAgentStatus(t, a.ID, db.AgentStatusActive)
	if got := must[[]db.Agent](t)(oneQuery(t, e, "ListAgentsByStatus", byStatus)); len(got) != 1 || got[0].ID != a.ID {
		t.Errorf("active agents after UpdateAgentStatus = %d, want the agent", len(got))
	}
	// The aggregate joins agents too: a keyed agents write invalidates it.
	must[[]db.CountTasksByStatusPerAgentRow](t)(oneQuery(t, e, "CountTasksByStatusPerAgent", counts))
}

func TestUpsertInvalidates(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	cat := randName("cat")
	up := func(name, desc string) db.Tool {
		return must[db.Tool](t)(e.Repo.UpsertTool(ctx, db.UpsertToolParams{
			Name: name, Category: cat, Description: desc, InputSchema: []byte(`{}`), IsEnabled: true,
		}))
	}
	tool := up(randName("tool"), "v1")
	get := func() (db.Tool, error) { return e.Repo.GetTool(ctx, tool.ID) }
	list := func() ([]db.Tool, error) { return e.Repo.ListTools(ctx, cat) }
	warm(t, e, "GetTool", get)
	warm(t, e, "ListTools", list)

	// The update path (ON CONFLICT DO UPDATE), keyed by name: GetTool keyed
	// by id must still be invalidated.
	if got := up(tool.Name, "v2"); got.ID != tool.ID {
		t.Fatalf("upsert changed the id")
	}
	if got := must[db.Tool](t)(oneQuery(t, e, "GetTool", get)); got.Description != "v2" {
		t.Errorf("GetTool after upsert = %q, want v2", got.Description)
	}
	if got := must[[]db.Tool](t)(oneQuery(t, e, "ListTools", list)); len(got) != 1 || got[0].Description != "v2" {
		t.Errorf("ListTools after upsert = %+v", got)
	}
	// A join over tools: disabling the tool drops it from an agent's list.
	a := e.agent(t, e.user(t).ID)
	noErr(t, e.Repo.AssignTool(ctx, db.AssignToolParams{AgentID: a.ID, ToolID: tool.ID, Config: []byte(`{}`)}))
	agentTools := func() ([]db.ListAgentToolsRow, error) { return e.Repo.ListAgentTools(ctx, a.ID) }
	if got := warm(t, e, "ListAgentTools", agentTools); len(got) != 1 {
		t.Fatalf("agent tools = %d", len(got))
	}
	must[db.Tool](t)(e.Repo.UpsertTool(ctx, db.UpsertToolParams{Name: tool.Name, Category: cat, Description: "v2", InputSchema: []byte(`{}`), IsEnabled: false}))
	if got := must[[]db.ListAgentToolsRow](t)(oneQuery(t, e, "ListAgentTools", agentTools)); len(got) != 0 {
		t.Errorf("ListAgentTools after disabling the tool = %d rows, want 0", len(got))
	}

	// The insert path.
	warm(t, e, "ListTools", list)
	up(randName("tool"), "other")
	if got := must[[]db.Tool](t)(oneQuery(t, e, "ListTools", list)); len(got) != 1 || got[0].Description != "other" {
		t.Errorf("ListTools after inserting upsert = %+v, want only the new enabled tool", got)
	}
}

func TestDeleteInvalidates(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.agent(t, e.user(t).ID)
	task := e.task(t, nil, nil)
	getA := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	getT := func() (db.Task, error) { return e.Repo.GetTask(ctx, task.ID) }
	warm(t, e, "GetAgent", getA)
	warm(t, e, "GetTask", getT)

	n, err := e.Repo.DeleteAgent(ctx, a.ID)
	affected(t, "DeleteAgent", n, err, 1)
	n, err = e.Repo.DeleteTask(ctx, task.ID)
	affected(t, "DeleteTask", n, err, 1)
	if _, err := oneQuery(t, e, "GetAgent", getA); !postgres.IsNotFound(err) {
		t.Errorf("GetAgent after DeleteAgent: err = %v, want not found", err)
	}
	if _, err := oneQuery(t, e, "GetTask", getT); !postgres.IsNotFound(err) {
		t.Errorf("GetTask after DeleteTask: err = %v, want not found", err)
	}
}

func TestCopyFromInvalidates(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.agent(t, e.user(t).ID)
	ex := must[db.Execution](t)(e.Repo.CreateExecution(ctx, db.CreateExecutionParams{
		SubjectKind: db.ExecutionSubjectAgent, AgentID: &a.ID, Input: []byte(`{}`),
	}))
	count := func() (int64, error) { return e.Repo.CountExecutionEvents(ctx, ex.ID) }
	if n := warm(t, e, "CountExecutionEvents", count); n != 0 {
		t.Fatalf("events before = %d", n)
	}
	rows := make([]db.InsertExecutionEventsParams, 3)
	for i := range rows {
		rows[i] = db.InsertExecutionEventsParams{ExecutionID: ex.ID, Seq: int32(i), Kind: db.ExecutionEventKindLog, Payload: []byte(`{}`), CreatedAt: time.Now()}
	}
	if n := must[int64](t)(e.Repo.InsertExecutionEvents(ctx, rows)); n != 3 {
		t.Fatalf("copied %d rows", n)
	}
	if n := must[int64](t)(oneQuery(t, e, "CountExecutionEvents", count)); n != 3 {
		t.Errorf("CountExecutionEvents after COPY = %d, want 3", n)
	}
}

func TestBatchExecInvalidates(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	t1, t2 := e.task(t, nil, nil), e.task(t, nil, nil)
	get1 := func() (db.Task, error) { return e.Repo.GetTask(ctx, t1.ID) }
	get2 := func() (db.Task, error) { return e.Repo.GetTask(ctx, t2.ID) }
	warm(t, e, "GetTask", get1)
	warm(t, e, "GetTask", get2)

	var errs []error
	e.Repo.BumpTaskPriority(ctx, []uuid.UUID{t1.ID, t2.ID}).Exec(func(_ int, err error) { errs = append(errs, err) })
	if len(errs) != 2 || errors.Join(errs...) != nil {
		t.Fatalf("batch results: %v", errs)
	}
	for _, get := range []func() (db.Task, error){get1, get2} {
		if got := must[db.Task](t)(oneQuery(t, e, "GetTask", get)); got.Priority != 3 {
			t.Errorf("GetTask after BumpTaskPriority: priority %d, want 3", got.Priority)
		}
	}

	// Inside a transaction the batch's invalidation waits for the commit.
	warm(t, e, "GetTask", get1)
	err := e.Repo.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, r *db.Repository) error {
		r.BumpTaskPriority(ctx, []uuid.UUID{t1.ID}).Exec(nil)
		if got := must[db.Task](t)(noQuery(t, e, "GetTask", get1)); got.Priority != 3 {
			t.Errorf("outside reader during tx: priority %d, want the committed 3", got.Priority)
		}
		return nil
	})
	noErr(t, err)
	if got := must[db.Task](t)(oneQuery(t, e, "GetTask", get1)); got.Priority != 4 {
		t.Errorf("GetTask after committed batch: priority %d, want 4", got.Priority)
	}
}

func TestCascadeInvalidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user(t).ID
	a := e.agent(t, owner)
	tool := must[db.Tool](t)(e.Repo.UpsertTool(ctx, db.UpsertToolParams{Name: randName("tool"), Category: "c", InputSchema: []byte(`{}`), IsEnabled: true}))
	noErr(t, e.Repo.AssignTool(ctx, db.AssignToolParams{AgentID: a.ID, ToolID: tool.ID, Config: []byte(`{}`)}))
	task := e.task(t, &a.ID, nil)
	ex := must[db.Execution](t)(e.Repo.CreateExecution(ctx, db.CreateExecutionParams{
		SubjectKind: db.ExecutionSubjectAgent, AgentID: &a.ID, Input: []byte(`{}`),
	}))

	tools := func() ([]db.ListAgentToolsRow, error) { return e.Repo.ListAgentTools(ctx, a.ID) }
	getT := func() (db.Task, error) { return e.Repo.GetTask(ctx, task.ID) }
	getE := func() (db.Execution, error) { return e.Repo.GetExecution(ctx, ex.ID) }
	counts := func() ([]db.CountTasksByStatusPerAgentRow, error) {
		return e.Repo.CountTasksByStatusPerAgent(ctx, owner)
	}
	if got := warm(t, e, "ListAgentTools", tools); len(got) != 1 {
		t.Fatalf("tools before = %d", len(got))
	}
	if got := warm(t, e, "GetTask", getT); got.AssigneeAgentID == nil {
		t.Fatal("task not assigned")
	}
	warm(t, e, "GetExecution", getE)
	warm(t, e, "CountTasksByStatusPerAgent", counts)

	n, err := e.Repo.DeleteAgent(ctx, a.ID)
	affected(t, "DeleteAgent", n, err, 1)

	// ON DELETE CASCADE (agent_tools) and SET NULL (tasks, executions).
	if got := must[[]db.ListAgentToolsRow](t)(oneQuery(t, e, "ListAgentTools", tools)); len(got) != 0 {
		t.Errorf("ListAgentTools after DeleteAgent = %d rows, want 0", len(got))
	}
	if got := must[db.Task](t)(oneQuery(t, e, "GetTask", getT)); got.AssigneeAgentID != nil {
		t.Errorf("GetTask after DeleteAgent: assignee %v, want NULL", *got.AssigneeAgentID)
	}
	if got := must[db.Execution](t)(oneQuery(t, e, "GetExecution", getE)); got.AgentID != nil {
		t.Errorf("GetExecution after DeleteAgent: agent %v, want NULL", *got.AgentID)
	}
	if got := must[[]db.CountTasksByStatusPerAgentRow](t)(oneQuery(t, e, "CountTasksByStatusPerAgent", counts)); len(got) != 0 {
		t.Errorf("counts after DeleteAgent = %+v, want none", got)
	}
}

func TestNegativeCaching(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	id := uuid.New()
	get := func() (db.User, error) { return e.Repo.GetUser(ctx, id) }

	_, missErr := oneQuery(t, e, "GetUser", get)
	if !errors.Is(missErr, postgres.ErrNotFound) || !errors.Is(missErr, pgx.ErrNoRows) {
		t.Fatalf("GetUser(missing) on a miss: err = %v, want postgres.ErrNotFound and pgx.ErrNoRows", missErr)
	}
	e.waitFills(t, 1)
	_, hitErr := noQuery(t, e, "GetUser", get)
	if !postgres.IsNotFound(hitErr) {
		t.Fatalf("GetUser(missing) on a negative hit: err = %v, want not found", hitErr)
	}
	if e.Obs.NegativeHits.Load() != 1 {
		t.Errorf("negative hits = %d, want 1", e.Obs.NegativeHits.Load())
	}

	// A row inserted behind the repository's back stays invisible while the
	// negative entry lives (TTL-bounded staleness)...
	if _, err := e.Pool.Exec(ctx, `INSERT INTO users (id, email, display_name) VALUES ($1, $2, 'Late')`, id, randName("late")+"@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := noQuery(t, e, "GetUser", get); !postgres.IsNotFound(err) {
		t.Errorf("negative entry not served: err = %v", err)
	}
	// ...an insert of another user through the repository leaves it (it
	// names other keys)...
	e.user(t)
	if _, err := noQuery(t, e, "GetUser", get); !postgres.IsNotFound(err) {
		t.Errorf("negative entry dropped by an unrelated insert: err = %v", err)
	}
	// ...and a write to that row through the repository invalidates it.
	if n, err := e.Repo.UpdateUserRole(ctx, db.UpdateUserRoleParams{ID: id, Role: db.UserRoleViewer}); err != nil || n != 1 {
		t.Fatalf("UpdateUserRole = %d, %v", n, err)
	}
	if got := must[db.User](t)(oneQuery(t, e, "GetUser", get)); got.ID != id || got.DisplayName != "Late" {
		t.Errorf("GetUser after CreateUser = %+v", got)
	}

	// Methods without negative= do not cache not-found.
	gid := uuid.New()
	for range 2 {
		if _, err := oneQuery(t, e, "GetTool", func() (db.Tool, error) { return e.Repo.GetTool(ctx, gid) }); !postgres.IsNotFound(err) {
			t.Fatalf("GetTool(missing): %v", err)
		}
	}
}

// A negative-cache hit must return the same error a miss returns, so that
// callers' errors.Is(err, postgres.ErrNotFound) does not depend on cache state.
func TestNegativeHitErrorMatchesMiss(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	id := uuid.New()
	_, missErr := e.Repo.GetUser(ctx, id)
	e.waitFills(t, 1)
	_, hitErr := noQuery(t, e, "GetUser", func() (db.User, error) { return e.Repo.GetUser(ctx, id) })
	for _, target := range []error{postgres.ErrNotFound, pgx.ErrNoRows} {
		if errors.Is(missErr, target) != errors.Is(hitErr, target) {
			t.Errorf("errors.Is(err, %v): miss %v (%v), negative hit %v (%v)",
				target, errors.Is(missErr, target), missErr, errors.Is(hitErr, target), hitErr)
		}
	}
}

// TestFillRaceForcedInterleaving forces the interleaving the version keys
// exist for: a reader loads the old row, a writer commits and invalidates,
// then the reader fills. A later read must see the new row.
func TestFillRaceForcedInterleaving(t *testing.T) {
	ctx := context.Background()
	t.Run("write commits while the loader holds the old row", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		a := e.agent(t, e.user(t).ID)
		gt := e.Tracer.hold(t, "GetAgent")
		got := make(chan db.Agent, 1)
		go func() {
			v, err := e.Repo.GetAgent(ctx, a.ID)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		gt.wait(t) // the reader has the old row and has not filled
		e.setAgentStatus(t, a.ID, db.AgentStatusActive)
		gt.open()
		if v := <-got; v.Status != db.AgentStatusDraft {
			t.Fatalf("reader got %s, want the old draft row (the interleaving did not happen)", v.Status)
		}
		e.waitFills(t, 1)
		if e.Obs.FillsSkipped.Load() != 1 || e.Obs.Fills.Load() != 0 {
			t.Errorf("fills %d skipped %d, want the stale fill skipped", e.Obs.Fills.Load(), e.Obs.FillsSkipped.Load())
		}
		for range 3 {
			if v := must[db.Agent](t)(e.Repo.GetAgent(ctx, a.ID)); v.Status != db.AgentStatusActive {
				t.Fatalf("later read = %s, want active (stale row put back into the cache)", v.Status)
			}
		}
	})
	t.Run("writer in another process", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		w := newEnv(t, envOptions{dsn: e.DSN, redis: &e.Redis})
		a := e.agent(t, e.user(t).ID)
		gt := e.Tracer.hold(t, "GetAgent")
		got := make(chan db.Agent, 1)
		go func() {
			v, err := e.Repo.GetAgent(ctx, a.ID)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		gt.wait(t)
		w.setAgentStatus(t, a.ID, db.AgentStatusActive)
		gt.open()
		if v := <-got; v.Status != db.AgentStatusDraft {
			t.Fatalf("reader got %s, want draft", v.Status)
		}
		e.waitFills(t, 1)
		if e.Obs.FillsSkipped.Load() != 1 {
			t.Errorf("stale fill not skipped (fills %d, skipped %d)", e.Obs.Fills.Load(), e.Obs.FillsSkipped.Load())
		}
		for _, r := range []*env{e, w} {
			if v := must[db.Agent](t)(r.Repo.GetAgent(ctx, a.ID)); v.Status != db.AgentStatusActive {
				t.Fatalf("later read = %s, want active", v.Status)
			}
		}
	})
	t.Run("reader fills between commit and invalidation", func(t *testing.T) {
		// The transaction has committed in the database but its invalidation
		// has not been applied when the reader (which saw the old row) fills.
		// The fill lands under the old versions, which the invalidation then
		// retires.
		e := newEnv(t, envOptions{})
		a := e.agent(t, e.user(t).ID)
		gt := e.Tracer.hold(t, "GetAgent")
		got := make(chan db.Agent, 1)
		go func() {
			v, err := e.Repo.GetAgent(ctx, a.ID)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		gt.wait(t)
		tx := must[pgx.Tx](t)(e.Pool.Begin(ctx))
		txr, pending := e.Repo.WithTx(tx)
		n, err := txr.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{Status: db.AgentStatusPaused, ID: a.ID, Version: a.Version})
		affected(t, "UpdateAgentStatus in tx", n, err, 1)
		noErr(t, tx.Commit(ctx))
		gt.open()
		if v := <-got; v.Status != db.AgentStatusDraft {
			t.Fatalf("reader got %s, want draft", v.Status)
		}
		e.waitFills(t, 1)
		noErr(t, pending.Committed(ctx))
		if v := must[db.Agent](t)(oneQuery(t, e, "GetAgent", func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) })); v.Status != db.AgentStatusPaused {
			t.Fatalf("read after Committed = %s, want paused", v.Status)
		}
	})
}

func TestConcurrentMissesRunOneQuery(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	a := e.agent(t, e.user(t).ID)
	const n = 100
	// Hold the first load until every caller has missed, so all of them
	// really are concurrent with it.
	gt := e.Tracer.hold(t, "GetAgent")
	var wg sync.WaitGroup
	results := make([]db.Agent, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() { results[i], errs[i] = e.Repo.GetAgent(ctx, a.ID) })
	}
	gt.wait(t)
	waitFor(t, "100 misses", 10*time.Second, func() bool { return e.Obs.Misses.Load() >= n })
	time.Sleep(20 * time.Millisecond) // let the last misses reach the in-flight call
	gt.open()
	wg.Wait()
	elapsed := time.Since(start)
	for i := range n {
		if errs[i] != nil || results[i].ID != a.ID {
			t.Fatalf("caller %d: %v %v", i, results[i].ID, errs[i])
		}
	}
	if q := e.Tracer.count("GetAgent"); q != 1 {
		t.Errorf("%d concurrent misses ran %d database queries, want 1", n, q)
	}
	t.Logf("%d concurrent misses: %d query, %s", n, e.Tracer.count("GetAgent"), elapsed)
}

// Two processes (own caches, own Redis connections) missing one key at once:
// the lease makes one of them load and the other wait for its fill.
func TestConcurrentMissesAcrossCachesShareOneLoad(t *testing.T) {
	e1 := newEnv(t, envOptions{})
	e2 := newEnv(t, envOptions{dsn: e1.DSN, redis: &e1.Redis})
	ctx := context.Background()
	a := e1.agent(t, e1.user(t).ID)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	start := make(chan struct{})
	for _, e := range []*env{e1, e2} {
		for range n {
			wg.Go(func() {
				<-start
				v, err := e.Repo.GetAgent(ctx, a.ID)
				if err == nil && v.ID != a.ID {
					err = errors.New("wrong agent")
				}
				errs <- err
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, err)
	}
	q := e1.Tracer.count("GetAgent") + e2.Tracer.count("GetAgent")
	t.Logf("2x%d concurrent misses in two caches: %d database queries", n, q)
	if q != 1 {
		t.Errorf("two caches ran %d queries for one key, want 1 (lease)", q)
	}
}

// An INSERT whose primary key comes from a column default (not a parameter)
// creates a row no cached keyed read can name, and cannot change existing
// rows: it must invalidate lists and aggregates of the table, but not
// every other row's keyed entry. With table-wide invalidation a workload
// whose writes are mostly inserts empties the cache (issue 3, item 2).
func TestInsertKeepsOtherRowsCached(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	owner := e.user(t)
	a := e.agent(t, owner.ID)
	task := e.task(t, &a.ID, nil)
	getU := func() (db.User, error) { return e.Repo.GetUser(ctx, owner.ID) }
	getA := func() (db.Agent, error) { return e.Repo.GetAgent(ctx, a.ID) }
	getT := func() (db.Task, error) { return e.Repo.GetTask(ctx, task.ID) }
	counts := func() ([]db.CountTasksByStatusPerAgentRow, error) {
		return e.Repo.CountTasksByStatusPerAgent(ctx, owner.ID)
	}
	warm(t, e, "GetUser", getU)
	warm(t, e, "GetAgent", getA)
	warm(t, e, "GetTask", getT)
	warm(t, e, "CountTasksByStatusPerAgent", counts)

	e.user(t)
	e.agent(t, owner.ID)
	e.task(t, &a.ID, nil)

	// The aggregate over the table must change...
	if got := must[[]db.CountTasksByStatusPerAgentRow](t)(oneQuery(t, e, "CountTasksByStatusPerAgent", counts)); len(got) != 1 || got[0].TaskCount != 2 {
		t.Errorf("counts after CreateTask = %+v, want 2 tasks", got)
	}
	// ...the existing rows' entries need not.
	noQuery(t, e, "GetUser", getU)
	noQuery(t, e, "GetAgent", getA)
	noQuery(t, e, "GetTask", getT)
}
