package stores

import (
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// stdlibDB is a database/sql handle on the pool; closing it leaves the pool
// open.
func stdlibDB(pool *pgxpool.Pool) *sql.DB { return stdlib.OpenDBFromPool(pool) }
