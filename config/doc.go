// Package config loads a datalayer service's configuration from
// environment variables, with defaults chosen by the APP_ENV profile.
//
// The loader never reads the process environment itself: cmd/ passes it in.
//
//	cfg, err := config.Load(os.Environ())
//	if err != nil {
//		return err // every problem, one per line: "config: DB_POOL_SIZE: must be between 1 and 1000, got \"0\""
//	}
//	dl, err := datalayer.Open(ctx, cfg) // or stores.Open for another schema
//
// Each problem is a *Error naming the variable; Errors lists them all. A
// Config prints, logs (slog) and marshals (encoding/json) with every
// password redacted, and no error quotes one.
//
// # Variables
//
// An empty variable counts as unset. Durations use Go syntax ("500ms",
// "30s", "1h30m"); the variables marked (s) also take a whole number of
// seconds ("30"), as the original services' settings did. Other durations
// need a unit, because a bare "500" is as often meant as milliseconds.
// Booleans take 1, t, T, true, TRUE, True and 0, f, F, false, FALSE, False.
//
//	| Variable                  | development                                                  | production                | Accepted values                                  |
//	|---------------------------|--------------------------------------------------------------|---------------------------|--------------------------------------------------|
//	| APP_ENV                   | development                                                  |                           | development, production                          |
//	| DATABASE_URL              | postgres://postgres@localhost:5432/agentical?sslmode=disable | required                  | postgres:// or postgresql:// URL                 |
//	| DB_POOL_SIZE              | 10                                                           | 25                        | 1-1000 connections                               |
//	| DB_MAX_OVERFLOW           | 0                                                            | 10                        | 0-1000 connections beyond DB_POOL_SIZE           |
//	| DB_MIN_CONNS              | 0                                                            | 2 (at most DB_POOL_SIZE)  | 0-1000, at most DB_POOL_SIZE                     |
//	| DB_POOL_TIMEOUT (s)       | 30s                                                          | 10s                       | 1ms-10m; wait for a free pooled connection       |
//	| DB_MAX_CONN_LIFETIME (s)  | 1h                                                           | 1h                        | 1s-24h                                           |
//	| DB_CONNECT_TIMEOUT        | 5s                                                           | 5s                        | 1ms-5m                                           |
//	| DB_STATEMENT_TIMEOUT      | 0 (server setting)                                           | 0 (server setting)        | 0-24h                                            |
//	| DB_APPLICATION_NAME       | datalayer                                                    | datalayer                 | at most 63 bytes                                 |
//	| SLOW_QUERY_THRESHOLD      | 500ms                                                        | 100ms                     | 1ms-1m                                           |
//	| LOG_QUERY_ARGS            | false                                                        | false                     | boolean; logs argument values of slow queries    |
//	| AUTO_MIGRATE              | true                                                         | false                     | boolean; apply migrations at start-up            |
//	| DB_PASSWORD_FILE          | unset                                                        | unset                     | readable file; password, re-read per connection  |
//	| DB_TLS_CA_FILE            | unset (no TLS unless the URL asks)                           | unset                     | readable PEM file; turns TLS on, verified        |
//	| DB_TLS_CERT_FILE          | unset                                                        | unset                     | readable PEM file; with DB_TLS_KEY_FILE          |
//	| DB_TLS_KEY_FILE           | unset                                                        | unset                     | readable PEM file; with DB_TLS_CERT_FILE         |
//	| DB_TLS_SERVER_NAME        | the URL's host                                               | the URL's host            | host name or IP address in the certificate       |
//	| REDIS_URL                 | redis://localhost:6379/0                                     | redis://localhost:6379/0  | redis:// or rediss:// URL with host, path /N     |
//	| REDIS_MAX_CONNECTIONS     | 10                                                           | 100                       | 1-10000                                          |
//	| REDIS_DEFAULT_TTL (s)     | 5m                                                           | 1h                        | 1s-720h                                          |
//	| REDIS_CLIENT_CACHE        | true                                                         | true                      | boolean; RESP3 client-side caching               |
//	| REDIS_PASSWORD_FILE       | unset                                                        | unset                     | readable file; ACL password, re-read per connect |
//	| REDIS_CACHE_SECRET_FILE   | unset (built-in key)                                         | unset (built-in key)      | readable file, >= 16 bytes; HMAC key for values  |
//	| REDIS_TLS_CA_FILE         | unset (system CAs)                                           | unset (system CAs)        | readable PEM file; needs rediss://               |
//	| REDIS_TLS_CERT_FILE       | unset                                                        | unset                     | readable PEM file; with REDIS_TLS_KEY_FILE       |
//	| REDIS_TLS_KEY_FILE        | unset                                                        | unset                     | readable PEM file; with REDIS_TLS_CERT_FILE      |
//	| REDIS_TLS_SERVER_NAME     | the URL's host                                               | the URL's host            | host name or IP address; needs rediss://         |
//	| SURREALDB_URL             | unset (store off)                                            | unset (store off)         | ws://, wss://, http:// or https:// URL with host |
//	| SURREALDB_USERNAME        | root                                                         | unset; required with URL  | any; required when a password is set             |
//	| SURREALDB_PASSWORD        | unset                                                        | unset; required with URL  | any                                              |
//	| SURREALDB_NAMESPACE       | agentical                                                    | agentical                 | any                                              |
//	| SURREALDB_DATABASE        | main                                                         | main                      | any                                              |
//	| SURREALDB_PASSWORD_FILE   | unset                                                        | unset                     | readable file; wins over SURREALDB_PASSWORD      |
//	| SURREALDB_TLS_CA_FILE     | unset (system CAs)                                           | unset (system CAs)        | readable PEM file; needs wss:// or https://      |
//	| SURREALDB_TLS_CERT_FILE   | unset                                                        | unset                     | readable PEM file; with SURREALDB_TLS_KEY_FILE   |
//	| SURREALDB_TLS_KEY_FILE    | unset                                                        | unset                     | readable PEM file; with SURREALDB_TLS_CERT_FILE  |
//	| SURREALDB_TLS_SERVER_NAME | the URL's host                                               | the URL's host            | host name or IP; needs wss:// or https://        |
//	| CIRCUIT_BREAKER_ENABLED   | false                                                        | true                      | boolean                                          |
//	| CIRCUIT_BREAKER_THRESHOLD | 5                                                            | 5                         | 1-1000 consecutive failures to open              |
//	| MAX_RETRY_ATTEMPTS        | 3                                                            | 3                         | 0-10 retries after the first attempt             |
//
// Pool sizing follows SQLAlchemy's pool_size/max_overflow: pgxpool's
// MaxConns is DB_POOL_SIZE + DB_MAX_OVERFLOW and its MinConns is
// DB_MIN_CONNS. pgxpool has no separate overflow tier: connections above
// MinConns that stay idle for 30 minutes are closed. DB_POOL_TIMEOUT bounds
// the wait for a free connection (package stores applies it to every
// acquire; pgxpool itself has no such setting).
//
// In production, DB_MIN_CONNS's default is lowered to DB_POOL_SIZE when the
// pool is smaller than 2. Connection strings must be URLs (not key=value
// form) so their scheme can be checked; pgx checks the rest when the pool is
// built. Special characters in user names and passwords must be
// percent-encoded.
//
// Password files hold the password on their first line and are read again
// for every new connection: rotate by changing the password on the server
// (PostgreSQL: ALTER ROLE; Redis: ACL SETUSER, which can hold the old and the
// new password during the switch) and then rewriting the file. TLS
// certificates are always verified; *_TLS_CA_FILE names a private CA
// instead of the system's.
package config
