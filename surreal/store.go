package surreal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/gorilla/websocket"
	"github.com/surrealdb/surrealdb.go/pkg/models"
	"github.com/surrealdb/surrealdb.go/surrealcbor"

	"github.com/agentical/datalayer/resilience"
)

// Store is a SurrealDB client over a small pool of authenticated WebSocket
// connections. Broken connections are replaced on next use (dial, signin,
// USE). Safe for concurrent use.
type Store struct {
	cfg      Config
	endpoint string
	dialer   *websocket.Dialer
	codec    *surrealcbor.Codec

	slots []*slot
	rr    atomic.Uint64

	policies           *resilience.Policies
	read, write, txEnd *resilience.Executor
	txStmt             *resilience.Executor

	inflight chan struct{} // a token per outstanding request (MaxInFlight)
	busy     atomic.Int64  // calls refused with ErrBusy

	closed atomic.Bool
	subsMu sync.Mutex
	subs   map[subscription]struct{}
}

type slot struct {
	mu sync.Mutex
	c  *conn
}

type subscription interface{ stop(context.Context) }

// Open connects PoolSize connections, signs each in and selects the
// namespace and database. A wrong password yields an error matching ErrAuth.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ep, err := cfg.endpoint()
	if err != nil {
		return nil, err
	}
	dialer, err := cfg.dialer(ep)
	if err != nil {
		return nil, err
	}
	if _, err := cfg.password(); err != nil {
		return nil, err
	}
	pol, err := resilience.New(cfg.Resilience)
	if err != nil {
		return nil, fmt.Errorf("surreal: %w", err)
	}
	s := &Store{
		cfg:      cfg,
		endpoint: ep,
		dialer:   dialer,
		codec:    surrealcbor.New(),
		policies: pol,
		inflight: make(chan struct{}, cfg.MaxInFlight),
		subs:     map[subscription]struct{}{},
	}
	if s.read, err = pol.Executor(resilience.Read, "", resilience.Profile{}); err != nil {
		return nil, fmt.Errorf("surreal: %w", err)
	}
	if s.write, err = pol.Executor(resilience.Write, "", resilience.Profile{}); err != nil {
		return nil, fmt.Errorf("surreal: %w", err)
	}
	if s.txEnd, err = pol.Executor(resilience.Tx, "", resilience.Profile{}); err != nil {
		return nil, fmt.Errorf("surreal: %w", err)
	}
	if s.txStmt, err = pol.Executor(resilience.TxStatement, "", resilience.Profile{}); err != nil {
		return nil, fmt.Errorf("surreal: %w", err)
	}
	s.slots = make([]*slot, cfg.PoolSize)
	for i := range s.slots {
		s.slots[i] = &slot{}
	}
	// Connect every slot now so that a bad address or password fails Open.
	for _, sl := range s.slots {
		if _, err := s.slotConn(ctx, sl); err != nil {
			s.Close(context.Background())
			return nil, err
		}
	}
	return s, nil
}

// Close closes live queries and connections. Calls after Close return
// ErrClosed.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	s.subsMu.Lock()
	subs := make([]subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.subsMu.Unlock()
	for _, sub := range subs {
		sub.stop(ctx)
	}
	for _, sl := range s.slots {
		sl.mu.Lock()
		if sl.c != nil {
			sl.c.close()
			sl.c = nil
		}
		sl.mu.Unlock()
	}
	return nil
}

// Health checks that the server answers on an authenticated connection.
func (s *Store) Health(ctx context.Context) error {
	_, err := s.do(ctx, s.read, "query", "RETURN true", map[string]any{})
	return err
}

// Policies returns the store's resilience policies (breaker state, etc.).
func (s *Store) Policies() *resilience.Policies { return s.policies }

// conn returns a healthy connection, reconnecting a broken one.
func (s *Store) conn(ctx context.Context) (*conn, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	sl := s.slots[int(s.rr.Add(1)%uint64(len(s.slots)))]
	return s.slotConn(ctx, sl)
}

func (s *Store) slotConn(ctx context.Context, sl *slot) (*conn, error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.c != nil && !sl.c.closed() {
		return sl.c, nil
	}
	if sl.c != nil && s.cfg.Logger != nil {
		s.cfg.Logger.Warn("surreal: reconnecting", "url", Redact(s.cfg.URL), "cause", sl.c.err)
	}
	sl.c = nil
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	sl.c = c
	return c, nil
}

// connect dials, authenticates and selects the namespace and database.
func (s *Store) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	c, err := dial(ctx, s.dialer, s.endpoint, s.codec)
	if err != nil {
		return nil, fmt.Errorf("surreal: dial %s: %w", Redact(s.cfg.URL), err)
	}
	if err := s.authenticate(ctx, c); err != nil {
		c.close()
		return nil, err
	}
	if _, err := c.call(ctx, nil, "use", s.cfg.Namespace, s.cfg.Database); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (s *Store) authenticate(ctx context.Context, c *conn) error {
	if s.cfg.Token != "" {
		_, err := c.call(ctx, nil, "authenticate", s.cfg.Token)
		return authError(err)
	}
	pass, err := s.cfg.password()
	if err != nil {
		return err
	}
	params := map[string]any{"user": s.cfg.Username, "pass": pass}
	switch s.cfg.AuthLevel {
	case AuthNamespace:
		params["NS"] = s.cfg.Namespace
	case AuthDatabase:
		params["NS"] = s.cfg.Namespace
		params["DB"] = s.cfg.Database
	}
	_, err = c.call(ctx, nil, "signin", params)
	return authError(err)
}

