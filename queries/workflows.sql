-- name: CreateWorkflow :one
INSERT INTO workflows (owner_id, name, description, definition)
VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: GetWorkflow :one
-- @cache ttl=5m
SELECT * FROM workflows WHERE id = $1;

-- name: ListWorkflowsByOwner :many
-- @cache ttl=1m
SELECT * FROM workflows WHERE owner_id = $1 AND status <> 'archived' ORDER BY name;

-- name: AddWorkflowStep :one
INSERT INTO workflow_steps (workflow_id, position, name, agent_id, tool_id, config, timeout_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetWorkflowWithSteps :many
-- @cache ttl=1m
-- A workflow and its ordered steps with the agent and tool names resolved.
SELECT w.id AS workflow_id, w.name AS workflow_name, w.status AS workflow_status,
       s.id AS step_id, s.position, s.name AS step_name,
       a.name AS agent_name, t.name AS tool_name, s.timeout_ms
FROM workflows w
JOIN workflow_steps s ON s.workflow_id = w.id
LEFT JOIN agents a ON a.id = s.agent_id
LEFT JOIN tools t ON t.id = s.tool_id
WHERE w.id = $1
ORDER BY s.position;

-- name: AddStepDependency :exec
INSERT INTO workflow_step_dependencies (step_id, depends_on_step_id)
VALUES ($1, $2)
ON CONFLICT DO NOTHING;

-- name: ListStepDependencies :many
SELECT d.step_id, d.depends_on_step_id
FROM workflow_step_dependencies d
JOIN workflow_steps s ON s.id = d.step_id
WHERE s.workflow_id = $1
ORDER BY d.step_id, d.depends_on_step_id;

-- name: UpdateWorkflowStatus :execrows
UPDATE workflows
SET status = sqlc.arg(status), version = version + 1, updated_at = now()
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version);

-- name: DeleteWorkflow :execrows
DELETE FROM workflows WHERE id = $1;
