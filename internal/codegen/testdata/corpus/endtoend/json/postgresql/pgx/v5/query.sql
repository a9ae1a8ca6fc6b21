-- name: SelectFoo :exec
SELECT * FROM foo;
