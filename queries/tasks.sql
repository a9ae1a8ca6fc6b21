-- name: CreateTask :one
INSERT INTO tasks (title, description, priority, assignee_agent_id, parent_task_id, workflow_id, created_by, metadata, due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: GetTask :one
-- @cache ttl=2m negative=10s
SELECT * FROM tasks WHERE id = $1;

-- name: ListTasksByAssignee :many
-- Optional status filter; keyset pagination by (priority DESC, id).
SELECT * FROM tasks
WHERE assignee_agent_id = sqlc.arg(agent_id)
  AND (sqlc.narg(status)::task_status IS NULL OR status = sqlc.narg(status)::task_status)
  AND (priority < sqlc.arg(after_priority)::smallint
       OR (priority = sqlc.arg(after_priority)::smallint AND id > sqlc.arg(after_id)::uuid))
ORDER BY priority DESC, id
LIMIT sqlc.arg(page_size);

-- name: ListSubtasks :many
-- @cache ttl=1m
SELECT * FROM tasks WHERE parent_task_id = $1 ORDER BY created_at, id;

-- name: TransitionTaskStatus :execrows
-- Moves a task to a new status if nobody changed it since it was read,
-- stamping started_at / completed_at on the way (reopening a finished task
-- clears completed_at).
UPDATE tasks
SET status = sqlc.arg(status)::task_status,
    started_at = CASE WHEN sqlc.arg(status)::task_status = 'running' AND started_at IS NULL THEN now() ELSE started_at END,
    completed_at = CASE WHEN sqlc.arg(status)::task_status IN ('completed', 'failed', 'cancelled') THEN now() END,
    version = version + 1,
    updated_at = now()
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version);

-- name: AssignTask :execrows
UPDATE tasks SET assignee_agent_id = $2, version = version + 1, updated_at = now()
WHERE id = $1;

-- name: BumpTaskPriority :batchexec
UPDATE tasks SET priority = LEAST(priority + 1, 4), version = version + 1, updated_at = now()
WHERE id = $1;

-- name: CountTasksByStatusPerAgent :many
-- @cache ttl=30s
-- Task counts per agent and status for one owner's agents.
SELECT a.id AS agent_id, a.name AS agent_name, t.status, count(*) AS task_count
FROM agents a
JOIN tasks t ON t.assignee_agent_id = a.id
WHERE a.owner_id = $1
GROUP BY a.id, a.name, t.status
ORDER BY a.name, t.status;

-- name: ListOverdueTasks :many
-- Uses now(): must never be cached.
SELECT * FROM tasks
WHERE due_at < now() AND status IN ('pending', 'queued', 'running', 'blocked')
ORDER BY due_at
LIMIT $1;

-- name: SearchTasksByMetadata :many
SELECT * FROM tasks WHERE metadata @> sqlc.arg(filter)::jsonb ORDER BY created_at, id LIMIT sqlc.arg(page_size);

-- name: DeleteTask :execrows
DELETE FROM tasks WHERE id = $1;
