-- name: GetDoc :one
SELECT * FROM docs WHERE id = ?;
