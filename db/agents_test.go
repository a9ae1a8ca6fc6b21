package db_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

func TestAgents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	owner := mkUser(t, e, "owner@example.com")
	other := mkUser(t, e, "other@example.com")

	a := must[db.Agent](t)(q.CreateAgent(ctx, db.CreateAgentParams{
		OwnerID: owner.ID, Name: "planner", Kind: db.AgentKindSupervisor, Status: db.AgentStatusActive,
		Description: "plans", Config: json.RawMessage(`{"model": "m1", "temperature": 0.2}`),
	}))
	eq(t, "owner", a.OwnerID, owner.ID)
	eq(t, "name", a.Name, "planner")
	eq(t, "kind", a.Kind, db.AgentKindSupervisor)
	eq(t, "status", a.Status, db.AgentStatusActive)
	eq(t, "description", a.Description, "plans")
	eq(t, "version", a.Version, int32(1))
	jsonEq(t, "config", a.Config, `{"model":"m1","temperature":0.2}`)

	t.Run("GetAgent", func(t *testing.T) {
		eq(t, "GetAgent", must[db.Agent](t)(q.GetAgent(ctx, a.ID)), a)
		_, err := q.GetAgent(ctx, uuid.New())
		wantNotFound(t, err)
	})
	t.Run("GetAgentByName", func(t *testing.T) {
		eq(t, "GetAgentByName", must[db.Agent](t)(q.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: owner.ID, Name: "planner"})).ID, a.ID)
		_, err := q.GetAgentByName(ctx, db.GetAgentByNameParams{OwnerID: other.ID, Name: "planner"})
		wantNotFound(t, err)
	})
	t.Run("constraints", func(t *testing.T) {
		p := db.CreateAgentParams{OwnerID: owner.ID, Name: "planner", Kind: db.AgentKindWorker, Status: db.AgentStatusDraft, Config: json.RawMessage(`{}`)}
		_, err := q.CreateAgent(ctx, p)
		wantConstraint(t, err, postgres.ErrConflict, "agents_owner_name_key")
		p.OwnerID = other.ID // the same name under another owner is fine
		must[db.Agent](t)(q.CreateAgent(ctx, p))
		p.Name, p.Config = "arr", json.RawMessage(`[1,2]`)
		_, err = q.CreateAgent(ctx, p)
		wantConstraint(t, err, postgres.ErrCheck, "agents_config_is_object")
		p.Name, p.Config = "   ", json.RawMessage(`{}`)
		_, err = q.CreateAgent(ctx, p)
		wantConstraint(t, err, postgres.ErrCheck, "agents_name_not_blank")
		p.Name, p.OwnerID = "orphan", uuid.New()
		_, err = q.CreateAgent(ctx, p)
		wantConstraint(t, err, postgres.ErrForeignKey, "agents_owner_fkey")
	})
	t.Run("UpdateAgentStatus version guard", func(t *testing.T) {
		n, err := q.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{ID: a.ID, Version: 1, Status: db.AgentStatusPaused})
		affected(t, "UpdateAgentStatus(v1)", n, err, 1)
		// A writer that also read version 1 loses.
		n, err = q.UpdateAgentStatus(ctx, db.UpdateAgentStatusParams{ID: a.ID, Version: 1, Status: db.AgentStatusRetired})
		affected(t, "UpdateAgentStatus(stale v1)", n, err, 0)
		got := must[db.Agent](t)(q.GetAgent(ctx, a.ID))
		eq(t, "status", got.Status, db.AgentStatusPaused)
		eq(t, "version", got.Version, int32(2))
		if !got.UpdatedAt.After(a.UpdatedAt) {
			t.Errorf("updated_at not advanced: %v -> %v", a.UpdatedAt, got.UpdatedAt)
		}
	})
	t.Run("UpdateAgentConfig version guard", func(t *testing.T) {
		got := must[db.Agent](t)(q.UpdateAgentConfig(ctx, db.UpdateAgentConfigParams{
			ID: a.ID, Version: 2, Config: json.RawMessage(`{"model":"m2"}`), Description: "replans",
		}))
		eq(t, "version", got.Version, int32(3))
		eq(t, "description", got.Description, "replans")
		jsonEq(t, "config", got.Config, `{"model":"m2"}`)
		eq(t, "status untouched", got.Status, db.AgentStatusPaused)
		_, err := q.UpdateAgentConfig(ctx, db.UpdateAgentConfigParams{
			ID: a.ID, Version: 2, Config: json.RawMessage(`{"model":"stale"}`), Description: "stale",
		})
		wantNotFound(t, err) // :one with no row: the stale writer sees not found
		jsonEq(t, "config after stale write", must[db.Agent](t)(q.GetAgent(ctx, a.ID)).Config, `{"model":"m2"}`)
	})
	t.Run("DeleteAgent", func(t *testing.T) {
		b := mkAgent(t, e, owner.ID, "doomed", db.AgentStatusDraft, `{}`)
		n, err := q.DeleteAgent(ctx, b.ID)
		affected(t, "DeleteAgent", n, err, 1)
		_, err = q.GetAgent(ctx, b.ID)
		wantNotFound(t, err)
		n, err = q.DeleteAgent(ctx, b.ID)
		affected(t, "DeleteAgent(again)", n, err, 0)
	})
}

