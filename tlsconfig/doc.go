// Package tlsconfig builds client TLS configurations for the stores
// (PostgreSQL, Redis, SurrealDB) from PEM files named in configuration: a
// private CA to trust, a client certificate and key, and the server name to
// verify. Client certificates are re-read on every handshake, so a rotated
// certificate is used by the next connection without a restart.
package tlsconfig
