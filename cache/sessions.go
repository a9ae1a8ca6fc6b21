package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// Session errors.
var (
	// ErrSessionNotFound: no such session (never created, expired or revoked).
	ErrSessionNotFound = errors.New("cache: session not found")
	// ErrInvalidSessionID: the id is not one Create could have returned.
	ErrInvalidSessionID = errors.New("cache: invalid session id")
)

// DefaultSessionTTL is the sliding lifetime of a session.
const DefaultSessionTTL = 24 * time.Hour

// SessionConfig configures a SessionStore. The zero value is valid.
type SessionConfig struct {
	// Prefix starts every key (default "dl"); give sessions their own prefix
	// if the cache's keys are flushed independently.
	Prefix string
	// TTL is the idle lifetime: Create sets it and Touch renews it
	// (default 24h).
	TTL time.Duration
	// MaxLifetime, if set, is an absolute cap from creation that Touch never
	// extends past.
	MaxLifetime time.Duration
}

// Session is one login session.
type Session struct {
	ID        string
	UserID    string
	Data      []byte
	CreatedAt time.Time
	// ExpiresAt is when the session ends unless touched.
	ExpiresAt time.Time
}

// SessionStore keeps sessions in Redis. It never fails open and never uses
// the in-process tier: a revoked session is refused by every process at
// once, and Redis errors are returned to the caller.
//
// Keys: <p>:sess:<id> (hash: user, data, created) with the session TTL, and
// <p>:usess:<user> (set of that user's session ids) for RevokeAll.
type SessionStore struct {
	client rueidis.Client
	cfg    SessionConfig
}

// NewSessionStore returns a store on client (e.g. Cache.Client()).
func NewSessionStore(client rueidis.Client, cfg SessionConfig) (*SessionStore, error) {
	if client == nil {
		return nil, errors.New("cache: NewSessionStore: nil client")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultSessionTTL
	}
	if cfg.MaxLifetime > 0 && cfg.MaxLifetime < cfg.TTL {
		return nil, fmt.Errorf("cache: session MaxLifetime %v < TTL %v", cfg.MaxLifetime, cfg.TTL)
	}
	return &SessionStore{client: client, cfg: cfg}, nil
}

const sessionIDLen = 43 // 32 bytes, unpadded base64url

func (s *SessionStore) key(id string) string      { return s.cfg.Prefix + ":sess:" + id }
func (s *SessionStore) userKey(uid string) string { return s.cfg.Prefix + ":usess:" + uid }

func validID(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	_, err := b64.DecodeString(id)
	return err == nil
}

// Create starts a session for userID holding data, with a 256-bit random id
// from crypto/rand.
func (s *SessionStore) Create(ctx context.Context, userID string, data []byte) (Session, error) {
	if userID == "" {
		return Session{}, errors.New("cache: session user id is empty")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Session{}, fmt.Errorf("cache: session id: %w", err)
	}
	now := time.Now()
	sess := Session{ID: b64.EncodeToString(raw[:]), UserID: userID, Data: data, CreatedAt: now, ExpiresAt: now.Add(s.cfg.TTL)}
	b := s.client.B()
	k, uk := s.key(sess.ID), s.userKey(userID)
	created := strconv.FormatInt(now.UnixNano(), 10)
	cmds := rueidis.Commands{
		b.Hset().Key(k).FieldValue().FieldValue("user", userID).FieldValue("data", rueidis.BinaryString(data)).FieldValue("created", created).Build(),
		b.Pexpire().Key(k).Milliseconds(s.cfg.TTL.Milliseconds()).Build(),
		b.Sadd().Key(uk).Member(sess.ID).Build(),
		// The index outlives its sessions a little; stale ids in it are harmless.
		b.Pexpire().Key(uk).Milliseconds(s.lifetime().Milliseconds()).Gt().Build(),
		b.Pexpire().Key(uk).Milliseconds(s.lifetime().Milliseconds()).Nx().Build(),
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return Session{}, fmt.Errorf("cache: create session: %w", err)
		}
	}
	return sess, nil
}

func (s *SessionStore) lifetime() time.Duration {
	if s.cfg.MaxLifetime > 0 {
		return s.cfg.MaxLifetime
	}
	return s.cfg.TTL
}

