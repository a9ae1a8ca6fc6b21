package events_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/events"
	"github.com/agentical/datalayer/internal/testinfra"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

// newCache builds the cache whose client the events share.
func newCache(t testing.TB, target testinfra.RedisTarget) *cache.Cache {
	t.Helper()
	cfg := cache.Config{
		Addrs:    []string{target.Addr},
		Username: target.Username,
		Password: target.Password,
		DB:       target.DB,
		Prefix:   target.Prefix + "c",
	}
	if target.TLS {
		host, _, _ := net.SplitHostPort(target.Addr)
		cfg.TLS = &tls.Config{ServerName: host}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cache.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newBus returns a Bus on a cache's client with the test's prefix; mod
// adjusts the config.
func newBus(t testing.TB, target testinfra.RedisTarget, mod func(*events.Config)) (*events.Bus, *cache.Cache) {
	t.Helper()
	c := newCache(t, target)
	cfg := events.Config{Prefix: target.Prefix + "ev"}
	if mod != nil {
		mod(&cfg)
	}
	b, err := events.New(c.Client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, c
}

// next receives one event or fails after a generous bound.
func next[T any](t testing.TB, sub *events.Subscription[T]) events.Event[T] {
	t.Helper()
	select {
	case ev, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	panic("unreachable")
}

// eventually polls cond until it holds or 10s passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type item struct {
	N    int    `json:"n"`
	Name string `json:"name"`
}
