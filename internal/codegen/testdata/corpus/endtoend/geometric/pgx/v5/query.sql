-- name: SelectTest :many
SELECT *
from test_table;
