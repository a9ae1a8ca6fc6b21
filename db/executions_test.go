package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

func execID(x db.Execution) uuid.UUID { return x.ID }

func TestExecutionLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	agent := mkAgent(t, e, o.ID, "runner", db.AgentStatusActive, `{}`)
	wf := mkWorkflow(t, e, o.ID, "flow")

	ex := must[db.Execution](t)(q.CreateExecution(ctx, db.CreateExecutionParams{
		SubjectKind: db.ExecutionSubjectAgent, AgentID: &agent.ID, TriggeredBy: &o.ID, Input: json.RawMessage(`{"prompt":"hi"}`),
	}))
	eq(t, "status", ex.Status, db.ExecutionStatusPending)
	eq(t, "agent", *ex.AgentID, agent.ID)
	eq(t, "triggered_by", *ex.TriggeredBy, o.ID)
	eq(t, "version", ex.Version, int32(1))
	jsonEq(t, "input", ex.Input, `{"prompt":"hi"}`)
	if ex.Output != nil || ex.Error != nil || ex.StartedAt != nil || ex.FinishedAt != nil {
		t.Errorf("new execution has results: %+v", ex)
	}
	eq(t, "GetExecution", must[db.Execution](t)(q.GetExecution(ctx, ex.ID)), ex)
	_, err := q.GetExecution(ctx, uuid.New())
	wantNotFound(t, err)

	_, err = q.CreateExecution(ctx, db.CreateExecutionParams{SubjectKind: db.ExecutionSubjectAgent, AgentID: &agent.ID, WorkflowID: &wf.ID, Input: json.RawMessage(`{}`)})
	wantConstraint(t, err, postgres.ErrCheck, "executions_one_subject")

	// Start: guarded by version and by status.
	n, err := q.StartExecution(ctx, db.StartExecutionParams{ID: ex.ID, Version: 1})
	affected(t, "StartExecution", n, err, 1)
	n, err = q.StartExecution(ctx, db.StartExecutionParams{ID: ex.ID, Version: 1})
	affected(t, "StartExecution(stale)", n, err, 0)
	n, err = q.StartExecution(ctx, db.StartExecutionParams{ID: ex.ID, Version: 2})
	affected(t, "StartExecution(not pending)", n, err, 0)
	run := must[db.Execution](t)(q.GetExecution(ctx, ex.ID))
	eq(t, "status", run.Status, db.ExecutionStatusRunning)
	eq(t, "version", run.Version, int32(2))
	if run.StartedAt == nil {
		t.Fatal("started_at not set")
	}

	// An error message is only allowed on failure.
	_, err = q.FinishExecution(ctx, db.FinishExecutionParams{ID: ex.ID, Version: 2, Status: db.ExecutionStatusSucceeded, Output: json.RawMessage(`{}`), Error: ptr("boom")})
	wantConstraint(t, err, postgres.ErrCheck, "executions_error_only_on_failure")
	n, err = q.FinishExecution(ctx, db.FinishExecutionParams{ID: ex.ID, Version: 1, Status: db.ExecutionStatusSucceeded, Output: json.RawMessage(`{}`)})
	affected(t, "FinishExecution(stale)", n, err, 0)
	n, err = q.FinishExecution(ctx, db.FinishExecutionParams{ID: ex.ID, Version: 2, Status: db.ExecutionStatusFailed, Output: json.RawMessage(`{"partial":true}`), Error: ptr("tool timed out")})
	affected(t, "FinishExecution", n, err, 1)
	n, err = q.FinishExecution(ctx, db.FinishExecutionParams{ID: ex.ID, Version: 3, Status: db.ExecutionStatusSucceeded, Output: json.RawMessage(`{}`)})
	affected(t, "FinishExecution(not running)", n, err, 0)
	done := must[db.Execution](t)(q.GetExecution(ctx, ex.ID))
	eq(t, "status", done.Status, db.ExecutionStatusFailed)
	eq(t, "error", done.Error, ptr("tool timed out"))
	jsonEq(t, "output", done.Output, `{"partial":true}`)
	if done.FinishedAt == nil || done.FinishedAt.Before(*done.StartedAt) {
		t.Errorf("finished_at %v before started_at %v", done.FinishedAt, done.StartedAt)
	}

	// A succeeded run with a NULL error.
	ok := mkAgentExecution(t, e, agent.ID)
	affected(t, "start", must[int64](t)(q.StartExecution(ctx, db.StartExecutionParams{ID: ok.ID, Version: 1})), nil, 1)
	n, err = q.FinishExecution(ctx, db.FinishExecutionParams{ID: ok.ID, Version: 2, Status: db.ExecutionStatusSucceeded, Output: json.RawMessage(`{"answer":42}`)})
	affected(t, "FinishExecution(ok)", n, err, 1)
	got := must[db.Execution](t)(q.GetExecution(ctx, ok.ID))
	eq(t, "status", got.Status, db.ExecutionStatusSucceeded)
	eq(t, "error", got.Error, (*string)(nil))
	jsonEq(t, "output", got.Output, `{"answer":42}`)
}

