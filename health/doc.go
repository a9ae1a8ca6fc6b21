// Package health answers liveness and readiness probes for a datalayer
// service: per store (postgres, redis, surrealdb) a state (up, degraded,
// down), the check's latency, breaker state, pool statistics, pending
// invalidations and the migration version, as JSON. Checks are bounded by
// a timeout and their results reused for about a second, so probe storms
// do not reach the databases.
//
// States:
//
//	| state    | meaning                                                                      | readiness      |
//	|----------|------------------------------------------------------------------------------|----------------|
//	| up       | the store answered and nothing is wrong                                      | 200            |
//	| degraded | it answered, but its breaker is not closed, invalidations are pending, the   | 200            |
//	|          | pool is exhausted or migrations differ from the code's; or a non-critical    |                |
//	|          | store (redis, surrealdb) is down: the service works without it (the cache    |                |
//	|          | fails open)                                                                  |                |
//	| down     | the store did not answer within the timeout                                  | 503 if critical |
//
// PostgreSQL is the only critical store: when it is down the service is not
// ready (503). The overall state is the worst of the stores' states, with
// a non-critical store's down counting as degraded.
package health
