-- name: Test :one
SELECT 1;
