package stores_test

import (
	"testing"

	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/stores"
)

// The DB gate (acquire bound, in-flight count, closed check) against the
// bare pool, side by side on the same query.
func BenchmarkGate(b *testing.B) {
	dsn := testinfra.Postgres(b)
	r := testinfra.Redis(b)
	s := open(b, loadConfig(b, env(b, dsn, r)), prefixed(r, stores.Options{Logger: discard()}))
	ctx := b.Context()
	b.Run("pool", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var n int
			if err := s.Pool().QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var n int
			if err := s.DB().QueryRow(ctx, "SELECT 1").Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
