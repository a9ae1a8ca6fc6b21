// Package migrations embeds the versioned migration files and atlas.sum so
// services can apply them at startup with migrate.Auto.
package migrations

import "embed"

// FS holds the *.sql migration files and atlas.sum at its root.
//
//go:embed *.sql atlas.sum
var FS embed.FS
