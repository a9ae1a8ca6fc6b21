package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Subscribe subscribes to topic. It returns once Redis confirmed the
// subscription, so every event published after it returns is delivered
// (while connected); it fails with ErrUnavailable if Redis does not confirm
// within Config.SubscribeTimeout. The subscription lasts until ctx ends,
// Close is called or the Bus is closed; its channel is then closed.
func Subscribe[T any](ctx context.Context, b *Bus, topic Topic[T]) (*Subscription[T], error) {
	return subscribe(ctx, b, topic, false)
}

// SubscribePattern subscribes to every topic whose name matches the Redis
// glob pattern topic.Name (PSUBSCRIBE), e.g. "task.status.*". Event.Channel
// says which name an event was published to. Otherwise as Subscribe.
func SubscribePattern[T any](ctx context.Context, b *Bus, topic Topic[T]) (*Subscription[T], error) {
	return subscribe(ctx, b, topic, true)
}

// Subscription is one consumer's view of a topic. Its methods are safe for
// concurrent use.
type Subscription[T any] struct {
	bus   *Bus
	sink  *sink
	codec Codec[T]
	out   chan Event[T]
	undec atomic.Uint64
}

// C returns the channel events arrive on. It is closed when the
// subscription ends (ctx done, Close, Bus.Close).
func (s *Subscription[T]) C() <-chan Event[T] { return s.out }

// Close ends the subscription. It is idempotent.
func (s *Subscription[T]) Close() { s.sink.close() }

// Connected reports whether the Redis subscription is currently confirmed
// (false while resubscribing after a lost connection).
func (s *Subscription[T]) Connected() bool { return s.sink.entry.isConnected() }

// SubscriptionStats are one subscription's counters.
type SubscriptionStats struct {
	Received    uint64 // messages that reached the buffer
	Dropped     uint64 // dropped because the buffer was full (oldest first)
	Undecodable uint64 // skipped because the codec failed
	Buffered    int    // waiting in the buffer now
}

// Stats returns the subscription's counters.
func (s *Subscription[T]) Stats() SubscriptionStats {
	s.sink.mu.Lock()
	n := s.sink.n
	s.sink.mu.Unlock()
	return SubscriptionStats{
		Received:    s.sink.received.Load(),
		Dropped:     s.sink.dropped.Load(),
		Undecodable: s.undec.Load(),
		Buffered:    n,
	}
}

func subscribe[T any](ctx context.Context, b *Bus, topic Topic[T], pattern bool) (*Subscription[T], error) {
	if err := topic.check(); err != nil {
		return nil, err
	}
	key := entryKey{pattern: pattern, name: b.Channel(topic.Name)}
	s := newSink(b.cfg.Buffer)

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	e := b.entries[key]
	if e == nil {
		e = b.startEntry(key)
	}
	s.entry = e
	e.add(s)
	ready, failed := e.waitChans()
	b.stats.subscriptions.Add(1)
	b.mu.Unlock()

	timer := time.NewTimer(b.cfg.SubscribeTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-failed:
		s.close()
		return nil, fmt.Errorf("%w (subscribe %s): %w", ErrUnavailable, topic.Name, e.lastError())
	case <-timer.C:
		s.close()
		return nil, fmt.Errorf("%w (subscribe %s): not confirmed within %v", ErrUnavailable, topic.Name, b.cfg.SubscribeTimeout)
	case <-ctx.Done():
		s.close()
		return nil, fmt.Errorf("events: subscribe %s: %w", topic.Name, ctx.Err())
	case <-s.done: // Bus.Close
		return nil, ErrClosed
	}
	sub := &Subscription[T]{bus: b, sink: s, codec: topic.codec(), out: make(chan Event[T])}
	go sub.loop(ctx)
	return sub, nil
}

// loop decodes buffered messages and hands them to C.
func (s *Subscription[T]) loop(ctx context.Context) {
	defer close(s.out)
	carryGap := false
	for {
		m, ok := s.sink.pop()
		if !ok {
			select {
			case <-s.sink.notify:
				continue
			case <-s.sink.done:
				return
			case <-ctx.Done():
				s.sink.close()
				return
			}
		}
		ev := Event[T]{Gap: m.gap || carryGap}
		var data []byte
		ev.ID, ev.Published, data = parseMessage([]byte(m.payload))
		ev.Channel = strings.TrimPrefix(m.channel, s.bus.cfg.Prefix+":")
		if err := s.codec.Unmarshal(data, &ev.Value); err != nil {
			s.undec.Add(1)
			s.bus.stats.undecodable.Add(1)
			s.bus.logWarn("events: undecodable message skipped", slog.String("channel", m.channel), slog.String("error", err.Error()))
			carryGap = ev.Gap
			continue
		}
		carryGap = false
		select {
		case s.out <- ev:
		case <-s.sink.done:
			return
		case <-ctx.Done():
			s.sink.close()
			return
		}
	}
}

