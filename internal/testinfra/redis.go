package testinfra

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/devserver"
)

// RedisTarget is where a test may put its Redis keys: the shared server, and
// a Prefix no other test uses. Every key the test writes must start with
// Prefix; keys under it are deleted when the test ends. Tests must not
// FLUSHDB/FLUSHALL the shared server (use PrivateRedis for that).
type RedisTarget struct {
	Addr     string // host:port
	Username string
	Password string
	DB       int
	Prefix   string // e.g. "t:testfoo_bar:3f9c2a1b7d:"
	TLS      bool   // the URL was rediss://
}

// URL is the server as a redis:// (or rediss://) URL with credentials and
// database number, for code configured by URL (e.g. REDIS_URL). It does not
// carry the prefix.
func (r RedisTarget) URL() string {
	u := url.URL{Scheme: "redis", Host: r.Addr, Path: "/" + strconv.Itoa(r.DB)}
	if r.TLS {
		u.Scheme = "rediss"
	}
	if r.Password != "" {
		u.User = url.UserPassword(r.Username, r.Password)
	} else if r.Username != "" {
		u.User = url.User(r.Username)
	}
	return u.String()
}

// Redis returns the shared Redis server and a key prefix unique to t. It
// fails t when no server can be had.
func (h *Harness) Redis(t testing.TB) RedisTarget {
	t.Helper()
	if err := h.ensureRedis(t.Context()); err != nil {
		t.Fatal(err)
	}
	o := h.redisOpt
	target := RedisTarget{
		Username: o.Username,
		Password: o.Password,
		DB:       o.SelectDB,
		Prefix:   "t:" + identPart(t.Name(), 40) + ":" + randomSuffix(10) + ":",
		TLS:      o.TLSConfig != nil,
	}
	if len(o.InitAddress) > 0 {
		target.Addr = o.InitAddress[0]
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := h.deletePrefix(ctx, target.Prefix); err != nil {
			t.Error(err)
		}
	})
	return target
}

// deletePrefix removes every key under prefix with SCAN + UNLINK. The prefix
// holds only [a-z0-9_:] so it needs no glob escaping.
func (h *Harness) deletePrefix(ctx context.Context, prefix string) error {
	c := h.redisClient
	cursor := uint64(0)
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return fmt.Errorf("testinfra: scan keys %s*: %w", prefix, err)
		}
		if len(e.Elements) > 0 {
			if err := c.Do(ctx, c.B().Unlink().Key(e.Elements...).Build()).Error(); err != nil {
				return fmt.Errorf("testinfra: delete keys %s*: %w", prefix, err)
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// PrivateRedis starts a redis-server from local binaries for t alone; t may
// Stop and Start it to simulate an outage. It is stopped when t ends.
func (h *Harness) PrivateRedis(t testing.TB) *devserver.Redis {
	t.Helper()
	r, err := devserver.StartRedis(t.Context(), h.cfg.Redis)
	if err != nil {
		t.Fatalf("testinfra: PrivateRedis needs a local redis-server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}
