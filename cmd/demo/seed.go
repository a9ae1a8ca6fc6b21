package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

// dataset is what the seed created and the workload picks from.
type dataset struct {
	users      []uuid.UUID
	agents     []db.Agent
	tools      []db.Tool
	categories []string
	workflows  []uuid.UUID
	tasks      []uuid.UUID
	executions []uuid.UUID

	assignments, steps, deps, events int
}

func (d *dataset) summary() string {
	return fmt.Sprintf("%d users, %d agents, %d tools, %d assignments, %d workflows / %d steps / %d deps, %d tasks, %d executions / %d events",
		len(d.users), len(d.agents), len(d.tools), d.assignments, len(d.workflows), d.steps, d.deps,
		len(d.tasks), len(d.executions), d.events)
}

const (
	agentsPerUser     = 20
	tasksPerAgent     = 3
	workflowsPerUser  = 2
	executionsPerUser = 10
	eventsPerRun      = 20
)

var (
	firstNames = []string{"ada", "alan", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances", "edsger"}
	lastNames  = []string{"lovelace", "turing", "hopper", "torvalds", "liskov", "thompson", "hamilton", "ritchie", "allen", "dijkstra"}
	agentRoles = []string{"triage", "research", "support", "billing", "codegen", "reviewer", "scheduler", "router", "summarizer", "monitor"}
	models     = []string{"gpt-4o", "claude-sonnet", "llama-3-70b", "mistral-large"}
	toolsByCat = map[string][]string{
		"search": {"web-search", "doc-search", "code-search", "ticket-search", "kb-lookup", "news-feed", "patent-search", "people-directory"},
		"code":   {"run-python", "run-sql", "git-diff", "lint", "unit-tests", "format", "dependency-audit", "build"},
		"data":   {"csv-reader", "chart", "warehouse-query", "s3-get", "s3-put", "json-transform", "geocode", "currency-rates"},
		"comms":  {"send-email", "slack-post", "sms", "calendar", "create-ticket", "update-ticket", "pager", "translate"},
		"ops":    {"restart-service", "scale-deploy", "read-logs", "metrics-query", "feature-flag", "dns-lookup", "cert-check", "backup"},
	}
	categories = []string{"search", "code", "data", "comms", "ops"}
	taskVerbs  = []string{"Investigate", "Summarize", "Reply to", "Refund", "Review", "Schedule", "Escalate", "Classify"}
	taskNouns  = []string{"customer ticket", "failed build", "invoice dispute", "pull request", "outage report", "meeting request", "security alert", "feature request"}
)

// seed fills the database through the generated repository in one
// transaction (reads in it bypass the cache; its invalidations are applied
// once, after commit). Events go in with the :copyfrom query.
func seed(ctx context.Context, r *db.Repository, numAgents int) (*dataset, error) {
	var d *dataset
	err := r.InTx(ctx, postgres.TxOptions{}, func(ctx context.Context, tx *db.Repository) error {
		d = &dataset{categories: categories}
		return d.fill(ctx, tx, numAgents)
	})
	return d, err
}

func (d *dataset) fill(ctx context.Context, r *db.Repository, numAgents int) error {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	rawJSON := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }

	numUsers := numAgents / agentsPerUser
	for i := range numUsers {
		role := db.UserRoleMember
		switch {
		case i%10 == 0:
			role = db.UserRoleAdmin
		case i%7 == 0:
			role = db.UserRoleViewer
		}
		first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		u, err := r.CreateUser(ctx, db.CreateUserParams{
			Email:       fmt.Sprintf("%s.%s.%d@example.com", first, last, i),
			DisplayName: fmt.Sprintf("%s %s", title(first), title(last)),
			Role:        role,
		})
		if err != nil {
			return fmt.Errorf("CreateUser: %w", err)
		}
		d.users = append(d.users, u.ID)
	}

	for _, cat := range categories {
		for _, name := range toolsByCat[cat] {
			t, err := r.UpsertTool(ctx, db.UpsertToolParams{
				Name: name, Category: cat, Description: "The " + name + " tool.",
				InputSchema: rawJSON(map[string]any{"type": "object", "properties": map[string]any{"input": map[string]string{"type": "string"}}}),
				IsEnabled:   rng.IntN(10) != 0,
			})
			if err != nil {
				return fmt.Errorf("UpsertTool: %w", err)
			}
			d.tools = append(d.tools, t)
		}
	}

	kinds := []db.AgentKind{db.AgentKindAssistant, db.AgentKindWorker, db.AgentKindSupervisor, db.AgentKindRouter}
	for i := range numUsers * agentsPerUser {
		status := db.AgentStatusActive
		switch x := rng.IntN(10); {
		case x == 0:
			status = db.AgentStatusDraft
		case x == 1:
			status = db.AgentStatusPaused
		}
		role := agentRoles[i%len(agentRoles)]
		a, err := r.CreateAgent(ctx, db.CreateAgentParams{
			OwnerID:     d.users[i/agentsPerUser],
			Name:        fmt.Sprintf("%s-%04d", role, i),
			Kind:        kinds[rng.IntN(len(kinds))],
			Status:      status,
			Description: fmt.Sprintf("Handles %s work for its team.", role),
			Config:      rawJSON(map[string]any{"model": pick(models), "temperature": float64(rng.IntN(10)) / 10, "max_tokens": 512 << rng.IntN(4)}),
		})
		if err != nil {
			return fmt.Errorf("CreateAgent: %w", err)
		}
		d.agents = append(d.agents, a)
		for _, j := range rng.Perm(len(d.tools))[:2+rng.IntN(4)] {
			if err := r.AssignTool(ctx, db.AssignToolParams{
				AgentID: a.ID, ToolID: d.tools[j].ID,
				Config: rawJSON(map[string]any{"rate_limit_per_min": 10 * (1 + rng.IntN(6))}),
			}); err != nil {
				return fmt.Errorf("AssignTool: %w", err)
			}
			d.assignments++
		}
	}

	for ui, owner := range d.users {
		for w := range workflowsPerUser {
			wf, err := r.CreateWorkflow(ctx, db.CreateWorkflowParams{
				OwnerID: owner, Name: fmt.Sprintf("%s-pipeline-%d", agentRoles[(ui+w)%len(agentRoles)], w),
				Description: "Routes incoming work through the team's agents.",
				Definition:  rawJSON(map[string]any{"trigger": "webhook", "retry": map[string]int{"max": 3}}),
			})
			if err != nil {
				return fmt.Errorf("CreateWorkflow: %w", err)
			}
			d.workflows = append(d.workflows, wf.ID)
			var prev *uuid.UUID
			for pos := range 3 + rng.IntN(4) {
				p := db.AddWorkflowStepParams{
					WorkflowID: wf.ID, Position: int32(pos), Name: fmt.Sprintf("step-%d", pos+1),
					Config: rawJSON(map[string]any{}), TimeoutMs: int32(5000 * (1 + rng.IntN(12))),
				}
				if rng.IntN(3) == 0 {
					p.ToolID = &d.tools[rng.IntN(len(d.tools))].ID
				} else {
					p.AgentID = &d.agents[ui*agentsPerUser+rng.IntN(agentsPerUser)].ID
				}
				s, err := r.AddWorkflowStep(ctx, p)
				if err != nil {
					return fmt.Errorf("AddWorkflowStep: %w", err)
				}
				d.steps++
				if prev != nil {
					if err := r.AddStepDependency(ctx, db.AddStepDependencyParams{StepID: s.ID, DependsOnStepID: *prev}); err != nil {
						return fmt.Errorf("AddStepDependency: %w", err)
					}
					d.deps++
				}
				prev = &s.ID
			}
		}
	}

	statuses := []db.TaskStatus{db.TaskStatusQueued, db.TaskStatusRunning, db.TaskStatusBlocked, db.TaskStatusCompleted, db.TaskStatusFailed}
	now := time.Now().UTC()
	for ai := range d.agents {
		a := &d.agents[ai]
		for range tasksPerAgent {
			due := now.Add(time.Duration(rng.IntN(96)-24) * time.Hour)
			creator := a.OwnerID
			t, err := r.CreateTask(ctx, db.CreateTaskParams{
				Title:       fmt.Sprintf("%s %s #%d", pick(taskVerbs), pick(taskNouns), rng.IntN(100000)),
				Description: "Seeded by the demo.",
				Priority:    int16(rng.IntN(5)), AssigneeAgentID: &a.ID, CreatedBy: &creator,
				Metadata: rawJSON(map[string]any{"source": pick([]string{"email", "slack", "api", "cron"})}),
				DueAt:    &due,
			})
			if err != nil {
				return fmt.Errorf("CreateTask: %w", err)
			}
			d.tasks = append(d.tasks, t.ID)
			if rng.IntN(3) != 0 { // two thirds have moved on from pending
				if _, err := r.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{
					ID: t.ID, Version: t.Version, Status: statuses[rng.IntN(len(statuses))],
				}); err != nil {
					return fmt.Errorf("TransitionTaskStatus: %w", err)
				}
			}
		}
	}

	eventKinds := []db.ExecutionEventKind{db.ExecutionEventKindLog, db.ExecutionEventKindToolCall, db.ExecutionEventKindToolResult, db.ExecutionEventKindMetric}
	var events []db.InsertExecutionEventsParams
	for ui, user := range d.users {
		for range executionsPerUser {
			a := d.agents[ui*agentsPerUser+rng.IntN(agentsPerUser)]
			by := user
			e, err := r.CreateExecution(ctx, db.CreateExecutionParams{
				SubjectKind: db.ExecutionSubjectAgent, AgentID: &a.ID, TriggeredBy: &by,
				Input: rawJSON(map[string]any{"prompt": "Handle the next item in the queue."}),
			})
			if err != nil {
				return fmt.Errorf("CreateExecution: %w", err)
			}
			d.executions = append(d.executions, e.ID)
			at := now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
			for seq := range eventsPerRun {
				kind := eventKinds[rng.IntN(len(eventKinds))]
				if seq == 0 {
					kind = db.ExecutionEventKindStateChange
				}
				events = append(events, db.InsertExecutionEventsParams{
					ExecutionID: e.ID, Seq: int32(seq), Kind: kind, CreatedAt: at.Add(time.Duration(seq) * 150 * time.Millisecond),
					Payload: rawJSON(map[string]any{"step": seq, "tokens": rng.IntN(2000)}),
				})
			}
		}
	}
	n, err := r.InsertExecutionEvents(ctx, events)
	if err != nil {
		return fmt.Errorf("InsertExecutionEvents: %w", err)
	}
	d.events = int(n)
	return nil
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
