-- name: CreateUser :one
INSERT INTO users (email, display_name, role)
VALUES (lower(sqlc.arg(email)::text), sqlc.arg(display_name), sqlc.arg(role))
RETURNING *;

-- name: GetUser :one
-- @cache ttl=5m negative=30s
SELECT * FROM users WHERE id = $1;

-- name: GetUserByEmail :one
-- @cache ttl=5m
SELECT * FROM users WHERE email = lower(sqlc.arg(email)::text);

-- name: ListUsers :many
-- Keyset pagination over (created_at, id); pass the last row of the previous page.
SELECT * FROM users
WHERE (created_at, id) > (sqlc.arg(after_created_at)::timestamptz, sqlc.arg(after_id)::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg(page_size);

-- name: UpdateUserRole :execrows
-- @audit
UPDATE users SET role = sqlc.arg(role), updated_at = now()
WHERE id = sqlc.arg(id);

-- name: DeactivateUser :execrows
UPDATE users SET is_active = false, updated_at = now()
WHERE id = $1 AND is_active;

-- name: DeleteUser :execrows
-- @audit
DELETE FROM users WHERE id = $1;

-- name: CreateAPIKey :one
-- @audit
INSERT INTO api_keys (user_id, name, prefix, key_hash, scopes, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetLiveAPIKeyByPrefix :one
-- Authentication lookup: never cached, it depends on the clock.
SELECT k.*, u.role AS user_role, u.is_active AS user_is_active
FROM api_keys k
JOIN users u ON u.id = k.user_id
WHERE k.prefix = $1
  AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now());

-- name: ListAPIKeysByUser :many
-- @cache ttl=1m
SELECT * FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id;

-- name: TouchAPIKey :exec
UPDATE api_keys SET last_used_at = now() WHERE id = $1;

-- name: RevokeAPIKey :execrows
-- @audit
UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL;
