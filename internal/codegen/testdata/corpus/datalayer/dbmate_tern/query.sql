-- name: Item :one
SELECT id, title FROM items WHERE id = $1;

-- name: AddItem :one
INSERT INTO items (title) VALUES ($1) RETURNING id;
