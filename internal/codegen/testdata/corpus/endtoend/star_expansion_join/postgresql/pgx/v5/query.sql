-- name: StarExpansionJoin :many
SELECT * FROM foo, bar;
