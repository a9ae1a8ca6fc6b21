// Package bench holds the side-by-side benchmarks of the data layer: raw sqlc
// calls, the generated repository on a miss, a Redis hit with the
// client-side tier off, a client-side hit, and the peer
// github.com/go-redis/cache/v9 with its local TinyLFU tier, for a
// primary-key read (GetAgent) and an aggregate (CountTasksByStatusPerAgent),
// plus a mixed read/write workload that counts stale reads.
//
// The package has no API; everything lives in its _test files. The
// benchmarks run against the servers of package testinfra:
//
//	go test ./internal/bench -run '^$' -bench . -benchtime 2s
//
// Without -bench only fast unit tests of the helpers run.
package bench
