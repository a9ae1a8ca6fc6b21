package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentical/datalayer/resilience"
)

// breaker is the Redis circuit breaker: it opens after threshold
// consecutive infrastructure failures, and after delay lets exactly one
// probe through (half-open). Only that probe's outcome moves it: a real
// Redis round trip that succeeded closes it, a failure reopens it for
// another delay, and a probe that learned nothing (the caller left, the
// answer came from the in-process tier) is released for the next caller.
// Nothing else can close it, so it does not flap while Redis stays down.
type breaker struct {
	threshold uint
	delay     time.Duration
	onChange  func(from, to resilience.State, failures uint)
	// onOpen, if set, runs whenever the breaker opens, with its lock held
	// (it must not call back into the breaker).
	onOpen func()

	mu    sync.Mutex
	state resilience.State
	// notClosed mirrors state != Closed (written under mu), so the hit path
	// reads one atomic instead of taking the lock while Redis is fine.
	notClosed atomic.Bool
	failures  uint      // consecutive, while closed
	openedAt  time.Time // when it last opened
	probe     time.Time // when the half-open probe started; zero: none out
	events    []stateEvent
}

type stateEvent struct {
	from, to resilience.State
	failures uint
}

// flush reports state changes, outside the lock (the callback may read the
// breaker).
func (b *breaker) flush() {
	b.mu.Lock()
	ev := b.events
	b.events = nil
	b.mu.Unlock()
	if b.onChange == nil {
		return
	}
	for _, e := range ev {
		b.onChange(e.from, e.to, e.failures)
	}
}

// permit is what allow hands out.
type permit uint8

const (
	noPermit permit = iota
	closedPermit
	probePermit
)

func (b *breaker) allow() permit {
	defer b.flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	switch b.state {
	case resilience.Closed:
		return closedPermit
	case resilience.Open:
		if now.Sub(b.openedAt) < b.delay {
			return noPermit
		}
		b.set(resilience.HalfOpen)
	}
	// Half-open: one probe at a time. A probe that never reported (a bug,
	// a goroutine stuck past every timeout) is replaced after delay.
	if !b.probe.IsZero() && now.Sub(b.probe) < b.delay {
		return noPermit
	}
	b.probe = now
	return probePermit
}

// success records a Redis round trip that worked.
func (b *breaker) success(p permit) {
	defer b.flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case p == probePermit && b.state == resilience.HalfOpen:
		b.probe = time.Time{}
		b.failures = 0
		b.set(resilience.Closed)
	case b.state == resilience.Closed:
		b.failures = 0
	}
}

// failure records an infrastructure failure. Without a permit it only
// counts while closed.
func (b *breaker) failure(p permit) {
	defer b.flush()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case p == probePermit && b.state == resilience.HalfOpen:
		b.probe = time.Time{}
		b.open()
	case b.state == resilience.Closed:
		b.failures++
		if b.failures >= b.threshold {
			b.open()
		}
	}
}

// release gives a permit back without saying anything about Redis.
func (b *breaker) release(p permit) {
	if p != probePermit {
		return
	}
	b.mu.Lock()
	if b.state == resilience.HalfOpen {
		b.probe = time.Time{}
	}
	b.mu.Unlock()
}

func (b *breaker) open() {
	b.openedAt = time.Now()
	b.set(resilience.Open)
	if b.onOpen != nil {
		b.onOpen()
	}
}

// set changes the state (b.mu held) and reports the change.
func (b *breaker) set(to resilience.State) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	b.notClosed.Store(to != resilience.Closed)
	failures := b.failures
	if to != resilience.Open {
		b.failures = 0
	}
	b.events = append(b.events, stateEvent{from, to, failures})
}

// isOpen reports whether calls are being refused (open and still within
// its delay, or half-open with the probe out).
func (b *breaker) isOpen() bool {
	if !b.notClosed.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == resilience.Open || (b.state == resilience.HalfOpen && !b.probe.IsZero())
}

func (b *breaker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == resilience.Closed
}

// current returns the state as a caller would see it: an open breaker
// whose delay elapsed is half-open (the next lookup probes).
func (b *breaker) current() resilience.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == resilience.Open && time.Since(b.openedAt) >= b.delay {
		return resilience.HalfOpen
	}
	return b.state
}
