-- name: ListPaths :many
SELECT * FROM foo.paths;
