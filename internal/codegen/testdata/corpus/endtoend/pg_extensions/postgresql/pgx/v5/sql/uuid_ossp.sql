-- name: GenerateUUID :one
SELECT uuid_generate_v4();