func TestListAgentsByOwnerKeyset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	owner := mkUser(t, e, "owner@example.com")
	other := mkUser(t, e, "other@example.com")
	var want []uuid.UUID
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"} {
		want = append(want, mkAgent(t, e, owner.ID, n, db.AgentStatusDraft, `{}`).ID)
		mkAgent(t, e, other.ID, n, db.AgentStatusDraft, `{}`)
	}
	// Identical created_at for all: the id must order the page boundary.
	exec(t, e, `UPDATE agents SET created_at = '2025-01-01T00:00:00Z'`)
	slices.SortFunc(want, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })

	p := db.ListAgentsByOwnerParams{OwnerID: owner.ID, AfterCreatedAt: time.Unix(0, 0), PageSize: 3}
	var got []uuid.UUID
	var sizes []int
	for range 10 {
		page := must[[]db.Agent](t)(e.Q.ListAgentsByOwner(ctx, p))
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			if a.OwnerID != owner.ID {
				t.Fatalf("agent of another owner listed: %+v", a)
			}
		}
		got = append(got, ids(page, func(a db.Agent) uuid.UUID { return a.ID })...)
		last := page[len(page)-1]
		p.AfterCreatedAt, p.AfterID = last.CreatedAt, last.ID
	}
	eq(t, "page sizes", sizes, []int{3, 3, 1, 0})
	eq(t, "ids across pages", got, want)
}

func TestListAgentsByStatusAndConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	o := mkUser(t, e, "o@example.com")
	zeta := mkAgent(t, e, o.ID, "zeta", db.AgentStatusActive, `{"tier":"gold","model":"m1","tags":["x","y"],"limits":{"rpm":60}}`)
	alpha := mkAgent(t, e, o.ID, "alpha", db.AgentStatusActive, `{"tier":"silver","model":"m1","tags":["y"]}`)
	mid := mkAgent(t, e, o.ID, "mid", db.AgentStatusActive, `{"tier":"gold"}`)
	paused := mkAgent(t, e, o.ID, "paused", db.AgentStatusPaused, `{"tier":"gold","model":"m1"}`)

	name := func(a db.Agent) uuid.UUID { return a.ID }
	act := must[[]db.Agent](t)(e.Q.ListAgentsByStatus(ctx, db.ListAgentsByStatusParams{Status: db.AgentStatusActive, Limit: 10}))
	eq(t, "active by name", ids(act, name), []uuid.UUID{alpha.ID, mid.ID, zeta.ID})
	act = must[[]db.Agent](t)(e.Q.ListAgentsByStatus(ctx, db.ListAgentsByStatusParams{Status: db.AgentStatusActive, Limit: 2}))
	eq(t, "active limit 2", ids(act, name), []uuid.UUID{alpha.ID, mid.ID})
	ps := must[[]db.Agent](t)(e.Q.ListAgentsByStatus(ctx, db.ListAgentsByStatusParams{Status: db.AgentStatusPaused, Limit: 10}))
	eq(t, "paused", ids(ps, name), []uuid.UUID{paused.ID})
	rt := must[[]db.Agent](t)(e.Q.ListAgentsByStatus(ctx, db.ListAgentsByStatusParams{Status: db.AgentStatusRetired, Limit: 10}))
	eq(t, "retired", len(rt), 0)

	for _, c := range []struct {
		filter string
		want   []uuid.UUID
	}{
		{`{"tier":"gold"}`, []uuid.UUID{mid.ID, paused.ID, zeta.ID}},
		{`{"tier":"gold","model":"m1"}`, []uuid.UUID{paused.ID, zeta.ID}},
		{`{"tags":["y"]}`, []uuid.UUID{alpha.ID, zeta.ID}},
		{`{"tags":["x","y"]}`, []uuid.UUID{zeta.ID}},
		{`{"limits":{"rpm":60}}`, []uuid.UUID{zeta.ID}},
		{`{"tier":"bronze"}`, nil},
		{`{}`, []uuid.UUID{alpha.ID, mid.ID, paused.ID, zeta.ID}},
	} {
		got := must[[]db.Agent](t)(e.Q.FindAgentsByConfig(ctx, json.RawMessage(c.filter)))
		g := ids(got, name)
		if len(g) == 0 {
			g = nil
		}
		eq(t, "FindAgentsByConfig "+c.filter, g, c.want)
	}
}

