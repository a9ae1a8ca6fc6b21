-- name: TextArray :many
SELECT * FROM bar;
