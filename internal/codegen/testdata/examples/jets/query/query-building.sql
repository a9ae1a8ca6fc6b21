-- name: CountPilots :one
-- @cache ttl=1m
SELECT COUNT(*) FROM pilots;

-- name: ListPilots :many
-- @cache ttl=1m
SELECT * FROM pilots LIMIT 5;

-- name: DeletePilot :exec
DELETE FROM pilots WHERE id = $1;
