package db_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

func taskID(x db.Task) uuid.UUID { return x.ID }

// setTaskStatus sets up a status directly, so that tests of other queries do
// not depend on TransitionTaskStatus (tested on its own in TestTasks).
func setTaskStatus(t testing.TB, e *env, id uuid.UUID, s db.TaskStatus) {
	t.Helper()
	exec(t, e, `UPDATE tasks SET status = $1 WHERE id = $2`, s, id)
}

func TestTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	agent := mkAgent(t, e, o.ID, "doer", db.AgentStatusActive, `{}`)
	wf := mkWorkflow(t, e, o.ID, "flow")
	due := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

	task := must[db.Task](t)(q.CreateTask(ctx, db.CreateTaskParams{
		Title: "write report", Description: "quarterly", Priority: 3, AssigneeAgentID: &agent.ID,
		WorkflowID: &wf.ID, CreatedBy: &o.ID, Metadata: json.RawMessage(`{"team":"core"}`), DueAt: &due,
	}))
	eq(t, "title", task.Title, "write report")
	eq(t, "status default", task.Status, db.TaskStatusPending)
	eq(t, "priority", task.Priority, int16(3))
	eq(t, "assignee", *task.AssigneeAgentID, agent.ID)
	eq(t, "workflow", *task.WorkflowID, wf.ID)
	eq(t, "created_by", *task.CreatedBy, o.ID)
	if task.ParentTaskID != nil || task.StartedAt != nil || task.CompletedAt != nil {
		t.Errorf("unexpected optional fields: %+v", task)
	}
	if !task.DueAt.Equal(due) {
		t.Errorf("due_at = %v, want %v", task.DueAt, due)
	}
	eq(t, "version", task.Version, int32(1))
	eq(t, "GetTask", must[db.Task](t)(q.GetTask(ctx, task.ID)), task)
	_, err := q.GetTask(ctx, uuid.New())
	wantNotFound(t, err)

	t.Run("constraints", func(t *testing.T) {
		_, err := q.CreateTask(ctx, db.CreateTaskParams{Title: "x", Priority: 5, Metadata: json.RawMessage(`{}`)})
		wantConstraint(t, err, postgres.ErrCheck, "tasks_priority_range")
		bad := uuid.New()
		_, err = q.CreateTask(ctx, db.CreateTaskParams{Title: "x", Priority: 1, AssigneeAgentID: &bad, Metadata: json.RawMessage(`{}`)})
		wantConstraint(t, err, postgres.ErrForeignKey, "tasks_assignee_fkey")
		_, err = q.CreateTask(ctx, db.CreateTaskParams{Title: "x", Priority: 1, ParentTaskID: &bad, Metadata: json.RawMessage(`{}`)})
		wantConstraint(t, err, postgres.ErrForeignKey, "tasks_parent_fkey")
		// A nil json.RawMessage is sent as NULL: the column default does not apply.
		_, err = q.CreateTask(ctx, db.CreateTaskParams{Title: "x", Priority: 1})
		var ce *postgres.ConstraintError
		if !errors.Is(err, postgres.ErrNotNull) || !errors.As(err, &ce) || ce.Column != "metadata" || ce.Table != "tasks" {
			t.Errorf("CreateTask without metadata: err = %v, want postgres.ErrNotNull on tasks.metadata", err)
		}
	})

	t.Run("TransitionTaskStatus", func(t *testing.T) {
		n, err := q.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: task.ID, Version: 1, Status: db.TaskStatusRunning})
		affected(t, "pending->running", n, err, 1)
		run := must[db.Task](t)(q.GetTask(ctx, task.ID))
		eq(t, "status", run.Status, db.TaskStatusRunning)
		eq(t, "version", run.Version, int32(2))
		if run.StartedAt == nil || run.CompletedAt != nil {
			t.Fatalf("running task: started_at %v completed_at %v", run.StartedAt, run.CompletedAt)
		}
		n, err = q.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: task.ID, Version: 1, Status: db.TaskStatusCancelled})
		affected(t, "stale version", n, err, 0)
		eq(t, "status after stale write", must[db.Task](t)(q.GetTask(ctx, task.ID)).Status, db.TaskStatusRunning)
		n, err = q.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: task.ID, Version: 2, Status: db.TaskStatusCompleted})
		affected(t, "running->completed", n, err, 1)
		done := must[db.Task](t)(q.GetTask(ctx, task.ID))
		eq(t, "status", done.Status, db.TaskStatusCompleted)
		if done.CompletedAt == nil || done.CompletedAt.Before(*done.StartedAt) || !done.StartedAt.Equal(*run.StartedAt) {
			t.Errorf("completed task: started_at %v (was %v) completed_at %v", done.StartedAt, run.StartedAt, done.CompletedAt)
		}
		// Reopening clears completed_at, so starting again does not trip
		// tasks_completed_after_start; finishing stamps a new completed_at.
		n, err = q.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: task.ID, Version: 3, Status: db.TaskStatusPending})
		affected(t, "completed->pending", n, err, 1)
		if re := must[db.Task](t)(q.GetTask(ctx, task.ID)); re.CompletedAt != nil {
			t.Errorf("reopened task keeps completed_at %v", re.CompletedAt)
		}
		n, err = q.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: task.ID, Version: 4, Status: db.TaskStatusRunning})
		affected(t, "pending->running again", n, err, 1)
		n, err = q.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: task.ID, Version: 5, Status: db.TaskStatusCompleted})
		affected(t, "running->completed again", n, err, 1)
		if again := must[db.Task](t)(q.GetTask(ctx, task.ID)); again.CompletedAt == nil || !again.CompletedAt.After(*done.CompletedAt) {
			t.Errorf("completed again: completed_at %v, first %v", again.CompletedAt, done.CompletedAt)
		}
	})

	t.Run("AssignTask", func(t *testing.T) {
		other := mkAgent(t, e, o.ID, "other", db.AgentStatusActive, `{}`)
		n, err := q.AssignTask(ctx, db.AssignTaskParams{ID: task.ID, AssigneeAgentID: &other.ID})
		affected(t, "AssignTask", n, err, 1)
		got := must[db.Task](t)(q.GetTask(ctx, task.ID))
		eq(t, "assignee", *got.AssigneeAgentID, other.ID)
		n, err = q.AssignTask(ctx, db.AssignTaskParams{ID: task.ID, AssigneeAgentID: nil})
		affected(t, "AssignTask(nil)", n, err, 1)
		got2 := must[db.Task](t)(q.GetTask(ctx, task.ID))
		eq(t, "unassigned", got2.AssigneeAgentID, (*uuid.UUID)(nil))
		eq(t, "version bumped twice", got2.Version, got.Version+1)
		n, err = q.AssignTask(ctx, db.AssignTaskParams{ID: uuid.New(), AssigneeAgentID: nil})
		affected(t, "AssignTask(unknown)", n, err, 0)
	})
}