func TestToolsAndAssignments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	o := mkUser(t, e, "o@example.com")
	agent := mkAgent(t, e, o.ID, "worker", db.AgentStatusActive, `{}`)

	search := must[db.Tool](t)(q.UpsertTool(ctx, db.UpsertToolParams{
		Name: "search", Category: "web", Description: "v1", InputSchema: json.RawMessage(`{"type":"object"}`), IsEnabled: true,
	}))
	eq(t, "tool name", search.Name, "search")
	eq(t, "tool category", search.Category, "web")
	eq(t, "tool enabled", search.IsEnabled, true)
	jsonEq(t, "input schema", search.InputSchema, `{"type":"object"}`)

	t.Run("UpsertTool update path", func(t *testing.T) {
		up := must[db.Tool](t)(q.UpsertTool(ctx, db.UpsertToolParams{
			Name: "search", Category: "web", Description: "v2", InputSchema: json.RawMessage(`{"type":"object","required":["q"]}`), IsEnabled: true,
		}))
		eq(t, "same id", up.ID, search.ID)
		eq(t, "description updated", up.Description, "v2")
		jsonEq(t, "schema updated", up.InputSchema, `{"type":"object","required":["q"]}`)
		eq(t, "created_at kept", up.CreatedAt, search.CreatedAt)
		if !up.UpdatedAt.After(search.UpdatedAt) {
			t.Errorf("updated_at not advanced")
		}
		eq(t, "tools named search", scalar[int64](t, e, `SELECT count(*) FROM tools WHERE name = 'search'`), int64(1))
		eq(t, "GetTool", must[db.Tool](t)(q.GetTool(ctx, search.ID)), up)
		_, err := q.GetTool(ctx, uuid.New())
		wantNotFound(t, err)
	})
	t.Run("tool check", func(t *testing.T) {
		_, err := q.UpsertTool(ctx, db.UpsertToolParams{Name: "bad", Category: "x", InputSchema: json.RawMessage(`"string"`), IsEnabled: true})
		wantConstraint(t, err, postgres.ErrCheck, "tools_input_schema_is_object")
	})

	fetch := mkTool(t, e, "fetch", "web", true)
	off := mkTool(t, e, "crawl", "web", false)
	calc := mkTool(t, e, "calc", "math", true)

	t.Run("ListTools", func(t *testing.T) {
		web := must[[]db.Tool](t)(q.ListTools(ctx, "web"))
		eq(t, "enabled web tools by name", ids(web, func(x db.Tool) uuid.UUID { return x.ID }), []uuid.UUID{fetch.ID, search.ID})
		math := must[[]db.Tool](t)(q.ListTools(ctx, "math"))
		eq(t, "math tools", ids(math, func(x db.Tool) uuid.UUID { return x.ID }), []uuid.UUID{calc.ID})
	})

	t.Run("AssignTool and ListAgentTools", func(t *testing.T) {
		for _, tl := range []db.Tool{search, fetch, off} {
			noErr(t, q.AssignTool(ctx, db.AssignToolParams{AgentID: agent.ID, ToolID: tl.ID, Config: json.RawMessage(`{"n":1}`)}))
		}
		// Upsert: reassigning replaces the per-agent config.
		noErr(t, q.AssignTool(ctx, db.AssignToolParams{AgentID: agent.ID, ToolID: search.ID, Config: json.RawMessage(`{"n":2}`)}))
		eq(t, "assignment rows", scalar[int64](t, e, `SELECT count(*) FROM agent_tools WHERE agent_id = $1`, agent.ID), int64(3))
		rows := must[[]db.ListAgentToolsRow](t)(q.ListAgentTools(ctx, agent.ID))
		if len(rows) != 2 {
			t.Fatalf("ListAgentTools = %d rows, want 2 (disabled tool excluded): %+v", len(rows), rows)
		}
		eq(t, "tool 0", rows[0].ToolName, "fetch")
		eq(t, "tool 1", rows[1].ToolName, "search")
		for _, r := range rows {
			eq(t, "agent id", r.AgentID, agent.ID)
			eq(t, "agent name", r.AgentName, "worker")
			eq(t, "category", r.Category, "web")
			if r.AssignedAt.IsZero() {
				t.Error("assigned_at zero")
			}
		}
		eq(t, "tool id", rows[1].ToolID, search.ID)
		jsonEq(t, "fetch config", rows[0].AssignmentConfig, `{"n":1}`)
		jsonEq(t, "search config (upserted)", rows[1].AssignmentConfig, `{"n":2}`)

		_, err := q.ListAgentTools(ctx, uuid.New())
		noErr(t, err)
		err = q.AssignTool(ctx, db.AssignToolParams{AgentID: agent.ID, ToolID: uuid.New(), Config: json.RawMessage(`{}`)})
		wantConstraint(t, err, postgres.ErrForeignKey, "agent_tools_tool_fkey")
		err = q.AssignTool(ctx, db.AssignToolParams{AgentID: agent.ID, ToolID: calc.ID, Config: json.RawMessage(`[]`)})
		wantConstraint(t, err, postgres.ErrCheck, "agent_tools_config_is_object")
	})

	t.Run("DeleteTool restricted while assigned", func(t *testing.T) {
		_, err := q.DeleteTool(ctx, fetch.ID)
		wantConstraint(t, err, postgres.ErrForeignKey, "agent_tools_tool_fkey")
		n, err := q.UnassignTool(ctx, db.UnassignToolParams{AgentID: agent.ID, ToolID: fetch.ID})
		affected(t, "UnassignTool", n, err, 1)
		n, err = q.UnassignTool(ctx, db.UnassignToolParams{AgentID: agent.ID, ToolID: fetch.ID})
		affected(t, "UnassignTool(again)", n, err, 0)
		n, err = q.DeleteTool(ctx, fetch.ID)
		affected(t, "DeleteTool", n, err, 1)
		_, err = q.GetTool(ctx, fetch.ID)
		wantNotFound(t, err)
		n, err = q.DeleteTool(ctx, fetch.ID)
		affected(t, "DeleteTool(again)", n, err, 0)
		rows := must[[]db.ListAgentToolsRow](t)(q.ListAgentTools(ctx, agent.ID))
		eq(t, "tools left", len(rows), 1)
	})
}
