package main_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/agentical/datalayer/internal/testinfra"
)

// BenchmarkGetAgentOverHTTP measures GET /agents/{id} through the running
// service (HTTP, middleware, telemetry, repository) side by side with the
// read served by each tier: the in-process client-side cache (default),
// Redis without client-side caching (REDIS_CLIENT_CACHE=false), and
// PostgreSQL on every request (Redis unreachable: the cache fails open), with
// GET /livez (no data layer) as the floor.
func BenchmarkGetAgentOverHTTP(b *testing.B) {
	bin := buildService(b)
	dsn := emptyDatabase(b)
	redis := testinfra.PrivateRedis(b)
	for _, mode := range []struct {
		name string
		env  []string
		path string
	}{
		{"livez", []string{"REDIS_URL=" + redis.URL()}, "/livez"},
		{"client-side-cache", []string{"REDIS_URL=" + redis.URL()}, ""},
		{"redis", []string{"REDIS_URL=" + redis.URL(), "REDIS_CLIENT_CACHE=false"}, ""},
		{"postgres", []string{"REDIS_URL=redis://127.0.0.1:1/0"}, ""},
	} {
		b.Run(mode.name, func(b *testing.B) {
			svc := start(b, bin, append([]string{"DATABASE_URL=" + dsn, "AUTO_MIGRATE=true"}, mode.env...)...)
			path := mode.path
			if path == "" {
				var user, ag struct{ ID string }
				svc.must(b, 201, "POST", "/users", map[string]any{"email": "bench-" + randomHex(4) + "@example.com", "display_name": "Bench"}).json(b, &user)
				svc.must(b, 201, "POST", "/agents", map[string]any{"owner_id": user.ID, "name": "bench"}).json(b, &ag)
				path = "/agents/" + ag.ID
				svc.must(b, 200, "GET", path, nil) // fill
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			url := svc.base + path
			b.ReportAllocs()
			for b.Loop() {
				res, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("GET %s: %d", path, res.StatusCode)
				}
			}
			b.StopTimer()
			if mode.name != "postgres" { // with Redis unreachable Close reports undrained invalidations
				svc.stop(b)
			}
		})
	}
}
