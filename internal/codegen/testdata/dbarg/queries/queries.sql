-- name: Any :one
-- @cache ttl=1m
SELECT * FROM items WHERE id = $1;

-- name: Max :many
-- @cache ttl=1m
SELECT * FROM items ORDER BY id;

-- name: AddItem :one
INSERT INTO items (title) VALUES ($1) RETURNING *;

-- name: Retitle :execrows
UPDATE items SET title = $2 WHERE id = $1;

-- name: RetitleMany :batchexec
UPDATE items SET title = $2 WHERE id = $1;

-- name: LoadItems :copyfrom
INSERT INTO items (title) VALUES ($1);
