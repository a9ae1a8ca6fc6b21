package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
	"github.com/agentical/datalayer/events"
	"github.com/agentical/datalayer/httpmw"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/reqctx"
)

// api holds what the handlers need.
type api struct {
	repo   *db.Repository
	bus    *events.Bus
	log    *slog.Logger
	txConf httpmw.TxConfig
}

func (a *api) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /users", a.createUser)
	mux.HandleFunc("POST /agents", a.createAgent)
	mux.HandleFunc("GET /agents/{id}", getByID(a.repo.GetAgent)) // cached
	mux.HandleFunc("PATCH /agents/{id}", a.updateAgent)
	mux.Handle("POST /workflows", httpmw.Transactional(a.repo, a.txConf, a.createWorkflow))
	mux.HandleFunc("GET /workflows/{id}", a.getWorkflow)
	mux.HandleFunc("POST /tasks", a.createTask)
	mux.HandleFunc("GET /tasks/{id}", getByID(a.repo.GetTask))
	mux.HandleFunc("POST /tasks/{id}/transition", a.transitionTask)
	mux.Handle("GET /tasks/events", events.SSEHandler(a.bus, events.AllTaskStatus,
		events.SSEConfig[events.TaskStatusChanged]{Pattern: true, Event: "task.status"}))
	mux.HandleFunc("GET /tasks/{id}/events", a.taskEvents)
	mux.Handle("POST /executions", httpmw.Transactional(a.repo, a.txConf, a.createExecution))
	mux.HandleFunc("GET /executions/{id}", getByID(a.repo.GetExecution))
}

// Valid enum values (the database refuses others, but with a message that
// is no use to a client).
var (
	agentKinds   = []db.AgentKind{db.AgentKindAssistant, db.AgentKindWorker, db.AgentKindSupervisor, db.AgentKindRouter}
	userRoles    = []db.UserRole{db.UserRoleAdmin, db.UserRoleMember, db.UserRoleViewer}
	taskStatuses = []db.TaskStatus{db.TaskStatusPending, db.TaskStatusQueued, db.TaskStatusRunning, db.TaskStatusBlocked,
		db.TaskStatusCompleted, db.TaskStatusFailed, db.TaskStatusCancelled}
)

// conflictBody is the 409 answer to a stale version.
type conflictBody struct {
	Error          string `json:"error"`
	CurrentVersion int32  `json:"current_version"`
	RequestID      string `json:"request_id,omitempty"`
}

// writeError answers a data-layer error through httpmw.WriteError (404,
// 409, 422, 503 + Retry-After, 500).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	httpmw.WriteError(w, r, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// badRequest answers 400 with the problem.
func badRequest(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, httpmw.ErrorBody{Error: fmt.Sprintf(format, args...), RequestID: reqctx.RequestID(r.Context())})
}

func conflict(w http.ResponseWriter, r *http.Request, current int32) {
	writeJSON(w, http.StatusConflict, conflictBody{Error: "version conflict: the row changed since it was read",
		CurrentVersion: current, RequestID: reqctx.RequestID(r.Context())})
}

// decode reads a JSON body into v, refusing unknown fields; it answers 400
// itself and returns false on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, r, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// pathID parses the {id} path value; it answers 400 itself on failure.
// getByID answers GET .../{id} with get's row as JSON (404 when missing).
func getByID[T any](get func(context.Context, uuid.UUID) (T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		v, err := get(r.Context(), id)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func pathID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		badRequest(w, r, "id: not a UUID")
		return uuid.Nil, false
	}
	return id, true
}

// object returns raw, or {} when it is empty; a JSON value that is not an
// object is an error.
func object(name string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%s: must be a JSON object", name)
	}
	return raw, nil
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email       string      `json:"email"`
		DisplayName string      `json:"display_name"`
		Role        db.UserRole `json:"role"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Role == "" {
		in.Role = db.UserRoleMember
	}
	if !slices.Contains(userRoles, in.Role) {
		badRequest(w, r, "role: must be one of %v", userRoles)
		return
	}
	u, err := a.repo.CreateUser(r.Context(), db.CreateUserParams{Email: in.Email, DisplayName: in.DisplayName, Role: in.Role})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (a *api) createAgent(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OwnerID     uuid.UUID       `json:"owner_id"`
		Name        string          `json:"name"`
		Kind        db.AgentKind    `json:"kind"`
		Description string          `json:"description"`
		Config      json.RawMessage `json:"config"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Kind == "" {
		in.Kind = db.AgentKindAssistant
	}
	if !slices.Contains(agentKinds, in.Kind) {
		badRequest(w, r, "kind: must be one of %v", agentKinds)
		return
	}
	cfg, err := object("config", in.Config)
	if err != nil {
		badRequest(w, r, "%v", err)
		return
	}
	ag, err := a.repo.CreateAgent(r.Context(), db.CreateAgentParams{OwnerID: in.OwnerID, Name: in.Name, Kind: in.Kind,
		Status: db.AgentStatusDraft, Description: in.Description, Config: cfg})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ag)
}

