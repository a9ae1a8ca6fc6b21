-- name: DeleteFrom :exec
DELETE FROM foo WHERE id = $1;
