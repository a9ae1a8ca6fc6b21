-- +goose Up
CREATE TABLE authors (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE drafts (id bigserial PRIMARY KEY, body text NOT NULL);
CREATE TABLE scratch (id int PRIMARY KEY);

-- +goose Down
DROP TABLE scratch;
DROP TABLE drafts;
DROP TABLE authors;
