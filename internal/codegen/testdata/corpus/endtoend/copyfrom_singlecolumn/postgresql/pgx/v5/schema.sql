CREATE TABLE authors (
    author_id SERIAL PRIMARY KEY
);