// rawMsg is one message as rueidis delivered it.
type rawMsg struct {
	channel, payload string
	gap              bool // events before this one were lost
}

// sink is the type-independent half of a subscription: a bounded
// drop-oldest queue filled by the entry's dispatch (on rueidis' connection
// goroutine, so push never blocks) and drained by the Subscription's loop.
type sink struct {
	entry *entry

	mu         sync.Mutex
	q          []rawMsg
	head, n    int
	pendingGap bool // the next pushed message follows a loss

	notify    chan struct{} // capacity 1: something was pushed
	done      chan struct{} // closed by close
	closeOnce sync.Once

	received, dropped atomic.Uint64
}

func newSink(capacity int) *sink {
	return &sink{q: make([]rawMsg, capacity), notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// push appends m, dropping the oldest message when full; it reports
// whether one was dropped.
func (s *sink) push(m rawMsg) (dropped bool) {
	s.mu.Lock()
	if s.pendingGap {
		m.gap, s.pendingGap = true, false
	}
	if s.n == len(s.q) {
		s.q[s.head] = rawMsg{}
		s.head = (s.head + 1) % len(s.q)
		s.n--
		dropped = true
		if s.n > 0 {
			s.q[s.head].gap = true
		} else {
			m.gap = true
		}
	}
	s.q[(s.head+s.n)%len(s.q)] = m
	s.n++
	s.mu.Unlock()
	s.received.Add(1)
	if dropped {
		s.dropped.Add(1)
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return dropped
}

func (s *sink) pop() (rawMsg, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return rawMsg{}, false
	}
	m := s.q[s.head]
	s.q[s.head] = rawMsg{}
	s.head = (s.head + 1) % len(s.q)
	s.n--
	return m, true
}

// markGap flags the next pushed message: events were lost before it.
func (s *sink) markGap() {
	s.mu.Lock()
	s.pendingGap = true
	s.mu.Unlock()
}

func (s *sink) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		if s.entry != nil {
			s.entry.bus.removeSink(s)
		}
	})
}

type closer interface{ close() }

// entryKey names one Redis subscription: a full channel name or pattern.
type entryKey struct {
	pattern bool
	name    string
}

// entry is one Redis subscription shared by every local subscriber of its
// channel (or pattern), kept alive by a goroutine that resubscribes after a
// lost connection.
type entry struct {
	bus    *Bus
	key    entryKey
	sinks  atomic.Pointer[[]*sink] // copy-on-write under bus.mu
	cancel context.CancelFunc
	done   chan struct{}
	prev   <-chan struct{} // the previous entry of this key, still unsubscribing

	stMu      sync.Mutex
	connected bool
	ready     chan struct{} // closed when connected
	failed    chan struct{} // closed (and replaced) after each failed attempt
	lastErr   error
}

// startEntry creates and starts the entry of key; b.mu is held.
func (b *Bus) startEntry(key entryKey) *entry {
	ctx, cancel := context.WithCancel(context.Background())
	e := &entry{bus: b, key: key, cancel: cancel, done: make(chan struct{}),
		ready: make(chan struct{}), failed: make(chan struct{})}
	e.sinks.Store(&[]*sink{})
	if old := b.stopping[key]; old != nil {
		e.prev = old
	}
	b.entries[key] = e
	b.wg.Add(1)
	go e.run(ctx)
	return e
}

func (e *entry) subscribers() []*sink { return *e.sinks.Load() }

