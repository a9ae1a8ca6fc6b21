-- name: GetBars :many
SELECT FROM bar LIMIT 5;