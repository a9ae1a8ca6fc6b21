-- name: LimitMe :many
SELECT bar FROM foo LIMIT $1;
