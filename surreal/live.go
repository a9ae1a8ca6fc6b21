package surreal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/surrealdb/surrealdb.go/pkg/models"
)

// Action is what happened to a record in a live query.
type Action string

const (
	ActionCreate Action = "CREATE"
	ActionUpdate Action = "UPDATE"
	ActionDelete Action = "DELETE"
	// ActionResumed is sent after the live query was re-established on a new
	// connection. Changes made while it was down were not delivered: re-read
	// what you need.
	ActionResumed Action = "RESUMED"
)

// Event is one live-query message.
type Event[T any] struct {
	Action Action
	ID     models.RecordID // zero for ActionResumed
	Value  T               // the record (before deletion for ActionDelete)
	Err    error           // a record that could not be decoded into T
}

// Subscription delivers a live query's events on Events until Close. It
// re-issues the live query after its connection breaks.
type Subscription[T any] struct {
	s     *Store
	table string
	out   chan Event[T]

	mu      sync.Mutex
	queue   []notification
	wake    chan struct{}
	stopped chan struct{}
	once    sync.Once
	done    chan struct{} // closed when the run loop has exited
}

// Live starts LIVE SELECT * FROM table and delivers its events. The events
// channel is closed after Close (or Store.Close).
func Live[T any](ctx context.Context, s *Store, table string) (*Subscription[T], error) {
	if table == "" {
		return nil, fmt.Errorf("surreal: live: %w: empty table name", ErrInvalidArgument)
	}
	sub := &Subscription[T]{
		s:       s,
		table:   table,
		out:     make(chan Event[T]),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		done:    make(chan struct{}),
	}
	c, id, err := sub.start(ctx)
	if err != nil {
		return nil, err
	}
	s.subsMu.Lock()
	if s.closed.Load() {
		s.subsMu.Unlock()
		_ = killLive(context.Background(), c, id)
		return nil, ErrClosed
	}
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	go sub.forward()
	go sub.run(c, id)
	return sub, nil
}

// Events returns the channel of events.
func (sub *Subscription[T]) Events() <-chan Event[T] { return sub.out }

// Close kills the live query and closes Events.
func (sub *Subscription[T]) Close(ctx context.Context) error {
	sub.stop(ctx)
	sub.s.subsMu.Lock()
	delete(sub.s.subs, sub)
	sub.s.subsMu.Unlock()
	return nil
}

func (sub *Subscription[T]) stop(ctx context.Context) {
	sub.once.Do(func() { close(sub.stopped) })
	select {
	case <-sub.done:
	case <-ctx.Done():
	}
}

// start issues the live query on a pooled connection and routes its
// notifications into the queue.
func (sub *Subscription[T]) start(ctx context.Context) (*conn, string, error) {
	c, err := sub.s.conn(ctx)
	if err != nil {
		return nil, "", err
	}
	raw, err := c.call(ctx, nil, "live", models.Table(sub.table), false)
	if err != nil {
		return nil, "", err
	}
	var id models.UUID
	if err := sub.s.codec.Unmarshal(raw, &id); err != nil {
		return nil, "", fmt.Errorf("surreal: live: decode id: %w", err)
	}
	// Notifications read before this registration are replayed by onLive.
	c.onLive(id.String(), sub.push)
	return c, id.String(), nil
}

func (sub *Subscription[T]) push(n notification) {
	sub.mu.Lock()
	sub.queue = append(sub.queue, n)
	sub.mu.Unlock()
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// run watches the connection and re-establishes the live query after it
// breaks, with capped exponential backoff.
func (sub *Subscription[T]) run(c *conn, id string) {
	defer close(sub.done)
	for {
		select {
		case <-sub.stopped:
			c.offLive(id)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = killLive(ctx, c, id)
			cancel()
			return
		case <-c.done:
		}
		c.offLive(id)
		backoff := 50 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			nc, nid, err := sub.start(ctx)
			cancel()
			if err == nil {
				c, id = nc, nid
				sub.push(notification{Action: string(ActionResumed)})
				break
			}
			if sub.s.cfg.Logger != nil {
				sub.s.cfg.Logger.Warn("surreal: live query restart failed", "table", sub.table, "error", err)
			}
			select {
			case <-sub.stopped:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
		}
	}
}

func killLive(ctx context.Context, c *conn, id string) error {
	if c.closed() {
		return nil
	}
	_, err := c.call(ctx, nil, "kill", id)
	return err
}

// forward decodes queued notifications and sends them in order; the read
// loop never blocks on a slow consumer.
func (sub *Subscription[T]) forward() {
	defer close(sub.out)
	for {
		sub.mu.Lock()
		batch := sub.queue
		sub.queue = nil
		sub.mu.Unlock()
		for _, n := range batch {
			ev := sub.decode(n)
			select {
			case sub.out <- ev:
			case <-sub.stopped:
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-sub.wake:
		case <-sub.stopped:
			return
		}
	}
}

func (sub *Subscription[T]) decode(n notification) Event[T] {
	ev := Event[T]{Action: Action(n.Action)}
	if ev.Action == ActionResumed {
		return ev
	}
	if len(n.Record) > 0 {
		if err := sub.s.codec.Unmarshal(n.Record, &ev.ID); err != nil {
			ev.Err = fmt.Errorf("surreal: live: decode record id: %w", err)
		}
	}
	if len(n.Result) > 0 && !isNone(cbor.RawMessage(n.Result)) {
		if err := sub.s.codec.Unmarshal(n.Result, &ev.Value); err != nil {
			ev.Err = fmt.Errorf("surreal: live: decode record: %w", err)
		}
	}
	return ev
}
