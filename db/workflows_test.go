package db_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

func TestWorkflows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	o2 := mkUser(t, e, "o2@example.com")

	w := must[db.Workflow](t)(q.CreateWorkflow(ctx, db.CreateWorkflowParams{
		OwnerID: o.ID, Name: "ingest", Description: "nightly", Definition: json.RawMessage(`{"schedule":"@daily"}`),
	}))
	eq(t, "status default", w.Status, db.WorkflowStatusDraft)
	eq(t, "version", w.Version, int32(1))
	jsonEq(t, "definition", w.Definition, `{"schedule":"@daily"}`)
	eq(t, "GetWorkflow", must[db.Workflow](t)(q.GetWorkflow(ctx, w.ID)), w)
	_, err := q.GetWorkflow(ctx, uuid.New())
	wantNotFound(t, err)
	_, err = q.CreateWorkflow(ctx, db.CreateWorkflowParams{OwnerID: o.ID, Name: "ingest", Definition: json.RawMessage(`{}`)})
	wantConstraint(t, err, postgres.ErrConflict, "workflows_owner_name_key")

	t.Run("ListWorkflowsByOwner and UpdateWorkflowStatus", func(t *testing.T) {
		b := mkWorkflow(t, e, o.ID, "backup")
		c := mkWorkflow(t, e, o.ID, "cleanup")
		mkWorkflow(t, e, o2.ID, "elsewhere")
		n, err := q.UpdateWorkflowStatus(ctx, db.UpdateWorkflowStatusParams{ID: c.ID, Version: 1, Status: db.WorkflowStatusArchived})
		affected(t, "UpdateWorkflowStatus", n, err, 1)
		n, err = q.UpdateWorkflowStatus(ctx, db.UpdateWorkflowStatusParams{ID: c.ID, Version: 1, Status: db.WorkflowStatusActive})
		affected(t, "UpdateWorkflowStatus(stale)", n, err, 0)
		got := must[db.Workflow](t)(q.GetWorkflow(ctx, c.ID))
		eq(t, "status", got.Status, db.WorkflowStatusArchived)
		eq(t, "version", got.Version, int32(2))
		list := must[[]db.Workflow](t)(q.ListWorkflowsByOwner(ctx, o.ID))
		eq(t, "owner's non-archived workflows by name", ids(list, func(w db.Workflow) uuid.UUID { return w.ID }), []uuid.UUID{b.ID, w.ID})
	})

	t.Run("steps, join and dependencies", func(t *testing.T) {
		agent := mkAgent(t, e, o.ID, "fetcher", db.AgentStatusActive, `{}`)
		tool := mkTool(t, e, "http", "web", true)
		tool2 := mkTool(t, e, "sql", "data", true)
		// Inserted out of order: the join must order by position.
		s2 := must[db.WorkflowStep](t)(q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{
			WorkflowID: w.ID, Position: 2, Name: "load", AgentID: &agent.ID, ToolID: &tool2.ID, Config: json.RawMessage(`{"table":"t"}`), TimeoutMs: 5000,
		}))
		s0 := must[db.WorkflowStep](t)(q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{
			WorkflowID: w.ID, Position: 0, Name: "fetch", AgentID: &agent.ID, ToolID: &tool.ID, Config: json.RawMessage(`{}`), TimeoutMs: 1000,
		}))
		s1 := must[db.WorkflowStep](t)(q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{
			WorkflowID: w.ID, Position: 1, Name: "parse", AgentID: &agent.ID, ToolID: &tool.ID, Config: json.RawMessage(`{}`), TimeoutMs: 60000,
		}))
		eq(t, "step workflow", s2.WorkflowID, w.ID)
		eq(t, "step agent", *s2.AgentID, agent.ID)
		eq(t, "step tool", *s2.ToolID, tool2.ID)
		eq(t, "step timeout", s2.TimeoutMs, int32(5000))
		jsonEq(t, "step config", s2.Config, `{"table":"t"}`)

		_, err := q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: w.ID, Position: 1, Name: "dup", Config: json.RawMessage(`{}`), TimeoutMs: 1})
		wantConstraint(t, err, postgres.ErrConflict, "workflow_steps_position_key")
		_, err = q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: w.ID, Position: 9, Name: "t0", Config: json.RawMessage(`{}`), TimeoutMs: 0})
		wantConstraint(t, err, postgres.ErrCheck, "workflow_steps_timeout_range")
		_, err = q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: w.ID, Position: -1, Name: "neg", Config: json.RawMessage(`{}`), TimeoutMs: 1})
		wantConstraint(t, err, postgres.ErrCheck, "workflow_steps_position_nonneg")
		_, err = q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: uuid.New(), Position: 0, Name: "orphan", Config: json.RawMessage(`{}`), TimeoutMs: 1})
		wantConstraint(t, err, postgres.ErrForeignKey, "workflow_steps_workflow_fkey")

		rows := must[[]db.GetWorkflowWithStepsRow](t)(q.GetWorkflowWithSteps(ctx, w.ID))
		want := []db.GetWorkflowWithStepsRow{
			{WorkflowID: w.ID, WorkflowName: "ingest", WorkflowStatus: db.WorkflowStatusDraft, StepID: s0.ID, Position: 0, StepName: "fetch", AgentName: ptr("fetcher"), ToolName: ptr("http"), TimeoutMs: 1000},
			{WorkflowID: w.ID, WorkflowName: "ingest", WorkflowStatus: db.WorkflowStatusDraft, StepID: s1.ID, Position: 1, StepName: "parse", AgentName: ptr("fetcher"), ToolName: ptr("http"), TimeoutMs: 60000},
			{WorkflowID: w.ID, WorkflowName: "ingest", WorkflowStatus: db.WorkflowStatusDraft, StepID: s2.ID, Position: 2, StepName: "load", AgentName: ptr("fetcher"), ToolName: ptr("sql"), TimeoutMs: 5000},
		}
		eq(t, "GetWorkflowWithSteps", rows, want)
		none := must[[]db.GetWorkflowWithStepsRow](t)(q.GetWorkflowWithSteps(ctx, uuid.New()))
		eq(t, "unknown workflow rows", len(none), 0)

		// s2 depends on s0 and s1; s1 on s0. Re-adding is a no-op.
		for _, d := range [][2]uuid.UUID{{s2.ID, s0.ID}, {s2.ID, s1.ID}, {s1.ID, s0.ID}, {s1.ID, s0.ID}} {
			noErr(t, q.AddStepDependency(ctx, db.AddStepDependencyParams{StepID: d[0], DependsOnStepID: d[1]}))
		}
		err = q.AddStepDependency(ctx, db.AddStepDependencyParams{StepID: s0.ID, DependsOnStepID: s0.ID})
		wantConstraint(t, err, postgres.ErrCheck, "workflow_step_dependencies_no_self")
		err = q.AddStepDependency(ctx, db.AddStepDependencyParams{StepID: s0.ID, DependsOnStepID: uuid.New()})
		wantConstraint(t, err, postgres.ErrForeignKey, "workflow_step_dependencies_dep_fkey")

		deps := must[[]db.WorkflowStepDependency](t)(q.ListStepDependencies(ctx, w.ID))
		wantDeps := []db.WorkflowStepDependency{{StepID: s2.ID, DependsOnStepID: s0.ID}, {StepID: s2.ID, DependsOnStepID: s1.ID}, {StepID: s1.ID, DependsOnStepID: s0.ID}}
		slices.SortFunc(wantDeps, func(a, b db.WorkflowStepDependency) int {
			if uuidLess(a.StepID, b.StepID) {
				return -1
			} else if a.StepID != b.StepID {
				return 1
			}
			if uuidLess(a.DependsOnStepID, b.DependsOnStepID) {
				return -1
			}
			return 1
		})
		eq(t, "ListStepDependencies", deps, wantDeps)

		// Deleting the tool leaves its steps in place, unassigned.
		_, err = q.DeleteTool(ctx, tool2.ID)
		noErr(t, err)
		eq(t, "step tool after tool delete", scalar[*uuid.UUID](t, e, `SELECT tool_id FROM workflow_steps WHERE id = $1`, s2.ID), (*uuid.UUID)(nil))

		// Deleting the workflow cascades to steps and their dependencies.
		n, err := q.DeleteWorkflow(ctx, w.ID)
		affected(t, "DeleteWorkflow", n, err, 1)
		eq(t, "steps left", scalar[int64](t, e, `SELECT count(*) FROM workflow_steps WHERE workflow_id = $1`, w.ID), int64(0))
		eq(t, "dependencies left", scalar[int64](t, e, `SELECT count(*) FROM workflow_step_dependencies`), int64(0))
		_, err = q.GetWorkflow(ctx, w.ID)
		wantNotFound(t, err)
		n, err = q.DeleteWorkflow(ctx, w.ID)
		affected(t, "DeleteWorkflow(again)", n, err, 0)
	})
}

