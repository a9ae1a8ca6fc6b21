-- name: CreateAgent :one
INSERT INTO agents (owner_id, name, kind, status, description, config)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetAgent :one
-- @cache ttl=5m swr=1m negative=30s
SELECT * FROM agents WHERE id = $1;

-- name: GetAgentByName :one
-- @cache ttl=5m
SELECT * FROM agents WHERE owner_id = $1 AND name = $2;

-- name: ListAgentsByOwner :many
-- @cache ttl=1m
-- Keyset pagination over (created_at, id) within one owner.
SELECT * FROM agents
WHERE owner_id = sqlc.arg(owner_id)
  AND (created_at, id) > (sqlc.arg(after_created_at)::timestamptz, sqlc.arg(after_id)::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg(page_size);

-- name: ListAgentsByStatus :many
-- @cache ttl=30s
SELECT * FROM agents WHERE status = $1 ORDER BY name, id LIMIT $2;

-- name: FindAgentsByConfig :many
-- JSONB containment, served by the agents_config_gin index.
SELECT * FROM agents WHERE config @> sqlc.arg(filter)::jsonb ORDER BY name, id;

-- name: UpdateAgentStatus :execrows
-- Guarded by the version the caller read: 0 rows means someone else won.
UPDATE agents
SET status = sqlc.arg(status), version = version + 1, updated_at = now()
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version);

-- name: UpdateAgentConfig :one
UPDATE agents
SET config = sqlc.arg(config), description = sqlc.arg(description), version = version + 1, updated_at = now()
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version)
RETURNING *;

-- name: DeleteAgent :execrows
DELETE FROM agents WHERE id = $1;

-- name: UpsertTool :one
INSERT INTO tools (name, category, description, input_schema, is_enabled)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (name) DO UPDATE
SET category = EXCLUDED.category,
    description = EXCLUDED.description,
    input_schema = EXCLUDED.input_schema,
    is_enabled = EXCLUDED.is_enabled,
    updated_at = now()
RETURNING *;

-- name: GetTool :one
-- @cache ttl=10m
SELECT * FROM tools WHERE id = $1;

-- name: ListTools :many
-- @cache ttl=1m
SELECT * FROM tools WHERE category = $1 AND is_enabled ORDER BY name;

-- name: DeleteTool :execrows
DELETE FROM tools WHERE id = $1;

-- name: AssignTool :exec
INSERT INTO agent_tools (agent_id, tool_id, config, is_enabled)
VALUES ($1, $2, $3, true)
ON CONFLICT (agent_id, tool_id) DO UPDATE
SET config = EXCLUDED.config, is_enabled = true;

-- name: UnassignTool :execrows
DELETE FROM agent_tools WHERE agent_id = $1 AND tool_id = $2;

-- name: ListAgentTools :many
-- @cache ttl=1m
-- An agent with its enabled tools and their per-agent configuration.
SELECT a.id AS agent_id, a.name AS agent_name, t.id AS tool_id, t.name AS tool_name,
       t.category, at.config AS assignment_config, at.assigned_at
FROM agents a
JOIN agent_tools at ON at.agent_id = a.id
JOIN tools t ON t.id = at.tool_id
WHERE a.id = $1 AND at.is_enabled AND t.is_enabled
ORDER BY t.name;
