CREATE TABLE authors (
    id bigserial,
    name text NOT NULL,
    bio text,
    PRIMARY KEY (id)
);

