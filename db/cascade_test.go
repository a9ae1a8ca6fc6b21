package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

// TestDeleteBehaviour checks the ON DELETE rules end to end through the
// generated deletes.
func TestDeleteBehaviour(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	owner := mkUser(t, e, "owner@example.com")
	agent := mkAgent(t, e, owner.ID, "a", db.AgentStatusActive, `{}`)
	tool := mkTool(t, e, "t", "c", true)
	noErr(t, q.AssignTool(ctx, db.AssignToolParams{AgentID: agent.ID, ToolID: tool.ID, Config: json.RawMessage(`{}`)}))
	task := mkTask(t, e, db.CreateTaskParams{Title: "t", Priority: 1, AssigneeAgentID: &agent.ID, CreatedBy: &owner.ID})
	ex := mkAgentExecution(t, e, agent.ID)
	must[db.ExecutionEvent](t)(q.AppendExecutionEvent(ctx, db.AppendExecutionEventParams{ExecutionID: ex.ID, Kind: db.ExecutionEventKindLog, Payload: json.RawMessage(`{}`)}))

	t.Run("user owning agents is restricted", func(t *testing.T) {
		_, err := q.DeleteUser(ctx, owner.ID)
		wantConstraint(t, err, postgres.ErrForeignKey, "agents_owner_fkey")
		var ce *postgres.ConstraintError
		if !errors.As(err, &ce) || ce.Table != "agents" {
			t.Errorf("constraint table = %q, want agents", ce.Table)
		}
		must[db.User](t)(q.GetUser(ctx, owner.ID))
	})

	t.Run("agent delete", func(t *testing.T) {
		n, err := q.DeleteAgent(ctx, agent.ID)
		affected(t, "DeleteAgent", n, err, 1)
		eq(t, "agent_tools rows (CASCADE)", scalar[int64](t, e, `SELECT count(*) FROM agent_tools WHERE agent_id = $1`, agent.ID), int64(0))
		eq(t, "ListAgentTools", len(must[[]db.ListAgentToolsRow](t)(q.ListAgentTools(ctx, agent.ID))), 0)
		got := must[db.Task](t)(q.GetTask(ctx, task.ID))
		eq(t, "task assignee (SET NULL)", got.AssigneeAgentID, (*uuid.UUID)(nil))
		gx := must[db.Execution](t)(q.GetExecution(ctx, ex.ID))
		eq(t, "execution agent (SET NULL)", gx.AgentID, (*uuid.UUID)(nil))
		eq(t, "execution events kept", must[int64](t)(q.CountExecutionEvents(ctx, ex.ID)), int64(1))
		must[db.Tool](t)(q.GetTool(ctx, tool.ID))
	})

	t.Run("user without agents", func(t *testing.T) {
		n, err := q.DeleteUser(ctx, owner.ID)
		affected(t, "DeleteUser", n, err, 1)
		got := must[db.Task](t)(q.GetTask(ctx, task.ID))
		eq(t, "task created_by (SET NULL)", got.CreatedBy, (*uuid.UUID)(nil))
	})

	t.Run("execution delete cascades events", func(t *testing.T) {
		exec(t, e, `UPDATE executions SET status = 'succeeded', created_at = '2000-01-01Z' WHERE id = $1`, ex.ID)
		n, err := q.DeleteExecutionsBefore(ctx, must[db.Execution](t)(q.GetExecution(ctx, ex.ID)).CreatedAt.AddDate(0, 0, 1))
		affected(t, "DeleteExecutionsBefore", n, err, 1)
		eq(t, "events left", must[int64](t)(q.CountExecutionEvents(ctx, ex.ID)), int64(0))
	})
}
