-- name: ListBar :many
SELECT * FROM foo.bar;

-- name: ListBat :many
SELECT * FROM foo.bat;
