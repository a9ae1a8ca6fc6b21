-- name: Test :one
SELECT random(1);
