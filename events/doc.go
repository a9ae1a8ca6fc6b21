// Package events is typed publish/subscribe on Redis for application events
// (a task changed status, an execution finished), on the same rueidis client
// as the cache and with the same fail-open rules, plus an HTTP handler that
// streams a subscription as server-sent events.
//
// # Publishing and subscribing
//
//	bus, err := events.New(c.Client(), events.Config{Prefix: "myapp:ev"}) // c is a *cache.Cache
//	var Orders = events.Topic[OrderPlaced]{Name: "orders.placed"}          // JSON unless Codec is set
//
//	err = events.Publish(ctx, bus, Orders, OrderPlaced{ID: 7})
//
//	sub, err := events.Subscribe(ctx, bus, Orders)
//	for ev := range sub.C() { use(ev.Value) } // closed when ctx ends, sub.Close() or bus.Close()
//
// A Topic's Name becomes the Redis channel <Prefix>:<Name>, so two services
// (or two tests) with different prefixes never see each other's events.
// SubscribePattern takes a Redis glob (PSUBSCRIBE) over names, e.g.
// "task.status.*"; Event.Channel then says which name matched.
//
// # Delivery guarantees
//
// Redis pub/sub is at-most-once and keeps no history: an event reaches the
// subscribers connected when it is published, in publish order per channel,
// and nobody else. Use events to tell clients that something changed, never
// as the only copy of a change (the database is the record).
//
//   - Publish never blocks on a slow or dead Redis: it is bounded by
//     Config.PublishTimeout, and after Config.BreakerThreshold consecutive
//     failures a breaker makes it fail at once for Config.BreakerDelay. Any
//     failure matches ErrUnavailable. A publish after a committed database
//     write should log such an error and go on (the write stands).
//   - Subscribe returns once Redis confirmed the subscription (bounded by
//     Config.SubscribeTimeout; ErrUnavailable otherwise), so an event
//     published after Subscribe returned is delivered.
//   - When the connection drops (Redis restarted, network), the
//     subscription stays open and resubscribes with capped exponential
//     backoff (Config.ReconnectMin..ReconnectMax). Events published while
//     it was disconnected are lost; the first event after the gap has
//     Event.Gap set so a consumer knows to re-read state.
//
// # Buffers and overflow
//
// rueidis hands messages over from the reader of the connection the cache's
// own commands share, through a small buffer: a handler that waited for a
// slow consumer would stall that connection. So delivery never waits: each
// subscription
// has a bounded buffer (Config.Buffer, default 64) and, when it is full, the
// OLDEST buffered event is dropped to make room for the new one (for status
// streams the latest state matters most). Drops are counted
// (Subscription.Stats, Bus.Stats) and the next delivered event has Event.Gap
// set. All local subscriptions of one channel share one Redis subscription.
//
// # Server-sent events
//
// SSEHandler streams a topic to HTTP clients (text/event-stream). See its
// documentation for framing, heartbeats and what Last-Event-ID does.
//
// # Task status changes
//
// PublishTaskStatusChanged is the helper a service calls after a task's
// status transition committed; TaskStatusTopic(id) is one task's stream and
// AllTaskStatus the pattern over all of them.
package events
