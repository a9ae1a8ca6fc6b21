-- name: Any :one
SELECT * FROM docs WHERE id = $1;

-- name: Repo :many
-- @sqlc-vet-disable sqlc/db-prepare
SELECT id, title FROM docs
-- @todo paginate (an ordinary comment, not a directive)
ORDER BY id;

-- name: Tables :many
SELECT tablename::text FROM pg_catalog.pg_tables WHERE schemaname = $1;

-- name: Columns :many
SELECT column_name::text FROM information_schema.columns WHERE table_name = $1;

-- name: AddDoc :one
INSERT INTO docs (title, embedding) VALUES ($1, $2) RETURNING id;

-- name: Retitle :batchexec
UPDATE docs SET title = $2 WHERE id = $1;

-- name: LoadDocs :copyfrom
INSERT INTO docs (title) VALUES ($1);

-- name: Nearest :many
SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 5;