// updateAgent changes description and/or config if the agent still has the
// version the client read.
func (a *api) updateAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in struct {
		Version     *int32          `json:"version"`
		Description *string         `json:"description"`
		Config      json.RawMessage `json:"config"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Version == nil {
		badRequest(w, r, "version: required (the version you read)")
		return
	}
	cur, err := a.repo.GetAgent(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := db.UpdateAgentConfigParams{ID: id, Version: *in.Version, Description: cur.Description, Config: cur.Config}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Config != nil {
		if p.Config, err = object("config", in.Config); err != nil {
			badRequest(w, r, "%v", err)
			return
		}
	}
	ag, err := a.repo.UpdateAgentConfig(r.Context(), p)
	if postgres.IsNotFound(err) {
		// No row matched id and version: gone, or someone else won.
		a.staleOrGone(w, r, func(ctx context.Context) (int32, error) {
			ag, err := a.repo.GetAgent(ctx, id)
			return ag.Version, err
		})
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ag)
}

// staleOrGone answers a guarded update that matched no row: 404 when the row
// is gone, else 409 with its current version.
func (a *api) staleOrGone(w http.ResponseWriter, r *http.Request, current func(ctx context.Context) (int32, error)) {
	v, err := current(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	conflict(w, r, v)
}

type stepInput struct {
	Name      string          `json:"name"`
	AgentID   *uuid.UUID      `json:"agent_id"`
	ToolID    *uuid.UUID      `json:"tool_id"`
	TimeoutMs *int32          `json:"timeout_ms"`
	Config    json.RawMessage `json:"config"`
}

type workflowOutput struct {
	db.Workflow
	Steps []db.WorkflowStep `json:"steps"`
}

// createWorkflow inserts a workflow and its steps in one transaction
// (Transactional): a step the database refuses (unknown agent, timeout out
// of range) rolls back the workflow and every step before it.
func (a *api) createWorkflow(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		OwnerID     uuid.UUID       `json:"owner_id"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Definition  json.RawMessage `json:"definition"`
		Steps       []stepInput     `json:"steps"`
	}
	if !decode(w, r, &in) {
		return nil // answered 400: rolled back
	}
	def, err := object("definition", in.Definition)
	if err != nil {
		badRequest(w, r, "%v", err)
		return nil
	}
	ctx := r.Context()
	tx := httpmw.Repo[*db.Repository](ctx)
	wf, err := tx.CreateWorkflow(ctx, db.CreateWorkflowParams{OwnerID: in.OwnerID, Name: in.Name, Description: in.Description, Definition: def})
	if err != nil {
		return err
	}
	out := workflowOutput{Workflow: wf, Steps: []db.WorkflowStep{}}
	for i, s := range in.Steps {
		cfg, err := object(fmt.Sprintf("steps[%d].config", i), s.Config)
		if err != nil {
			badRequest(w, r, "%v", err)
			return nil
		}
		timeout := int32(60_000)
		if s.TimeoutMs != nil {
			timeout = *s.TimeoutMs
		}
		step, err := tx.AddWorkflowStep(ctx, db.AddWorkflowStepParams{WorkflowID: wf.ID, Position: int32(i), Name: s.Name,
			AgentID: s.AgentID, ToolID: s.ToolID, Config: cfg, TimeoutMs: timeout})
		if err != nil {
			return fmt.Errorf("steps[%d]: %w", i, err) // 422 for a refused value, everything rolled back
		}
		out.Steps = append(out.Steps, step)
	}
	writeJSON(w, http.StatusCreated, out) // buffered: sent after COMMIT
	return nil
}

func (a *api) getWorkflow(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	wf, err := a.repo.GetWorkflow(ctx, id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	steps, err := a.repo.GetWorkflowWithSteps(ctx, id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		db.Workflow
		Steps []db.GetWorkflowWithStepsRow `json:"steps"`
	}{wf, append([]db.GetWorkflowWithStepsRow{}, steps...)})
}

