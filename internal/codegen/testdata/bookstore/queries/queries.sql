-- name: CreateAuthor :one
INSERT INTO authors (name, country) VALUES ($1, $2) RETURNING *;

-- name: GetAuthor :one
-- @cache ttl=1m negative=10s
SELECT * FROM authors WHERE id = $1;

-- name: RenameAuthor :execrows
UPDATE authors SET name = $2 WHERE id = $1;

-- name: DeleteAuthor :exec
DELETE FROM authors WHERE id = $1;

-- name: AddBook :one
INSERT INTO books (isbn, author_id, title, price, published)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- name: GetBook :one
-- @cache ttl=5m
SELECT * FROM books WHERE isbn = $1;

-- name: BooksByAuthor :many
-- @cache ttl=30s
SELECT b.* FROM books b JOIN authors a ON a.id = b.author_id WHERE a.id = $1 ORDER BY b.title;

-- name: SetPrice :execrows
-- @timeout 2s
UPDATE books SET price = $2 WHERE isbn = $1;

-- name: AddReview :one
INSERT INTO reviews (isbn, stars, body) VALUES ($1, $2, $3) RETURNING id;

-- name: AverageStars :one
-- @cache ttl=1m
SELECT coalesce(avg(stars), 0)::float8 AS avg_stars, count(*) AS reviews
FROM reviews WHERE isbn = $1;

-- name: TopRated :many
-- @cache ttl=1m
-- @retry attempts=2
SELECT b.isbn, b.title, avg(r.stars)::float8 AS avg_stars
FROM books b JOIN reviews r ON r.isbn = b.isbn
GROUP BY b.isbn, b.title
HAVING count(*) >= sqlc.arg(min_reviews)::bigint
ORDER BY avg_stars DESC, b.isbn
LIMIT sqlc.arg(page_size);
