package stores

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Close drains and closes every store, in order:
//
//  1. new work stops: database calls through DB fail with ErrClosed;
//  2. operations in flight finish (bounded by DrainTimeout);
//  3. the invalidations following those operations are applied (the cache
//     stays open until none was seen for 50ms) and pending ones reach
//     Redis (bounded by DrainTimeout);
//  4. the cache and its Redis client close;
//  5. SurrealDB closes (and its background connect stops);
//  6. the pool closes once its connections are back (bounded).
//
// The error lists what did not drain: operations still running,
// invalidations not applied (TTLs bound the staleness they leave), a pool
// with connections still out. Calling Close again returns the same error.
func (s *Stores) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Stores) close(parent context.Context) error {
	var errs []error
	// Each wait gets its own DrainTimeout, all within parent.
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(parent, s.opts.DrainTimeout) }
	ctx, cancel := step()
	defer func() { cancel() }()

	// 1-2. Stop new work, wait for what is in flight.
	idle, n := s.gate.close()
	if n > 0 {
		s.log.Info("stores: closing: waiting for database operations in flight", "n", n)
	}
	select {
	case <-idle:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stores: close: %d database operations still running after %s", s.gate.inFlight(), s.opts.DrainTimeout))
	}

	// 3. Invalidations: a write's (or a commit's) invalidation runs just
	// after its last database call, so the cache stays open until none
	// has been seen for a moment, then until none is pending.
	cancel()
	ctx, cancel = step()
	if s.cache != nil {
		idleAt := time.Now()
		_ = waitFor(ctx, func() bool {
			last := max(idleAt.UnixNano(), s.tap.last.Load())
			return time.Since(time.Unix(0, last)) >= invalidationSettle
		})
		if err := waitFor(ctx, func() bool { return s.cache.Pending() == 0 }); err != nil {
			s.log.Warn("stores: closing with cache invalidations pending", "pending", s.cache.Pending())
		}
		// 4. Close reports the invalidations it could not apply.
		if err := s.cache.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stores: close cache: %w", err))
		}
		if s.redisClient != nil {
			s.redisClient.Close()
		}
	}

	// 5. SurrealDB.
	cancel()
	ctx, cancel = step()
	if s.surrealStop != nil {
		s.surrealStop()
		<-s.surrealDone
	}
	if st := s.surreal.Load(); st != nil {
		if err := st.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stores: close surrealdb: %w", err))
		}
	}

	// 6. The pool: pgxpool's Close waits for every acquired connection.
	cancel()
	ctx, cancel = step()
	done := make(chan struct{})
	go func() { s.pool.Close(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("stores: close: PostgreSQL pool still has %d connections in use after %s (they close when released)",
			s.pool.Stat().AcquiredConns(), s.opts.DrainTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("stores: closed with work not drained", "err", err.Error())
		return err
	}
	s.log.Info("stores: closed")
	return nil
}

// invalidationSettle is how long Close waits, after the last database
// operation and the last invalidation, for invalidations still on their
// way (the repository applies them right after the database call returns).
const invalidationSettle = 50 * time.Millisecond

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
