CREATE TABLE authors (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    country    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE books (
    isbn       text PRIMARY KEY,
    author_id  bigint NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    title      text NOT NULL,
    price      numeric(10, 2) NOT NULL CHECK (price >= 0),
    published  date,
    UNIQUE (author_id, title)
);

CREATE TABLE reviews (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    isbn    text NOT NULL REFERENCES books (isbn) ON DELETE CASCADE ON UPDATE CASCADE,
    stars   smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    body    text NOT NULL DEFAULT ''
);
