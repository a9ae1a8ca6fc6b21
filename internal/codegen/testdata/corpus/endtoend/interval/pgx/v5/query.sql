-- name: Get :many
SELECT bar, "interval" FROM foo LIMIT $1;
