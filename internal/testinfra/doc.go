// Package testinfra gives integration tests real PostgreSQL and Redis servers.
//
// A package opts in with
//
//	func TestMain(m *testing.M) { testinfra.Main(m) }
//
// and then calls Postgres(t) for a fresh database cloned from a template that
// holds the schema, Redis(t) for a key prefix of its own on a shared server,
// or PrivateRedis(t) for a server it may stop and start.
//
// Servers are started lazily, once per test binary, and stopped by Main.
// Each comes from the first of: TEST_DATABASE_URL / TEST_REDIS_URL (a server
// shared with other test binaries; the database URL must be able to create
// databases), Docker via testcontainers when the Docker endpoint answers a
// bounded probe (TEST_DOCKER=0 skips it), and local binaries through package
// devserver. When none works the test fails with a message that says what to
// install; it never skips.
//
// The template of a schema directory is named after a hash of its *.sql
// files, built under a private name and renamed into place, so test binaries
// sharing one server build each schema at most once and never see a
// half-built template. Per-test databases and Redis prefixes carry a random
// suffix and are removed when the test ends. On a shared server, templates
// stay between runs (a schema change makes a new one), and databases of a
// test binary that was killed are not collected.
package testinfra
