-- +goose Up
ALTER TABLE authors RENAME TO writers;
ALTER TABLE writers RENAME COLUMN name TO full_name;
CREATE SCHEMA archive;
ALTER TABLE drafts SET SCHEMA archive;
DROP TABLE scratch;
CREATE TABLE scratch (key text PRIMARY KEY, note text);

-- +goose Down
ALTER TABLE writers RENAME COLUMN full_name TO name;
ALTER TABLE writers RENAME TO authors;
