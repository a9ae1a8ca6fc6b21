// Package debugpage serves /debug/datalayer: one self-contained HTML page
// (inline CSS and JavaScript, no external assets) with the data layer's live
// state — per-method calls, cache hit ratio, p50/p99 latency and errors,
// recent slow queries, circuit-breaker states, connection-pool usage and
// pending cache invalidations — refreshing itself every few seconds, plus
// the same data as JSON (?format=json). Mount it behind the service's admin
// authentication: it names queries and request IDs.
package debugpage
