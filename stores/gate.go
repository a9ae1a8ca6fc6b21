package stores

import (
	"sync"

	"github.com/agentical/datalayer/postgres"
)

// gate is the admission of the pool handed to repositories (a
// postgres.BoundedPool, whose acquires DB_POOL_TIMEOUT bounds): it counts
// operations in flight and refuses new ones once Close began.
type gate struct {
	mu       sync.Mutex
	closed   bool
	inflight int
	idle     chan struct{} // closed when inflight drops to 0 after close
}

var _ postgres.Admission = (*gate)(nil)

// Enter registers one operation; it fails after close.
func (g *gate) Enter() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.inflight++
	return nil
}

// Leave ends one operation.
func (g *gate) Leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.closed && g.inflight == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// close refuses new operations and returns a channel closed once those in
// flight have finished, and how many were in flight.
func (g *gate) close() (<-chan struct{}, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	ch := make(chan struct{})
	if g.inflight == 0 {
		close(ch)
	} else {
		g.idle = ch
	}
	return ch, g.inflight
}

func (g *gate) inFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight
}
