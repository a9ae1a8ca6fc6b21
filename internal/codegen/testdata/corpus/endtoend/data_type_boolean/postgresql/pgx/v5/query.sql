-- name: ListFoo :many
SELECT * FROM foo;

-- name: ListBar :many
SELECT * FROM bar;
