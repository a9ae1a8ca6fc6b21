-- name: ListBar :many
SELECT * FROM bar;
