-- name: Bar :exec
SELECT bar
FROM foo;

-- name: Bars :exec
SELECT bars
FROM foo;
