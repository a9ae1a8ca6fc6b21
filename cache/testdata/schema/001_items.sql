-- A minimal schema for the cache's integration tests.
CREATE TABLE items (
    id    bigint PRIMARY KEY,
    name  text   NOT NULL,
    price numeric(12, 2) NOT NULL DEFAULT 0
);
