// Package faults is the fault suite: a mixed workload through the generated
// repository (PostgreSQL + Redis cache, two service instances with their own
// caches) and the SurrealDB store while in-process toxiproxy proxies,
// kills/restarts of the real servers, a Redis restart from an older snapshot
// and FLUSHALL inject faults. Per fault it reports failed requests by class,
// p99 latency during the fault, time to recover, acknowledged writes lost,
// duplicate writes and stale reads after recovery. `go test` runs a short
// version; `make faults` (FAULTS_LONG=1) the long one. The package holds only
// tests.
package faults
