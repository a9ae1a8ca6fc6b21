// Package stores opens every store a datalayer service uses from one
// config.Config: the PostgreSQL pool, the Redis cache, the resilience
// policies, the repository runtime and, when configured, SurrealDB; it
// waits for stores that are still starting, applies migrations, serves
// health checks and closes everything in order.
package stores