// authError makes any server refusal of a signin match ErrAuth.
func authError(err error) error {
	var se *Error
	if errors.As(err, &se) && !errors.Is(err, ErrAuth) {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return err
}

// SignIn signs in with a user's credentials on a fresh connection and
// returns the token the server issued, for Config.Token elsewhere. level and
// the store's namespace/database select where the user is defined.
func (s *Store) SignIn(ctx context.Context, level AuthLevel, username, password string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	c, err := dial(ctx, s.dialer, s.endpoint, s.codec)
	if err != nil {
		return "", fmt.Errorf("surreal: dial %s: %w", Redact(s.cfg.URL), err)
	}
	defer c.close()
	params := map[string]any{"user": username, "pass": password}
	if level >= AuthNamespace {
		params["NS"] = s.cfg.Namespace
	}
	if level == AuthDatabase {
		params["DB"] = s.cfg.Database
	}
	raw, err := c.call(ctx, nil, "signin", params)
	if err != nil {
		return "", authError(err)
	}
	var token string
	if err := s.codec.Unmarshal(raw, &token); err != nil {
		return "", fmt.Errorf("surreal: signin: decode token: %w", err)
	}
	return token, nil
}

// do runs one RPC on a pooled connection under policy e. A call that failed
// because its connection was already broken (nothing sent) is repeated once
// on a fresh connection, also for writes.
//
// A single-record RPC (create, merge, ...) that the server rolled back for a
// write conflict ("... retry the transaction") runs again, up to
// Config.TxAttempts times with a short randomised pause: the server undid it,
// so a rerun cannot apply it twice. A query's statements are not rerun (some
// may have committed).
func (s *Store) do(ctx context.Context, e *resilience.Executor, method string, params ...any) (cbor.RawMessage, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.doOnce(ctx, e, method, params...)
		if err == nil || method == "query" || attempt >= s.cfg.TxAttempts || !retryableConflict(err) {
			return res, err
		}
		if !conflictPause(ctx, attempt) {
			return res, err
		}
	}
}

// conflictPause waits a random time that grows with attempt; false when ctx
// ended first.
func conflictPause(ctx context.Context, attempt int) bool {
	pause := min(2*time.Millisecond<<attempt, 100*time.Millisecond)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(pause)) + 1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// enter takes an in-flight token, waiting at most Config.AcquireTimeout;
// leave returns it.
func (s *Store) enter(ctx context.Context) error {
	select {
	case s.inflight <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.cfg.AcquireTimeout)
	defer t.Stop()
	select {
	case s.inflight <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		s.busy.Add(1)
		return fmt.Errorf("%w: all %d request slots stayed taken for %v (raise MaxInFlight or AcquireTimeout)", ErrBusy, s.cfg.MaxInFlight, s.cfg.AcquireTimeout)
	}
}

func (s *Store) leave() { <-s.inflight }

// Stats is a snapshot of a store's connection and request counts.
type Stats struct {
	PoolSize    int   // configured connections
	OpenConns   int   // connections currently open
	InFlight    int   // requests outstanding
	MaxInFlight int   // the limit on InFlight
	Busy        int64 // calls refused with ErrBusy so far
}

// Stats reads the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{PoolSize: len(s.slots), InFlight: len(s.inflight), MaxInFlight: cap(s.inflight), Busy: s.busy.Load()}
	for _, sl := range s.slots {
		sl.mu.Lock()
		if sl.c != nil && !sl.c.closed() {
			st.OpenConns++
		}
		sl.mu.Unlock()
	}
	return st
}

func (s *Store) doOnce(ctx context.Context, e *resilience.Executor, method string, params ...any) (cbor.RawMessage, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	return resilience.Get(ctx, e, func(ctx context.Context) (cbor.RawMessage, error) {
		for attempt := 0; ; attempt++ {
			c, err := s.conn(ctx)
			if err != nil {
				return nil, err
			}
			res, err := c.call(ctx, nil, method, params...)
			if err != nil && ctx.Err() != nil {
				// Timed out or cancelled while waiting: a slow query, or a
				// half-open socket? Ping to find out.
				go c.probe()
			}
			if attempt == 0 && wasUnsent(err) {
				continue
			}
			return res, err
		}
	})
}

// querier runs RPCs for the typed helpers: *Store and *Tx.
type querier interface {
	rpc(ctx context.Context, write bool, method string, params ...any) (cbor.RawMessage, error)
	cbor() *surrealcbor.Codec
}

// Querier is implemented by *Store and *Tx; the typed helpers accept either.
type Querier interface{ querier }

var (
	_ Querier = (*Store)(nil)
	_ Querier = (*Tx)(nil)
)

func (s *Store) rpc(ctx context.Context, write bool, method string, params ...any) (cbor.RawMessage, error) {
	if write {
		return s.do(ctx, s.write, method, params...)
	}
	return s.do(ctx, s.read, method, params...)
}

func (s *Store) cbor() *surrealcbor.Codec { return s.codec }

// Record builds a record id.
func Record(table string, id any) models.RecordID { return models.NewRecordID(table, id) }
