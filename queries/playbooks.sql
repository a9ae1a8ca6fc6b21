-- name: CreatePlaybook :one
INSERT INTO playbooks (owner_id, name, description, trigger, tags)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetPlaybook :one
-- @cache ttl=5m
SELECT * FROM playbooks WHERE id = $1;

-- name: ListPublishedPlaybooksByTag :many
-- @cache ttl=1m
SELECT * FROM playbooks WHERE status = 'published' AND tags @> ARRAY[sqlc.arg(tag)::text] ORDER BY name;

-- name: AddPlaybookStep :one
INSERT INTO playbook_steps (playbook_id, position, action, tool_id, parameters, on_failure, max_retries)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: ListPlaybookSteps :many
-- @cache ttl=5m
SELECT * FROM playbook_steps WHERE playbook_id = $1 ORDER BY position;

-- name: PublishPlaybook :execrows
UPDATE playbooks SET status = 'published', version = version + 1, updated_at = now()
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version) AND status = 'draft';

-- name: DeletePlaybook :execrows
DELETE FROM playbooks WHERE id = $1;