// Get returns the session, or ErrSessionNotFound.
func (s *SessionStore) Get(ctx context.Context, id string) (Session, error) {
	if !validID(id) {
		return Session{}, ErrInvalidSessionID
	}
	b := s.client.B()
	k := s.key(id)
	resps := s.client.DoMulti(ctx, b.Hgetall().Key(k).Build(), b.Pttl().Key(k).Build())
	m, err := resps[0].AsStrMap()
	if err != nil {
		return Session{}, fmt.Errorf("cache: get session: %w", err)
	}
	if len(m) == 0 {
		return Session{}, ErrSessionNotFound
	}
	pttl, err := resps[1].AsInt64()
	if err != nil {
		return Session{}, fmt.Errorf("cache: get session: %w", err)
	}
	if pttl < 0 { // vanished between the two commands
		return Session{}, ErrSessionNotFound
	}
	created, _ := strconv.ParseInt(m["created"], 10, 64)
	sess := Session{ID: id, UserID: m["user"], CreatedAt: time.Unix(0, created), ExpiresAt: time.Now().Add(time.Duration(pttl) * time.Millisecond)}
	if d, ok := m["data"]; ok {
		sess.Data = []byte(d)
	}
	return sess, nil
}

// Touch renews the idle lifetime (sliding TTL), capped by MaxLifetime.
func (s *SessionStore) Touch(ctx context.Context, id string) (time.Time, error) {
	if !validID(id) {
		return time.Time{}, ErrInvalidSessionID
	}
	k := s.key(id)
	ttl := s.cfg.TTL
	if s.cfg.MaxLifetime > 0 {
		cr, err := s.client.Do(ctx, s.client.B().Hget().Key(k).Field("created").Build()).AsInt64()
		if rueidis.IsRedisNil(err) {
			return time.Time{}, ErrSessionNotFound
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("cache: touch session: %w", err)
		}
		left := time.Until(time.Unix(0, cr).Add(s.cfg.MaxLifetime))
		if left <= 0 {
			_ = s.Revoke(ctx, id)
			return time.Time{}, ErrSessionNotFound
		}
		ttl = min(ttl, left)
	}
	ok, err := s.client.Do(ctx, s.client.B().Pexpire().Key(k).Milliseconds(max(ttl.Milliseconds(), 1)).Build()).AsBool()
	if err != nil {
		return time.Time{}, fmt.Errorf("cache: touch session: %w", err)
	}
	if !ok {
		return time.Time{}, ErrSessionNotFound
	}
	return time.Now().Add(ttl), nil
}

// Revoke ends one session. Revoking an unknown session is not an error.
func (s *SessionStore) Revoke(ctx context.Context, id string) error {
	if !validID(id) {
		return ErrInvalidSessionID
	}
	k := s.key(id)
	user, err := s.client.Do(ctx, s.client.B().Hget().Key(k).Field("user").Build()).ToString()
	if err != nil && !rueidis.IsRedisNil(err) {
		return fmt.Errorf("cache: revoke session: %w", err)
	}
	cmds := rueidis.Commands{s.client.B().Del().Key(k).Build()}
	if user != "" {
		cmds = append(cmds, s.client.B().Srem().Key(s.userKey(user)).Member(id).Build())
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("cache: revoke session: %w", err)
		}
	}
	return nil
}

// RevokeAll ends every session of userID and returns how many existed. A
// session created concurrently with RevokeAll may survive it.
func (s *SessionStore) RevokeAll(ctx context.Context, userID string) (int, error) {
	uk := s.userKey(userID)
	ids, err := s.client.Do(ctx, s.client.B().Smembers().Key(uk).Build()).AsStrSlice()
	if err != nil {
		return 0, fmt.Errorf("cache: revoke sessions: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// One DEL per key keeps the commands single-slot on a cluster.
	cmds := make(rueidis.Commands, 0, len(ids)+1)
	for _, id := range ids {
		cmds = append(cmds, s.client.B().Del().Key(s.key(id)).Build())
	}
	cmds = append(cmds, s.client.B().Srem().Key(uk).Member(ids...).Build())
	n := 0
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		v, err := r.AsInt64()
		if err != nil {
			return n, fmt.Errorf("cache: revoke sessions: %w", err)
		}
		if i < len(ids) {
			n += int(v)
		}
	}
	return n, nil
}
