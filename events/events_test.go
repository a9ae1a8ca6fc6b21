package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentical/datalayer/events"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/google/uuid"
)

func TestPublishSubscribe(t *testing.T) {
	b, _ := newBus(t, testinfra.Redis(t), nil)
	ctx := t.Context()
	items := events.Topic[item]{Name: "items"}
	other := events.Topic[item]{Name: "other"}

	s1, err := events.Subscribe(ctx, b, items)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := events.Subscribe(ctx, b, items)
	if err != nil {
		t.Fatal(err)
	}
	s3, err := events.Subscribe(ctx, b, other)
	if err != nil {
		t.Fatal(err)
	}
	if !s1.Connected() {
		t.Fatal("Subscribe returned before the subscription was confirmed")
	}
	before := time.Now()
	for i := range 5 {
		if err := events.Publish(ctx, b, items, item{N: i, Name: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := events.Publish(ctx, b, other, item{N: 100}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*events.Subscription[item]{s1, s2} {
		ids := map[string]bool{}
		for i := range 5 {
			ev := next(t, s)
			if ev.Value != (item{N: i, Name: "x"}) || ev.Channel != "items" || ev.Gap {
				t.Fatalf("event %d: %+v", i, ev)
			}
			if ev.ID == "" || ids[ev.ID] {
				t.Fatalf("event %d: id %q empty or repeated", i, ev.ID)
			}
			ids[ev.ID] = true
			if ev.Published.Before(before.Add(-time.Second)) || ev.Published.After(time.Now()) {
				t.Fatalf("event %d: published %v", i, ev.Published)
			}
		}
	}
	// The other topic's subscriber saw only its own event.
	if ev := next(t, s3); ev.Value.N != 100 || ev.Channel != "other" {
		t.Fatalf("other topic: %+v", ev)
	}
	st := b.Stats()
	if st.Published != 6 || st.Delivered != 11 || st.Subscriptions != 3 || st.Dropped != 0 {
		t.Fatalf("stats: %+v", st)
	}
	s3.Close()
	if _, ok := <-s3.C(); ok {
		t.Fatal("channel open after Close")
	}
	eventually(t, "subscription count", func() bool { return b.Stats().Subscriptions == 2 })
}

// Two buses with different prefixes on one Redis never see each other's
// events, even for the same topic name.
func TestPrefixIsolation(t *testing.T) {
	target := testinfra.Redis(t)
	a, c := newBus(t, target, func(cfg *events.Config) { cfg.Prefix = target.Prefix + "tenant-a" })
	b, err := events.New(c.Client(), events.Config{Prefix: target.Prefix + "tenant-b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	topic := events.Topic[item]{Name: "items"}
	sb, err := events.Subscribe(ctx, b, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := events.Publish(ctx, a, topic, item{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := events.Publish(ctx, b, topic, item{N: 42}); err != nil {
		t.Fatal(err)
	}
	// Redis delivers in publish order: a leaked event from a would come first.
	if ev := next(t, sb); ev.Value.N != 42 {
		t.Fatalf("tenant b received %+v", ev)
	}
	if got := b.Channel("items"); got != target.Prefix+"tenant-b:items" {
		t.Fatalf("channel %q", got)
	}
}

func TestPatternAndTaskStatus(t *testing.T) {
	b, _ := newBus(t, testinfra.Redis(t), nil)
	ctx := t.Context()
	all, err := events.SubscribePattern(ctx, b, events.AllTaskStatus)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := uuid.New(), uuid.New()
	one, err := events.Subscribe(ctx, b, events.TaskStatusTopic(t1))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 3, 0, 0, 123456789, time.UTC)
	if err := events.PublishTaskStatusChanged(ctx, b, events.TaskStatusChanged{TaskID: t2, From: "pending", To: "running", Version: 2, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := events.PublishTaskStatusChanged(ctx, b, events.TaskStatusChanged{TaskID: t1, From: "running", To: "completed"}); err != nil {
		t.Fatal(err)
	}
	e1, e2 := next(t, all), next(t, all)
	if e1.Channel != "task.status."+t2.String() || e1.Value != (events.TaskStatusChanged{TaskID: t2, From: "pending", To: "running", Version: 2, At: at}) {
		t.Fatalf("pattern event 1: %+v", e1)
	}
	if e2.Channel != "task.status."+t1.String() || e2.Value.To != "completed" || e2.Value.At.IsZero() {
		t.Fatalf("pattern event 2: %+v", e2)
	}
	if ev := next(t, one); ev.Value.TaskID != t1 || ev.Value.From != "running" {
		t.Fatalf("task topic got %+v (must only see its own task)", ev)
	}
	err = events.PublishTaskStatusChanged(ctx, b, events.TaskStatusChanged{TaskID: t1})
	if !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("missing To: %v", err)
	}
}

// A consumer that does not read loses the oldest events, never blocks the
// connection, and sees Gap on the first event after a loss.
func TestOverflowDropsOldest(t *testing.T) {
	b, c := newBus(t, testinfra.Redis(t), func(cfg *events.Config) { cfg.Buffer = 4 })
	ctx := t.Context()
	topic := events.Topic[item]{Name: "burst"}
	sub, err := events.Subscribe(ctx, b, topic)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := range n {
		if err := events.Publish(ctx, b, topic, item{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all messages dispatched", func() bool { return sub.Stats().Received == n })
	// The shared connection was never held up: the cache's client answers.
	if err := c.Client().Do(ctx, c.Client().B().Ping().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	var got []events.Event[item]
	for len(got) == 0 || got[len(got)-1].Value.N != n-1 {
		got = append(got, next(t, sub))
	}
	st := sub.Stats()
	if uint64(len(got))+st.Dropped != n || st.Dropped < n-4-1 || b.Stats().Dropped != st.Dropped {
		t.Fatalf("received %d, dropped %d (bus %d)", len(got), st.Dropped, b.Stats().Dropped)
	}
	for i, ev := range got {
		lost := i > 0 && ev.Value.N != got[i-1].Value.N+1
		if i > 0 && ev.Value.N <= got[i-1].Value.N {
			t.Fatalf("out of order: %d after %d", ev.Value.N, got[i-1].Value.N)
		}
		if ev.Gap != lost {
			t.Fatalf("event %d (n=%d): Gap=%v, events lost before it: %v", i, ev.Value.N, ev.Gap, lost)
		}
	}
}

// Closing the last local subscriber releases the Redis subscription, and a
// new subscription of the same channel right after works (the old one's
// UNSUBSCRIBE must not end it).
func TestUnsubscribeAndResubscribe(t *testing.T) {
	b, c := newBus(t, testinfra.Redis(t), nil)
	ctx := t.Context()
	client := c.Client()
	topic := events.Topic[item]{Name: "churn"}
	numsub := func() int64 {
		m, err := client.Do(ctx, client.B().PubsubNumsub().Channel(b.Channel(topic.Name)).Build()).AsIntMap()
		if err != nil {
			t.Fatal(err)
		}
		return m[b.Channel(topic.Name)]
	}
	for round := range 5 {
		subCtx, cancel := context.WithCancel(ctx)
		sub, err := events.Subscribe(subCtx, b, topic)
		if err != nil {
			t.Fatal(err)
		}
		if err := events.Publish(ctx, b, topic, item{N: round}); err != nil {
			t.Fatal(err)
		}
		if ev := next(t, sub); ev.Value.N != round {
			t.Fatalf("round %d: %+v", round, ev)
		}
		cancel() // the subscription ends with its context
		if _, ok := <-sub.C(); ok {
			t.Fatal("channel open after its context ended")
		}
	}
	eventually(t, "PUBSUB NUMSUB 0", func() bool { return numsub() == 0 })
}

func TestUndecodableSkipped(t *testing.T) {
	b, c := newBus(t, testinfra.Redis(t), nil)
	ctx := t.Context()
	topic := events.Topic[item]{Name: "raw"}
	sub, err := events.Subscribe(ctx, b, topic)
	if err != nil {
		t.Fatal(err)
	}
	client := c.Client()
	// Another tool publishes: one bad payload, one plain JSON without our header.
	for _, msg := range []string{"not json", `{"n":7,"name":"plain"}`} {
		if err := client.Do(ctx, client.B().Publish().Channel(b.Channel("raw")).Message(msg).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	ev := next(t, sub)
	if ev.Value != (item{N: 7, Name: "plain"}) || ev.ID != "" || !ev.Published.IsZero() {
		t.Fatalf("plain message: %+v", ev)
	}
	if st := sub.Stats(); st.Undecodable != 1 || b.Stats().Undecodable != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBusClose(t *testing.T) {
	b, _ := newBus(t, testinfra.Redis(t), nil)
	ctx := t.Context()
	topic := events.Topic[item]{Name: "closing"}
	sub, err := events.Subscribe(ctx, b, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.C(); ok {
		t.Fatal("subscription open after Bus.Close")
	}
	if err := events.Publish(ctx, b, topic, item{}); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	if _, err := events.Subscribe(ctx, b, topic); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

func TestInvalid(t *testing.T) {
	target := testinfra.Redis(t)
	c := newCache(t, target)
	if _, err := events.New(nil, events.Config{}); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("nil client: %v", err)
	}
	for _, p := range []string{"a*", "a?", "a[b]", `a\b`, "a\nb"} {
		_, err := events.New(c.Client(), events.Config{Prefix: p})
		if !errors.Is(err, events.ErrInvalid) {
			t.Fatalf("prefix %q: %v", p, err)
		}
	}
	b, err := events.New(c.Client(), events.Config{Prefix: target.Prefix + "ev"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := events.Publish(t.Context(), b, events.Topic[int]{}, 1); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("empty topic: %v", err)
	}
	if _, err := events.Subscribe(t.Context(), b, events.Topic[int]{}); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("empty topic: %v", err)
	}
	bad := events.Topic[chan int]{Name: "chan"}
	if err := events.Publish(t.Context(), b, bad, make(chan int)); !errors.Is(err, events.ErrCodec) {
		t.Fatalf("unencodable: %v", err)
	}
}

// Redis stopped and restarted: publishing fails fast with ErrUnavailable
// (then the breaker answers at once), a new Subscribe fails the same way,
// and the existing subscription resubscribes by itself: an event published
// after the restart is received, flagged as following a gap.
func TestRedisRestartResubscribes(t *testing.T) {
	srv := testinfra.PrivateRedis(t)
	target := testinfra.RedisTarget{Addr: srv.Addr(), Prefix: "restart:"}
	b, _ := newBus(t, target, func(cfg *events.Config) {
		cfg.ReconnectMin = 20 * time.Millisecond
		cfg.ReconnectMax = 200 * time.Millisecond
		cfg.BreakerDelay = 200 * time.Millisecond
	})
	ctx := t.Context()
	topic := events.Topic[item]{Name: "restart"}
	sub, err := events.Subscribe(ctx, b, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Publish(ctx, b, topic, item{N: 1}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, sub); ev.Value.N != 1 {
		t.Fatalf("before restart: %+v", ev)
	}

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "subscription to notice the outage", func() bool { return !sub.Connected() })
	for i := range events.DefaultBreakerThreshold + 2 {
		start := time.Now()
		err := events.Publish(ctx, b, topic, item{N: -1})
		took := time.Since(start)
		t.Logf("publish %d with redis down: %v after %v", i, err, took)
		if !errors.Is(err, events.ErrUnavailable) {
			t.Fatalf("publish with redis down: %v", err)
		}
		if took > 3*time.Second { // a bound against blocking, not a speed target
			t.Fatalf("publish blocked %v", took)
		}
	}
	if b.Available() {
		t.Fatal("publish breaker still closed after repeated failures")
	}
	start := time.Now()
	_, err = events.Subscribe(ctx, b, events.Topic[item]{Name: "while-down"})
	t.Logf("subscribe with redis down: %v after %v", err, time.Since(start))
	if !errors.Is(err, events.ErrUnavailable) {
		t.Fatalf("subscribe with redis down: %v", err)
	}

	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "resubscription", sub.Connected)
	eventually(t, "publish after restart", func() bool {
		return events.Publish(ctx, b, topic, item{N: 2}) == nil
	})
	ev := next(t, sub)
	if ev.Value.N != 2 || !ev.Gap {
		t.Fatalf("after restart: %+v (want n=2 with Gap)", ev)
	}
	if st := b.Stats(); st.Reconnects < 1 || st.PublishErrors < events.DefaultBreakerThreshold {
		t.Fatalf("stats %+v", st)
	}
}

// Closing the client under the Bus (cache.Close first) ends subscriptions
// instead of leaving them retrying forever.
func TestClientClosedEndsSubscriptions(t *testing.T) {
	b, c := newBus(t, testinfra.Redis(t), nil)
	sub, err := events.Subscribe(t.Context(), b, events.Topic[item]{Name: "client-closed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-sub.C():
		if ok {
			t.Fatal("event after the client closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription still open after its client closed")
	}
	eventually(t, "no subscriptions", func() bool { return b.Stats().Subscriptions == 0 })
	if err := events.Publish(t.Context(), b, events.Topic[item]{Name: "client-closed"}, item{}); !errors.Is(err, events.ErrUnavailable) {
		t.Fatalf("publish on a closed client: %v", err)
	}
}
