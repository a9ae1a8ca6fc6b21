package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/internal/testinfra"
)

func newSessions(t *testing.T, cfg cache.SessionConfig) *cache.SessionStore {
	t.Helper()
	target := testinfra.Redis(t)
	c, _ := newCache(t, target, nil)
	cfg.Prefix = target.Prefix
	s, err := cache.NewSessionStore(c.Client(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessions(t *testing.T) {
	s := newSessions(t, cache.SessionConfig{TTL: time.Minute})
	ctx := context.Background()

	a, err := s.Create(ctx, "u1", []byte("payload\x00bin"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Create(ctx, "u1", nil)
	other, _ := s.Create(ctx, "u2", nil)
	if len(a.ID) != 43 || a.ID == b.ID {
		t.Fatalf("ids %q %q", a.ID, b.ID)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil || got.UserID != "u1" || string(got.Data) != "payload\x00bin" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if d := time.Until(got.ExpiresAt); d <= 50*time.Second || d > time.Minute {
		t.Fatalf("expires in %v", d)
	}
	if got.CreatedAt.Sub(a.CreatedAt).Abs() > time.Millisecond {
		t.Fatalf("created %v vs %v", got.CreatedAt, a.CreatedAt)
	}

	if _, err := s.Get(ctx, "short"); !errors.Is(err, cache.ErrInvalidSessionID) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := s.Get(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, cache.ErrSessionNotFound) {
		t.Fatalf("unknown id: %v", err)
	}

	if err := s.Revoke(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a.ID); !errors.Is(err, cache.ErrSessionNotFound) {
		t.Fatalf("revoked session: %v", err)
	}
	if _, err := s.Touch(ctx, a.ID); !errors.Is(err, cache.ErrSessionNotFound) {
		t.Fatalf("touch revoked: %v", err)
	}

	c, _ := s.Create(ctx, "u1", nil)
	n, err := s.RevokeAll(ctx, "u1")
	if err != nil || n != 2 { // b and c; a was revoked already
		t.Fatalf("revoke all: n=%d err=%v", n, err)
	}
	for _, id := range []string{b.ID, c.ID} {
		if _, err := s.Get(ctx, id); !errors.Is(err, cache.ErrSessionNotFound) {
			t.Fatalf("session of revoked user: %v", err)
		}
	}
	if _, err := s.Get(ctx, other.ID); err != nil {
		t.Fatalf("other user's session revoked: %v", err)
	}
}

func TestSessionSlidingTTL(t *testing.T) {
	s := newSessions(t, cache.SessionConfig{TTL: time.Second, MaxLifetime: 2 * time.Second})
	ctx := context.Background()
	sess, err := s.Create(ctx, "u", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Touching every 400ms keeps it alive past its idle TTL...
	for range 3 {
		time.Sleep(400 * time.Millisecond)
		if _, err := s.Touch(ctx, sess.ID); err != nil {
			t.Fatalf("touch: %v", err)
		}
	}
	if _, err := s.Get(ctx, sess.ID); err != nil {
		t.Fatalf("touched session gone after 1.2s: %v", err)
	}
	// ...but not past MaxLifetime.
	eventually(t, 3*time.Second, "session to hit MaxLifetime", func() bool {
		_, err := s.Touch(ctx, sess.ID)
		return errors.Is(err, cache.ErrSessionNotFound)
	})
	// And an untouched one expires after TTL.
	idle, _ := s.Create(ctx, "u", nil)
	time.Sleep(1300 * time.Millisecond)
	if _, err := s.Get(ctx, idle.ID); !errors.Is(err, cache.ErrSessionNotFound) {
		t.Fatalf("idle session alive: %v", err)
	}
}