func TestListExecutions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	a := mkAgent(t, e, o.ID, "a", db.AgentStatusActive, `{}`)
	b := mkAgent(t, e, o.ID, "b", db.AgentStatusActive, `{}`)

	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mine []db.Execution
	for i := range 7 {
		x := mkAgentExecution(t, e, a.ID)
		// Two runs share a timestamp: the id breaks the tie.
		ts := base.Add(time.Duration(min(i, 5)) * time.Minute)
		exec(t, e, `UPDATE executions SET created_at = $1 WHERE id = $2`, ts, x.ID)
		x.CreatedAt = ts
		mine = append(mine, x)
	}
	mkAgentExecution(t, e, b.ID)
	// Newest first, ties by id descending.
	want := make([]uuid.UUID, 0, len(mine))
	for i := len(mine) - 1; i >= 0; i-- {
		want = append(want, mine[i].ID)
	}
	if uuidLess(want[0], want[1]) { // mine[5] and mine[6] share created_at
		want[0], want[1] = want[1], want[0]
	}

	p := db.ListExecutionsByAgentParams{AgentID: &a.ID, BeforeCreatedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), BeforeID: uuid.Max, PageSize: 3}
	var got []uuid.UUID
	var sizes []int
	for range 10 {
		page := must[[]db.Execution](t)(q.ListExecutionsByAgent(ctx, p))
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page, execID)...)
		last := page[len(page)-1]
		p.BeforeCreatedAt, p.BeforeID = last.CreatedAt, last.ID
	}
	eq(t, "page sizes", sizes, []int{3, 3, 1, 0})
	eq(t, "newest first across pages", got, want)

	// Active: pending and running only, oldest first.
	affected(t, "start", must[int64](t)(q.StartExecution(ctx, db.StartExecutionParams{ID: mine[1].ID, Version: 1})), nil, 1)
	affected(t, "start", must[int64](t)(q.StartExecution(ctx, db.StartExecutionParams{ID: mine[2].ID, Version: 1})), nil, 1)
	affected(t, "finish", must[int64](t)(q.FinishExecution(ctx, db.FinishExecutionParams{ID: mine[2].ID, Version: 2, Status: db.ExecutionStatusSucceeded, Output: json.RawMessage(`{}`)})), nil, 1)
	exec(t, e, `UPDATE executions SET status = 'cancelled' WHERE id = $1`, mine[3].ID)
	act := must[[]db.Execution](t)(q.ListActiveExecutions(ctx, 3))
	eq(t, "active limit 3", ids(act, execID), []uuid.UUID{mine[0].ID, mine[1].ID, mine[4].ID})
	act = must[[]db.Execution](t)(q.ListActiveExecutions(ctx, 100))
	eq(t, "active count", len(act), 6) // 7 - succeeded - cancelled + b's run
	eq(t, "running one listed", act[1].Status, db.ExecutionStatusRunning)
}

func TestExecutionEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	a := mkAgent(t, e, o.ID, "a", db.AgentStatusActive, `{}`)
	ex := mkAgentExecution(t, e, a.ID)
	other := mkAgentExecution(t, e, a.ID)

	// AppendExecutionEvent numbers from 0 when empty.
	first := must[db.ExecutionEvent](t)(q.AppendExecutionEvent(ctx, db.AppendExecutionEventParams{ExecutionID: other.ID, Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(`{"msg":"start"}`)}))
	eq(t, "first seq", first.Seq, int32(0))
	eq(t, "first kind", first.Kind, db.ExecutionEventKindLog)
	jsonEq(t, "first payload", first.Payload, `{"msg":"start"}`)

	const n = 1000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kinds := db.AllExecutionEventKindValues()
	batch := make([]db.InsertExecutionEventsParams, n)
	for i := range batch {
		batch[i] = db.InsertExecutionEventsParams{
			ExecutionID: ex.ID, Seq: int32(i), Kind: kinds[i%len(kinds)],
			Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), CreatedAt: base.Add(time.Duration(i) * time.Millisecond),
		}
	}
	copied, err := q.InsertExecutionEvents(ctx, batch)
	noErr(t, err)
	eq(t, "rows copied", copied, int64(n))
	eq(t, "CountExecutionEvents", must[int64](t)(q.CountExecutionEvents(ctx, ex.ID)), int64(n))
	eq(t, "CountExecutionEvents(other)", must[int64](t)(q.CountExecutionEvents(ctx, other.ID)), int64(1))
	eq(t, "CountExecutionEvents(none)", must[int64](t)(q.CountExecutionEvents(ctx, uuid.New())), int64(0))

	// Page through by seq.
	p := db.ListExecutionEventsParams{ExecutionID: ex.ID, Seq: -1, Limit: 300}
	var seqs []int32
	var pages int
	for {
		page := must[[]db.ExecutionEvent](t)(q.ListExecutionEvents(ctx, p))
		if len(page) == 0 {
			break
		}
		pages++
		for _, ev := range page {
			seqs = append(seqs, ev.Seq)
		}
		p.Seq = page[len(page)-1].Seq
	}
	eq(t, "pages", pages, 4)
	eq(t, "events", len(seqs), n)
	for i, s := range seqs {
		if s != int32(i) {
			t.Fatalf("seq[%d] = %d", i, s)
		}
	}
	one := must[[]db.ExecutionEvent](t)(q.ListExecutionEvents(ctx, db.ListExecutionEventsParams{ExecutionID: ex.ID, Seq: 776, Limit: 1}))
	eq(t, "seq 777 kind", one[0].Kind, kinds[777%len(kinds)])
	jsonEq(t, "seq 777 payload", one[0].Payload, `{"i":777}`)
	if !one[0].CreatedAt.Equal(base.Add(777 * time.Millisecond)) {
		t.Errorf("created_at = %v", one[0].CreatedAt)
	}

	next := must[db.ExecutionEvent](t)(q.AppendExecutionEvent(ctx, db.AppendExecutionEventParams{ExecutionID: ex.ID, Kind: db.ExecutionEventKindMetric, Payload: json.RawMessage(`{"tokens":12}`)}))
	eq(t, "appended seq", next.Seq, int32(n))
	if next.ID <= first.ID {
		t.Errorf("identity id %d not after %d", next.ID, first.ID)
	}

	t.Run("copy conflict is translated", func(t *testing.T) {
		_, err := q.InsertExecutionEvents(ctx, []db.InsertExecutionEventsParams{{ExecutionID: ex.ID, Seq: 5, Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(`{}`), CreatedAt: base}})
		wantConstraint(t, err, postgres.ErrConflict, "execution_events_seq_key")
		_, err = q.InsertExecutionEvents(ctx, []db.InsertExecutionEventsParams{{ExecutionID: uuid.New(), Seq: 0, Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(`{}`), CreatedAt: base}})
		wantConstraint(t, err, postgres.ErrForeignKey, "execution_events_execution_fkey")
		eq(t, "count unchanged", must[int64](t)(q.CountExecutionEvents(ctx, ex.ID)), int64(n+1))
	})
}

func TestExecutionStatsAndRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	a := mkAgent(t, e, o.ID, "a", db.AgentStatusActive, `{}`)
	b := mkAgent(t, e, o.ID, "b", db.AgentStatusActive, `{}`)
	wf := mkWorkflow(t, e, o.ID, "wf")
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)

	// run creates an execution with fixed times (the queries stamp now(),
	// which a statistics test cannot predict).
	run := func(agent *uuid.UUID, created time.Time, status db.ExecutionStatus, dur time.Duration) db.Execution {
		t.Helper()
		p := db.CreateExecutionParams{SubjectKind: db.ExecutionSubjectAgent, AgentID: agent, Input: json.RawMessage(`{}`)}
		if agent == nil {
			p.SubjectKind, p.WorkflowID = db.ExecutionSubjectWorkflow, &wf.ID
		}
		x := must[db.Execution](t)(q.CreateExecution(ctx, p))
		if status == db.ExecutionStatusPending {
			exec(t, e, `UPDATE executions SET created_at = $1 WHERE id = $2`, created, x.ID)
			return x
		}
		exec(t, e, `UPDATE executions SET created_at = $1, status = $2, started_at = $1, finished_at = $3 WHERE id = $4`,
			created, status, created.Add(dur), x.ID)
		return x
	}
	run(&a.ID, from, db.ExecutionStatusSucceeded, 1000*time.Millisecond)
	run(&a.ID, from.Add(time.Hour), db.ExecutionStatusSucceeded, 3000*time.Millisecond)
	run(&a.ID, from.Add(2*time.Hour), db.ExecutionStatusFailed, 2000*time.Millisecond)
	run(&a.ID, from.Add(3*time.Hour), db.ExecutionStatusTimedOut, 6000*time.Millisecond)
	run(&a.ID, to, db.ExecutionStatusSucceeded, 99*time.Second)                  // window is half-open
	run(&a.ID, from.Add(-time.Second), db.ExecutionStatusFailed, 99*time.Second) // before the window
	run(&b.ID, from.Add(5*time.Hour), db.ExecutionStatusSucceeded, 500*time.Millisecond)
	run(&b.ID, from.Add(6*time.Hour), db.ExecutionStatusPending, 0)
	run(nil, from.Add(time.Hour), db.ExecutionStatusSucceeded, time.Second) // workflow run: no agent

	stats := must[[]db.ExecutionStatsByAgentRow](t)(q.ExecutionStatsByAgent(ctx, db.ExecutionStatsByAgentParams{WindowFrom: from, WindowTo: to}))
	eq(t, "stats", stats, []db.ExecutionStatsByAgentRow{
		{AgentID: &a.ID, Runs: 4, Succeeded: 2, Failed: 2, AvgDurationMs: 3000, MaxDurationMs: 6000},
		{AgentID: &b.ID, Runs: 2, Succeeded: 1, Failed: 0, AvgDurationMs: 500, MaxDurationMs: 500},
	})
	empty := must[[]db.ExecutionStatsByAgentRow](t)(q.ExecutionStatsByAgent(ctx, db.ExecutionStatsByAgentParams{WindowFrom: to.Add(time.Hour), WindowTo: to.Add(2 * time.Hour)}))
	eq(t, "empty window", len(empty), 0)

	t.Run("DeleteExecutionsBefore", func(t *testing.T) {
		old := run(&b.ID, from.Add(-48*time.Hour), db.ExecutionStatusSucceeded, time.Second)
		oldPending := run(&b.ID, from.Add(-48*time.Hour), db.ExecutionStatusPending, 0)
		oldRunning := run(&b.ID, from.Add(-48*time.Hour), db.ExecutionStatusRunning, 0)
		exec(t, e, `UPDATE executions SET finished_at = NULL WHERE id = $1`, oldRunning.ID)
		for i := range 3 {
			must[db.ExecutionEvent](t)(q.AppendExecutionEvent(ctx, db.AppendExecutionEventParams{ExecutionID: old.ID, Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}))
		}
		// Cutoff = from: removes the finished run before the window (a's
		// failed one and `old`), keeps old pending/running ones.
		n, err := q.DeleteExecutionsBefore(ctx, from)
		affected(t, "DeleteExecutionsBefore", n, err, 2)
		_, err = q.GetExecution(ctx, old.ID)
		wantNotFound(t, err)
		eq(t, "events cascaded", scalar[int64](t, e, `SELECT count(*) FROM execution_events WHERE execution_id = $1`, old.ID), int64(0))
		for _, id := range []uuid.UUID{oldPending.ID, oldRunning.ID} {
			must[db.Execution](t)(q.GetExecution(ctx, id))
		}
		n, err = q.DeleteExecutionsBefore(ctx, from)
		affected(t, "DeleteExecutionsBefore(again)", n, err, 0)
	})
}
