// Package telemetry exports the data layer's behaviour as OpenTelemetry
// traces and metrics: query spans and metrics through otelpgx (composed with
// postgres.Tracer in one pgx tracer), per-method latency histograms and call
// counts (repo.MethodObserver), cache lookups, fills, invalidations and their
// lag (cache.Observer), circuit-breaker states and transitions, retries, and
// connection-pool statistics as gauges. It records into the MeterProvider and
// TracerProvider it is given; exporting (Prometheus, OTLP) is the service's
// choice.
package telemetry