func (a *api) createTask(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title           string          `json:"title"`
		Description     string          `json:"description"`
		Priority        *int16          `json:"priority"`
		AssigneeAgentID *uuid.UUID      `json:"assignee_agent_id"`
		ParentTaskID    *uuid.UUID      `json:"parent_task_id"`
		WorkflowID      *uuid.UUID      `json:"workflow_id"`
		CreatedBy       *uuid.UUID      `json:"created_by"`
		Metadata        json.RawMessage `json:"metadata"`
	}
	if !decode(w, r, &in) {
		return
	}
	meta, err := object("metadata", in.Metadata)
	if err != nil {
		badRequest(w, r, "%v", err)
		return
	}
	prio := int16(2)
	if in.Priority != nil {
		prio = *in.Priority
	}
	t, err := a.repo.CreateTask(r.Context(), db.CreateTaskParams{Title: in.Title, Description: in.Description, Priority: prio,
		AssigneeAgentID: in.AssigneeAgentID, ParentTaskID: in.ParentTaskID, WorkflowID: in.WorkflowID, CreatedBy: in.CreatedBy, Metadata: meta})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

// transitionTask moves a task to a new status if it still has the version
// the client read, then publishes a TaskStatusChanged event (after the
// write committed; a Redis outage loses the event, never the write).
func (a *api) transitionTask(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in struct {
		Status  db.TaskStatus `json:"status"`
		Version *int32        `json:"version"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Version == nil {
		badRequest(w, r, "version: required (the version you read)")
		return
	}
	if !slices.Contains(taskStatuses, in.Status) {
		badRequest(w, r, "status: must be one of %v", taskStatuses)
		return
	}
	ctx := r.Context()
	before, err := a.repo.GetTask(ctx, id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	n, err := a.repo.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: id, Status: in.Status, Version: *in.Version})
	if err != nil {
		writeError(w, r, err)
		return
	}
	if n == 0 {
		a.staleOrGone(w, r, func(ctx context.Context) (int32, error) {
			t, err := a.repo.GetTask(ctx, id)
			return t.Version, err
		})
		return
	}
	// The version matched, so before.Status is the status it had unless the
	// cached read was older than the version the client sent.
	from := string(before.Status)
	if before.Version != *in.Version {
		from = ""
	}
	ev := events.TaskStatusChanged{TaskID: id, From: from, To: string(in.Status), Version: *in.Version + 1}
	if err := events.PublishTaskStatusChanged(ctx, a.bus, ev); err != nil {
		a.log.WarnContext(ctx, "agentsvc: task status event not published (the change stands)", "task_id", id.String(), "err", err.Error())
	}
	t, err := a.repo.GetTask(ctx, id) // the write invalidated the cached row
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// taskEvents streams one task's status changes (404 for an unknown task).
func (a *api) taskEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if _, err := a.repo.GetTask(r.Context(), id); err != nil {
		writeError(w, r, err)
		return
	}
	events.SSEHandler(a.bus, events.TaskStatusTopic(id), events.SSEConfig[events.TaskStatusChanged]{Event: "task.status"}).ServeHTTP(w, r)
}

// createExecution records an execution of an agent or a workflow and, with
// "start": true, starts it, in one transaction: the execution is never seen
// created but not started.
func (a *api) createExecution(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		AgentID     *uuid.UUID      `json:"agent_id"`
		WorkflowID  *uuid.UUID      `json:"workflow_id"`
		TriggeredBy *uuid.UUID      `json:"triggered_by"`
		Input       json.RawMessage `json:"input"`
		Start       bool            `json:"start"`
	}
	if !decode(w, r, &in) {
		return nil
	}
	p := db.CreateExecutionParams{AgentID: in.AgentID, WorkflowID: in.WorkflowID, TriggeredBy: in.TriggeredBy}
	switch {
	case in.AgentID != nil && in.WorkflowID != nil:
		badRequest(w, r, "give agent_id or workflow_id, not both")
		return nil
	case in.AgentID != nil:
		p.SubjectKind = db.ExecutionSubjectAgent
	case in.WorkflowID != nil:
		p.SubjectKind = db.ExecutionSubjectWorkflow
	default:
		badRequest(w, r, "agent_id or workflow_id: required")
		return nil
	}
	var err error
	if p.Input, err = object("input", in.Input); err != nil {
		badRequest(w, r, "%v", err)
		return nil
	}
	ctx := r.Context()
	tx := httpmw.Repo[*db.Repository](ctx)
	ex, err := tx.CreateExecution(ctx, p)
	if err != nil {
		return err
	}
	if in.Start {
		n, err := tx.StartExecution(ctx, db.StartExecutionParams{ID: ex.ID, Version: ex.Version})
		if err != nil {
			return err
		}
		if n != 1 {
			return errors.New("agentsvc: new execution did not start")
		}
		if ex, err = tx.GetExecution(ctx, ex.ID); err != nil { // in the transaction: not cached
			return err
		}
	}
	writeJSON(w, http.StatusCreated, ex)
	return nil
}
