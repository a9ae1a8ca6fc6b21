-- name: UserByEmail :one
SELECT id, email, nick FROM users WHERE email = $1;

-- name: SetNick :exec
UPDATE users SET nick = $2 WHERE id = $1;
