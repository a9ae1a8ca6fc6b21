-- name: CreateExecution :one
INSERT INTO executions (subject_kind, agent_id, workflow_id, playbook_id, triggered_by, input)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetExecution :one
-- @cache ttl=30s
SELECT * FROM executions WHERE id = $1;

-- name: StartExecution :execrows
UPDATE executions SET status = 'running', started_at = now(), version = version + 1
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version) AND status = 'pending';

-- name: FinishExecution :execrows
UPDATE executions
SET status = sqlc.arg(status), output = sqlc.arg(output), error = sqlc.narg(error),
    finished_at = now(), version = version + 1
WHERE id = sqlc.arg(id) AND version = sqlc.arg(version) AND status = 'running';

-- name: ListExecutionsByAgent :many
-- Newest first; keyset on (created_at, id) descending.
SELECT * FROM executions
WHERE agent_id = sqlc.arg(agent_id)
  AND (created_at, id) < (sqlc.arg(before_created_at)::timestamptz, sqlc.arg(before_id)::uuid)
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(page_size);

-- name: ListActiveExecutions :many
SELECT * FROM executions WHERE status IN ('pending', 'running') ORDER BY created_at LIMIT $1;

-- name: InsertExecutionEvents :copyfrom
INSERT INTO execution_events (execution_id, seq, kind, payload, created_at)
VALUES ($1, $2, $3, $4, $5);

-- name: AppendExecutionEvent :one
-- Appends one event with the next sequence number of its execution.
INSERT INTO execution_events (execution_id, seq, kind, payload)
SELECT sqlc.arg(execution_id), coalesce(max(seq) + 1, 0), sqlc.arg(kind), sqlc.arg(payload)
FROM execution_events WHERE execution_id = sqlc.arg(execution_id)
RETURNING *;

-- name: ListExecutionEvents :many
SELECT * FROM execution_events
WHERE execution_id = $1 AND seq > $2
ORDER BY seq
LIMIT $3;

-- name: CountExecutionEvents :one
-- @cache ttl=10s
SELECT count(*) FROM execution_events WHERE execution_id = $1;

-- name: ExecutionStatsByAgent :many
-- @cache ttl=1m
-- Run statistics per agent over a half-open time window [from, to).
SELECT agent_id,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status IN ('failed', 'timed_out')) AS failed,
       coalesce(avg(extract(epoch FROM finished_at - started_at) * 1000), 0)::float8 AS avg_duration_ms,
       coalesce(max(extract(epoch FROM finished_at - started_at) * 1000), 0)::float8 AS max_duration_ms
FROM executions
WHERE agent_id IS NOT NULL
  AND created_at >= sqlc.arg(window_from)::timestamptz
  AND created_at < sqlc.arg(window_to)::timestamptz
GROUP BY agent_id
ORDER BY runs DESC, agent_id;

-- name: DeleteExecutionsBefore :execrows
-- Retention: removes finished runs (and, by cascade, their events).
DELETE FROM executions
WHERE created_at < sqlc.arg(cutoff)::timestamptz AND status NOT IN ('pending', 'running');
