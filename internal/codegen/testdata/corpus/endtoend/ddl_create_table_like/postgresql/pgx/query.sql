-- name: AllRanked :many
SELECT * FROM changes_ranked;
