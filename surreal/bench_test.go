package surreal_test

import (
	"context"
	"testing"

	surrealdb "github.com/surrealdb/surrealdb.go"
	"github.com/surrealdb/surrealdb.go/pkg/models"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
)

// benchTarget seeds one record and returns the target and its id.
func benchTarget(b *testing.B) (surrealpeer.Target, models.RecordID) {
	b.Helper()
	tg := surrealpeer.ForTest(b)
	s := openStore(b, tg)
	id := surreal.Record("person", "bench")
	if _, err := surreal.Create[person](context.Background(), s, id, person{Name: "Bench", Age: 1}); err != nil {
		b.Fatal(err)
	}
	return tg, id
}

// BenchmarkSelectByID compares one sequential select by id through the
// store (pool, policies, error translation) with the SDK's raw client.
func BenchmarkSelectByID(b *testing.B) {
	tg, id := benchTarget(b)
	ctx := context.Background()

	b.Run("store", func(b *testing.B) {
		s := openStore(b, tg)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := surreal.Select[person](ctx, s, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-client", func(b *testing.B) {
		db, err := surrealdb.FromEndpointURLString(ctx, tg.URL)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close(ctx)
		if _, err := db.SignIn(ctx, surrealdb.Auth{Username: tg.Username, Password: tg.Password}); err != nil {
			b.Fatal(err)
		}
		if err := db.Use(ctx, tg.Namespace, tg.Database); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := surrealdb.Select[person](ctx, db, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConcurrentSelect compares 16 goroutines per CPU selecting by id
// over a pool of 4 connections and over a single connection.
func BenchmarkConcurrentSelect(b *testing.B) {
	tg, id := benchTarget(b)
	ctx := context.Background()
	for _, size := range []struct {
		name string
		n    int
	}{{"pool4", 4}, {"single", 1}} {
		b.Run(size.name, func(b *testing.B) {
			cfg := configFor(tg)
			cfg.PoolSize = size.n
			s, err := surreal.Open(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := surreal.Select[person](ctx, s, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
