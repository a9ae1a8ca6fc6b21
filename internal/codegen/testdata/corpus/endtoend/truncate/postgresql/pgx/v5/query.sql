-- name: Truncate :exec
TRUNCATE bar;
