-- name: SelectTextArray :many
SELECT $1::TEXT[];