// add and remove run with bus.mu held.
func (e *entry) add(s *sink) {
	old := *e.sinks.Load()
	next := make([]*sink, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	e.sinks.Store(&next)
}

func (e *entry) remove(s *sink) (empty bool) {
	old := *e.sinks.Load()
	next := make([]*sink, 0, len(old))
	for _, x := range old {
		if x != s {
			next = append(next, x)
		}
	}
	e.sinks.Store(&next)
	return len(next) == 0
}

func (b *Bus) removeSink(s *sink) {
	e := s.entry
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stats.subscriptions.Add(-1)
	if !e.remove(s) || b.entries[e.key] != e {
		return
	}
	delete(b.entries, e.key)
	if b.stopping == nil {
		b.stopping = make(map[entryKey]<-chan struct{})
	}
	b.stopping[e.key] = e.done
	e.cancel()
}

func (e *entry) waitChans() (ready, failed <-chan struct{}) {
	e.stMu.Lock()
	defer e.stMu.Unlock()
	return e.ready, e.failed
}

func (e *entry) isConnected() bool {
	e.stMu.Lock()
	defer e.stMu.Unlock()
	return e.connected
}

func (e *entry) lastError() error {
	e.stMu.Lock()
	defer e.stMu.Unlock()
	if e.lastErr == nil {
		return errors.New("subscription failed")
	}
	return e.lastErr
}

// setConnected records a confirmation (true) or a lost/failed Receive
// (false, with its error) and returns the previous state.
func (e *entry) setConnected(on bool, err error) (was bool) {
	e.stMu.Lock()
	defer e.stMu.Unlock()
	was = e.connected
	switch {
	case on && !was:
		e.connected = true
		close(e.ready)
	case !on:
		if was {
			e.connected = false
			e.ready = make(chan struct{})
		}
		e.lastErr = err
		close(e.failed)
		e.failed = make(chan struct{})
	}
	return was
}

func (e *entry) dispatch(m rueidis.PubSubMessage) {
	raw := rawMsg{channel: m.Channel, payload: m.Message}
	for _, s := range *e.sinks.Load() {
		if s.push(raw) {
			e.bus.stats.dropped.Add(1)
		}
		e.bus.stats.delivered.Add(1)
	}
}

func (e *entry) run(ctx context.Context) {
	b := e.bus
	defer func() {
		b.mu.Lock()
		if b.stopping[e.key] == e.done {
			delete(b.stopping, e.key)
		}
		b.mu.Unlock()
		close(e.done)
		b.wg.Done()
	}()
	if e.prev != nil {
		// The previous subscription of this key sends its UNSUBSCRIBE as it
		// ends; wait, or that UNSUBSCRIBE would end ours.
		select {
		case <-e.prev:
		case <-ctx.Done():
			return
		}
	}
	kind := "subscribe"
	if e.key.pattern {
		kind = "psubscribe"
	}
	// A fresh command per attempt: rueidis recycles a command once sent.
	command := func() rueidis.Completed {
		if e.key.pattern {
			return b.client.B().Psubscribe().Pattern(e.key.name).Build()
		}
		return b.client.B().Subscribe().Channel(e.key.name).Build()
	}
	rctx := rueidis.WithOnSubscriptionHook(ctx, func(s rueidis.PubSubSubscription) {
		if s.Kind == kind {
			e.setConnected(true, nil)
		}
	})
	rctx = rueidis.WithOnReceiveReturnHook(rctx, func(err error, c rueidis.CommandClient) error {
		if ctx.Err() == nil {
			return err
		}
		// Leaving: release the Redis subscription on this connection.
		uctx, cancel := context.WithTimeout(context.Background(), b.cfg.PublishTimeout)
		defer cancel()
		if e.key.pattern {
			_ = c.Do(uctx, c.B().Punsubscribe().Pattern(e.key.name).Build()).Error()
		} else {
			_ = c.Do(uctx, c.B().Unsubscribe().Channel(e.key.name).Build()).Error()
		}
		return err
	})
	backoff := time.Duration(0)
	for {
		err := b.client.Receive(rctx, command(), e.dispatch)
		if ctx.Err() != nil {
			e.setConnected(false, ctx.Err())
			return
		}
		if errors.Is(err, rueidis.ErrClosing) {
			// The client was closed (cache.Close before Bus.Close): nothing
			// can come back, so end the subscriptions (their channels close).
			e.setConnected(false, err)
			for _, s := range *e.sinks.Load() {
				s.close()
			}
			return
		}
		if err == nil {
			err = errors.New("unsubscribed by the server")
		}
		if e.setConnected(false, err) {
			// Lost an established subscription: whatever was published until
			// we are back is lost.
			b.stats.reconnects.Add(1)
			for _, s := range *e.sinks.Load() {
				s.markGap()
			}
			b.logWarn("events: subscription lost, resubscribing", slog.String("channel", e.key.name), slog.String("error", err.Error()))
			backoff = 0
		}
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		backoff = min(max(2*backoff, b.cfg.ReconnectMin), b.cfg.ReconnectMax)
	}
}
