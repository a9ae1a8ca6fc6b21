-- name: SomeQuery :many
select id from "computed_tables"."something";