// A step may be run by an agent or by a tool alone (both columns are
// nullable and the join is a LEFT JOIN), so the resolved names must be
// readable when one side is missing.
func TestGetWorkflowWithStepsOptionalAgentOrTool(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	o := mkUser(t, e, "o@example.com")
	w := mkWorkflow(t, e, o.ID, "mixed")
	agent := mkAgent(t, e, o.ID, "runner", db.AgentStatusActive, `{}`)
	tool := mkTool(t, e, "grep", "text", true)
	must[db.WorkflowStep](t)(e.Q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: w.ID, Position: 0, Name: "by-agent", AgentID: &agent.ID, Config: json.RawMessage(`{}`), TimeoutMs: 1000}))
	must[db.WorkflowStep](t)(e.Q.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: w.ID, Position: 1, Name: "by-tool", ToolID: &tool.ID, Config: json.RawMessage(`{}`), TimeoutMs: 1000}))

	rows, err := e.Q.GetWorkflowWithSteps(ctx, w.ID)
	if err != nil {
		t.Fatalf("GetWorkflowWithSteps with a tool-less and an agent-less step: %v", err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	eq(t, "step 0 agent", rows[0].AgentName, ptr("runner"))
	eq(t, "step 0 tool", rows[0].ToolName, (*string)(nil))
	eq(t, "step 1 agent", rows[1].AgentName, (*string)(nil))
	eq(t, "step 1 tool", rows[1].ToolName, ptr("grep"))

	// Deleting the agent leaves its step in place, unassigned (SET NULL).
	n, err := e.Q.DeleteAgent(ctx, agent.ID)
	affected(t, "DeleteAgent", n, err, 1)
	rows = must[[]db.GetWorkflowWithStepsRow](t)(e.Q.GetWorkflowWithSteps(ctx, w.ID))
	if len(rows) != 2 || rows[0].StepName != "by-agent" || rows[0].AgentName != nil {
		t.Fatalf("after agent delete: rows = %+v", rows)
	}
}
