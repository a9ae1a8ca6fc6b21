-- name: InsertAuditLog :one
INSERT INTO audit_log (actor_user_id, action, entity_type, entity_id, details)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, created_at;

-- name: ListAuditLogForEntity :many
-- Newest first; pass the smallest id seen so far (or the max bigint) as before_id.
SELECT * FROM audit_log
WHERE entity_type = sqlc.arg(entity_type) AND entity_id = sqlc.arg(entity_id) AND id < sqlc.arg(before_id)
ORDER BY id DESC
LIMIT sqlc.arg(page_size);