func TestListTasksByAssigneeKeyset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	o := mkUser(t, e, "o@example.com")
	a := mkAgent(t, e, o.ID, "a", db.AgentStatusActive, `{}`)
	b := mkAgent(t, e, o.ID, "b", db.AgentStatusActive, `{}`)
	var all []db.Task
	for i, p := range []int16{4, 2, 4, 3, 2, 0, 2, 1} {
		tk := mkTask(t, e, db.CreateTaskParams{Title: "t", Priority: p, AssigneeAgentID: &a.ID})
		if i%3 == 0 {
			setTaskStatus(t, e, tk.ID, db.TaskStatusRunning)
			tk.Status = db.TaskStatusRunning
		}
		all = append(all, tk)
	}
	mkTask(t, e, db.CreateTaskParams{Title: "b's", Priority: 4, AssigneeAgentID: &b.ID})
	slices.SortFunc(all, func(x, y db.Task) int {
		if x.Priority != y.Priority {
			return int(y.Priority) - int(x.Priority)
		}
		return bytes.Compare(x.ID[:], y.ID[:])
	})

	walk := func(status *db.TaskStatus, size int32) ([]uuid.UUID, []int) {
		p := db.ListTasksByAssigneeParams{AgentID: &a.ID, Status: status, AfterPriority: 5, AfterID: uuid.Nil, PageSize: size}
		var got []uuid.UUID
		var sizes []int
		for range 20 {
			page := must[[]db.Task](t)(e.Q.ListTasksByAssignee(ctx, p))
			sizes = append(sizes, len(page))
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page, taskID)...)
			last := page[len(page)-1]
			p.AfterPriority, p.AfterID = last.Priority, last.ID
		}
		return got, sizes
	}
	got, sizes := walk(nil, 3)
	eq(t, "page sizes", sizes, []int{3, 3, 2, 0})
	eq(t, "all of a's tasks by priority desc, id", got, ids(all, taskID))

	running := db.TaskStatusRunning
	var wantRunning []uuid.UUID
	for _, x := range all {
		if x.Status == db.TaskStatusRunning {
			wantRunning = append(wantRunning, x.ID)
		}
	}
	got, sizes = walk(&running, 2)
	eq(t, "running page sizes", sizes, []int{2, 1, 0})
	eq(t, "running tasks", got, wantRunning)
}

func TestSubtasksBatchAndCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	o2 := mkUser(t, e, "o2@example.com")
	a := mkAgent(t, e, o.ID, "alpha", db.AgentStatusActive, `{}`)
	b := mkAgent(t, e, o.ID, "beta", db.AgentStatusActive, `{}`)
	x := mkAgent(t, e, o2.ID, "xeno", db.AgentStatusActive, `{}`)

	t.Run("ListSubtasks and parent cascade", func(t *testing.T) {
		parent := mkTask(t, e, db.CreateTaskParams{Title: "parent", Priority: 2})
		s1 := mkTask(t, e, db.CreateTaskParams{Title: "s1", Priority: 2, ParentTaskID: &parent.ID})
		s2 := mkTask(t, e, db.CreateTaskParams{Title: "s2", Priority: 2, ParentTaskID: &parent.ID})
		grand := mkTask(t, e, db.CreateTaskParams{Title: "g", Priority: 2, ParentTaskID: &s1.ID})
		subs := must[[]db.Task](t)(q.ListSubtasks(ctx, &parent.ID))
		eq(t, "subtasks", ids(subs, taskID), []uuid.UUID{s1.ID, s2.ID})
		eq(t, "grandchild", ids(must[[]db.Task](t)(q.ListSubtasks(ctx, &s1.ID)), taskID), []uuid.UUID{grand.ID})
		n, err := q.DeleteTask(ctx, parent.ID)
		affected(t, "DeleteTask(parent)", n, err, 1)
		for _, id := range []uuid.UUID{s1.ID, s2.ID, grand.ID} {
			_, err := q.GetTask(ctx, id)
			wantNotFound(t, err)
		}
		n, err = q.DeleteTask(ctx, parent.ID)
		affected(t, "DeleteTask(again)", n, err, 0)
	})

	t.Run("BumpTaskPriority batch", func(t *testing.T) {
		t1 := mkTask(t, e, db.CreateTaskParams{Title: "p1", Priority: 1})
		t4 := mkTask(t, e, db.CreateTaskParams{Title: "p4", Priority: 4})
		t2 := mkTask(t, e, db.CreateTaskParams{Title: "p2", Priority: 2})
		var calls []int
		br := q.BumpTaskPriority(ctx, []uuid.UUID{t1.ID, t4.ID, t2.ID, uuid.New(), t1.ID})
		br.Exec(func(i int, err error) {
			calls = append(calls, i)
			if err != nil {
				t.Errorf("batch item %d: %v", i, err)
			}
		})
		eq(t, "callbacks", calls, []int{0, 1, 2, 3, 4})
		for _, c := range []struct {
			id       uuid.UUID
			priority int16
			version  int32
		}{{t1.ID, 3, 3}, {t4.ID, 4, 2}, {t2.ID, 3, 2}} {
			got := must[db.Task](t)(q.GetTask(ctx, c.id))
			eq(t, "priority", got.Priority, c.priority)
			eq(t, "version", got.Version, c.version)
		}
	})

	t.Run("CountTasksByStatusPerAgent", func(t *testing.T) {
		for _, c := range []struct {
			agent  uuid.UUID
			status db.TaskStatus
			n      int
		}{
			{a.ID, db.TaskStatusPending, 2}, {a.ID, db.TaskStatusRunning, 1}, {a.ID, db.TaskStatusFailed, 1},
			{b.ID, db.TaskStatusCompleted, 3}, {x.ID, db.TaskStatusPending, 5},
		} {
			for range c.n {
				tk := mkTask(t, e, db.CreateTaskParams{Title: "c", Priority: 1, AssigneeAgentID: &c.agent})
				if c.status != db.TaskStatusPending {
					setTaskStatus(t, e, tk.ID, c.status)
				}
			}
		}
		rows := must[[]db.CountTasksByStatusPerAgentRow](t)(q.CountTasksByStatusPerAgent(ctx, o.ID))
		eq(t, "counts", rows, []db.CountTasksByStatusPerAgentRow{
			{AgentID: a.ID, AgentName: "alpha", Status: db.TaskStatusPending, TaskCount: 2},
			{AgentID: a.ID, AgentName: "alpha", Status: db.TaskStatusRunning, TaskCount: 1},
			{AgentID: a.ID, AgentName: "alpha", Status: db.TaskStatusFailed, TaskCount: 1},
			{AgentID: b.ID, AgentName: "beta", Status: db.TaskStatusCompleted, TaskCount: 3},
		})
		rows = must[[]db.CountTasksByStatusPerAgentRow](t)(q.CountTasksByStatusPerAgent(ctx, o2.ID))
		eq(t, "other owner", rows, []db.CountTasksByStatusPerAgentRow{{AgentID: x.ID, AgentName: "xeno", Status: db.TaskStatusPending, TaskCount: 5}})
	})
}

func TestOverdueAndMetadataSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	now := time.Now()
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	late2 := mkTask(t, e, db.CreateTaskParams{Title: "late2", Priority: 1, DueAt: at(-2 * time.Hour), Metadata: json.RawMessage(`{"team":"core","labels":["urgent","db"]}`)})
	late1 := mkTask(t, e, db.CreateTaskParams{Title: "late1", Priority: 1, DueAt: at(-1 * time.Hour), Metadata: json.RawMessage(`{"team":"core"}`)})
	late3 := mkTask(t, e, db.CreateTaskParams{Title: "late3", Priority: 1, DueAt: at(-3 * time.Hour), Metadata: json.RawMessage(`{"team":"web","labels":["urgent"]}`)})
	mkTask(t, e, db.CreateTaskParams{Title: "future", Priority: 1, DueAt: at(time.Hour), Metadata: json.RawMessage(`{"team":"core"}`)})
	mkTask(t, e, db.CreateTaskParams{Title: "nodue", Priority: 1})
	doneLate := mkTask(t, e, db.CreateTaskParams{Title: "done", Priority: 1, DueAt: at(-4 * time.Hour)})
	setTaskStatus(t, e, doneLate.ID, db.TaskStatusCompleted)
	blocked := mkTask(t, e, db.CreateTaskParams{Title: "blocked", Priority: 1, DueAt: at(-30 * time.Minute)})
	setTaskStatus(t, e, blocked.ID, db.TaskStatusBlocked)

	over := must[[]db.Task](t)(q.ListOverdueTasks(ctx, 10))
	eq(t, "overdue open tasks by due date", ids(over, taskID), []uuid.UUID{late3.ID, late2.ID, late1.ID, blocked.ID})
	over = must[[]db.Task](t)(q.ListOverdueTasks(ctx, 2))
	eq(t, "overdue limit 2", ids(over, taskID), []uuid.UUID{late3.ID, late2.ID})

	search := func(filter string, size int32) []uuid.UUID {
		return ids(must[[]db.Task](t)(q.SearchTasksByMetadata(ctx, db.SearchTasksByMetadataParams{Filter: json.RawMessage(filter), PageSize: size})), taskID)
	}
	eq(t, `team core (creation order)`, search(`{"team":"core"}`, 2), []uuid.UUID{late2.ID, late1.ID})
	eq(t, `labels contain urgent`, search(`{"labels":["urgent"]}`, 10), []uuid.UUID{late2.ID, late3.ID})
	eq(t, `core and db label`, search(`{"team":"core","labels":["db"]}`, 10), []uuid.UUID{late2.ID})
	eq(t, `no match`, len(search(`{"team":"ops"}`, 10)), 0)
}
