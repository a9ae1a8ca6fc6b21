// Package bench holds the side-by-side benchmarks of the data layer: raw sqlc
// calls, the generated repository on a miss, a Redis hit with the
// client-side tier off, a client-side hit, and the peer
// github.com/go-redis/cache/v9 with its local TinyLFU tier, for a
// primary-key read (GetAgent) and an aggregate (CountTasksByStatusPerAgent),
// plus a mixed read/write workload (32 goroutines, 90% zipf reads over 10k
// agents, 10% version-guarded writes) that counts stale reads: reads that
// return a version older than one whose write had already completed. Mixed
// runs raw sqlc, one repository (stale reads fail the benchmark), and two
// repositories on one Redis with and without Strict (cross-instance stale
// reads of the non-strict pair are the documented push window: reported,
// not failed).
//
// The package has no API; everything lives in its _test files. The
// benchmarks run against the servers of package testinfra:
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 1s -count 3
//
// Without -bench only fast unit tests of the helpers run.
package bench
