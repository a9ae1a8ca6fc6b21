package db_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

func TestPlaybooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	tool := mkTool(t, e, "pager", "ops", true)

	pb := must[db.Playbook](t)(q.CreatePlaybook(ctx, db.CreatePlaybookParams{
		OwnerID: o.ID, Name: "incident", Description: "page and triage",
		Trigger: json.RawMessage(`{"on":"alert","severity":"high"}`), Tags: []string{"ops", "oncall"},
	}))
	eq(t, "status default", pb.Status, db.PlaybookStatusDraft)
	eq(t, "tags", pb.Tags, []string{"ops", "oncall"})
	eq(t, "version", pb.Version, int32(1))
	jsonEq(t, "trigger", pb.Trigger, `{"on":"alert","severity":"high"}`)
	eq(t, "GetPlaybook", must[db.Playbook](t)(q.GetPlaybook(ctx, pb.ID)), pb)
	_, err := q.GetPlaybook(ctx, uuid.New())
	wantNotFound(t, err)
	_, err = q.CreatePlaybook(ctx, db.CreatePlaybookParams{OwnerID: o.ID, Name: "incident", Trigger: json.RawMessage(`{}`), Tags: []string{}})
	wantConstraint(t, err, postgres.ErrConflict, "playbooks_owner_name_key")

	t.Run("steps", func(t *testing.T) {
		s1 := must[db.PlaybookStep](t)(q.AddPlaybookStep(ctx, db.AddPlaybookStepParams{
			PlaybookID: pb.ID, Position: 1, Action: "triage", Parameters: json.RawMessage(`{"who":"sre"}`), OnFailure: db.StepFailureActionContinue, MaxRetries: 0,
		}))
		s0 := must[db.PlaybookStep](t)(q.AddPlaybookStep(ctx, db.AddPlaybookStepParams{
			PlaybookID: pb.ID, Position: 0, Action: "page", ToolID: &tool.ID, Parameters: json.RawMessage(`{}`), OnFailure: db.StepFailureActionRetry, MaxRetries: 3,
		}))
		eq(t, "step tool", *s0.ToolID, tool.ID)
		eq(t, "on_failure", s0.OnFailure, db.StepFailureActionRetry)
		eq(t, "max_retries", s0.MaxRetries, int16(3))
		jsonEq(t, "parameters", s1.Parameters, `{"who":"sre"}`)

		_, err := q.AddPlaybookStep(ctx, db.AddPlaybookStepParams{PlaybookID: pb.ID, Position: 5, Action: "x", Parameters: json.RawMessage(`{}`), OnFailure: db.StepFailureActionAbort, MaxRetries: 11})
		wantConstraint(t, err, postgres.ErrCheck, "playbook_steps_retries_range")
		_, err = q.AddPlaybookStep(ctx, db.AddPlaybookStepParams{PlaybookID: pb.ID, Position: 0, Action: "x", Parameters: json.RawMessage(`{}`), OnFailure: db.StepFailureActionAbort})
		wantConstraint(t, err, postgres.ErrConflict, "playbook_steps_position_key")

		steps := must[[]db.PlaybookStep](t)(q.ListPlaybookSteps(ctx, pb.ID))
		eq(t, "steps by position", steps, []db.PlaybookStep{s0, s1})
		eq(t, "no steps", len(must[[]db.PlaybookStep](t)(q.ListPlaybookSteps(ctx, uuid.New()))), 0)
	})

	t.Run("publish and list by tag", func(t *testing.T) {
		other := must[db.Playbook](t)(q.CreatePlaybook(ctx, db.CreatePlaybookParams{OwnerID: o.ID, Name: "backup", Trigger: json.RawMessage(`{}`), Tags: []string{"ops"}}))
		draft := must[db.Playbook](t)(q.CreatePlaybook(ctx, db.CreatePlaybookParams{OwnerID: o.ID, Name: "a-draft", Trigger: json.RawMessage(`{}`), Tags: []string{"ops"}}))
		eq(t, "no published yet", len(must[[]db.Playbook](t)(q.ListPublishedPlaybooksByTag(ctx, "ops"))), 0)

		n, err := q.PublishPlaybook(ctx, db.PublishPlaybookParams{ID: pb.ID, Version: 1})
		affected(t, "PublishPlaybook", n, err, 1)
		n, err = q.PublishPlaybook(ctx, db.PublishPlaybookParams{ID: pb.ID, Version: 2})
		affected(t, "PublishPlaybook(already published)", n, err, 0)
		n, err = q.PublishPlaybook(ctx, db.PublishPlaybookParams{ID: other.ID, Version: 7})
		affected(t, "PublishPlaybook(stale)", n, err, 0)
		n, err = q.PublishPlaybook(ctx, db.PublishPlaybookParams{ID: other.ID, Version: 1})
		affected(t, "PublishPlaybook(other)", n, err, 1)
		got := must[db.Playbook](t)(q.GetPlaybook(ctx, pb.ID))
		eq(t, "status", got.Status, db.PlaybookStatusPublished)
		eq(t, "version", got.Version, int32(2))

		byName := func(p db.Playbook) uuid.UUID { return p.ID }
		eq(t, "published ops", ids(must[[]db.Playbook](t)(q.ListPublishedPlaybooksByTag(ctx, "ops")), byName), []uuid.UUID{other.ID, pb.ID})
		eq(t, "published oncall", ids(must[[]db.Playbook](t)(q.ListPublishedPlaybooksByTag(ctx, "oncall")), byName), []uuid.UUID{pb.ID})
		eq(t, "published none", len(must[[]db.Playbook](t)(q.ListPublishedPlaybooksByTag(ctx, "nope"))), 0)
		eq(t, "draft stays unlisted", must[db.Playbook](t)(q.GetPlaybook(ctx, draft.ID)).Status, db.PlaybookStatusDraft)
	})

	t.Run("DeletePlaybook cascades steps, keeps executions", func(t *testing.T) {
		ex := must[db.Execution](t)(q.CreateExecution(ctx, db.CreateExecutionParams{SubjectKind: db.ExecutionSubjectPlaybook, PlaybookID: &pb.ID, Input: json.RawMessage(`{}`)}))
		n, err := q.DeletePlaybook(ctx, pb.ID)
		affected(t, "DeletePlaybook", n, err, 1)
		eq(t, "steps left", scalar[int64](t, e, `SELECT count(*) FROM playbook_steps WHERE playbook_id = $1`, pb.ID), int64(0))
		got := must[db.Execution](t)(q.GetExecution(ctx, ex.ID))
		eq(t, "execution playbook after delete", got.PlaybookID, (*uuid.UUID)(nil))
		eq(t, "subject kind kept", got.SubjectKind, db.ExecutionSubjectPlaybook)
		n, err = q.DeletePlaybook(ctx, pb.ID)
		affected(t, "DeletePlaybook(again)", n, err, 0)
		// The step's tool survived; deleting it is not restricted by steps.
		n, err = q.DeleteTool(ctx, tool.ID)
		affected(t, "DeleteTool", n, err, 1)
	})
}
