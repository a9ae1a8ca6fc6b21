-- name: Any :one
SELECT v FROM t WHERE id = $1;

-- name: True :one
SELECT v FROM t WHERE id = $1;

-- name: False :one
SELECT v FROM t WHERE id = $1;

-- name: Len :one
SELECT v FROM t WHERE id = $1;

-- name: Cap :one
SELECT v FROM t WHERE id = $1;

-- name: Make :one
SELECT v FROM t WHERE id = $1;

-- name: New :one
SELECT v FROM t WHERE id = $1;

-- name: Append :one
SELECT v FROM t WHERE id = $1;

-- name: Copy :one
SELECT v FROM t WHERE id = $1;

-- name: Delete :one
SELECT v FROM t WHERE id = $1;

-- name: Clear :one
SELECT v FROM t WHERE id = $1;

-- name: Min :one
SELECT v FROM t WHERE id = $1;

-- name: Max :one
SELECT v FROM t WHERE id = $1;

-- name: Panic :one
SELECT v FROM t WHERE id = $1;

-- name: Recover :one
SELECT v FROM t WHERE id = $1;

-- name: Print :one
SELECT v FROM t WHERE id = $1;

-- name: Println :one
SELECT v FROM t WHERE id = $1;

-- name: Close :one
SELECT v FROM t WHERE id = $1;

-- name: Complex :one
SELECT v FROM t WHERE id = $1;

-- name: Real :one
SELECT v FROM t WHERE id = $1;

-- name: Imag :one
SELECT v FROM t WHERE id = $1;

-- name: Iota :one
SELECT v FROM t WHERE id = $1;

-- name: Bool :one
SELECT v FROM t WHERE id = $1;

-- name: Byte :one
SELECT v FROM t WHERE id = $1;

-- name: Rune :one
SELECT v FROM t WHERE id = $1;

-- name: Uint8 :one
SELECT v FROM t WHERE id = $1;

-- name: Float64 :one
SELECT v FROM t WHERE id = $1;

-- name: Uintptr :one
SELECT v FROM t WHERE id = $1;

-- name: Comparable :one
SELECT v FROM t WHERE id = $1;

-- name: Repo :one
SELECT v FROM t WHERE id = $1;

-- name: Dlpg :one
SELECT v FROM t WHERE id = $1;

-- name: Time :one
SELECT v FROM t WHERE id = $1;

-- name: Method :one
SELECT v FROM t WHERE id = $1;

-- name: Methods :one
SELECT v FROM t WHERE id = $1;

-- name: Set :execrows
UPDATE t SET v = $2 WHERE id = $1;

-- name: Add :exec
INSERT INTO t (id, v) VALUES ($1, $2);
