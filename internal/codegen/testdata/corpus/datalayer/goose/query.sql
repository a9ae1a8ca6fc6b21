-- name: GetWriter :one
SELECT id, full_name FROM writers WHERE id = $1;

-- name: RenameWriter :exec
UPDATE writers SET full_name = $2 WHERE id = $1;

-- name: ArchivedDraft :one
SELECT * FROM archive.drafts WHERE id = $1;

-- name: Note :one
SELECT note FROM scratch WHERE key = $1;
