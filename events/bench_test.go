package events_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/agentical/datalayer/events"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/redis/rueidis"
)

// Publish: a bare rueidis PUBLISH of the same JSON next to events.Publish
// (envelope, codec, breaker, timeout).
func BenchmarkPublish(b *testing.B) {
	bus, c := newBus(b, testinfra.Redis(b), nil)
	client := c.Client()
	ctx := context.Background()
	topic := events.Topic[item]{Name: "bench.pub"}
	v := item{N: 1, Name: "benchmark"}
	b.Run("rueidis", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, _ := json.Marshal(v)
			if err := client.Do(ctx, client.B().Publish().Channel(bus.Channel(topic.Name)).Message(rueidis.BinaryString(data)).Build()).Error(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("events", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := events.Publish(ctx, bus, topic, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// RoundTrip: publish one event and wait until the subscriber has it, with a
// bare rueidis Receive and with events.Subscribe (1 and 10 local
// subscribers sharing one Redis subscription).
func BenchmarkRoundTrip(b *testing.B) {
	bus, c := newBus(b, testinfra.Redis(b), nil)
	client := c.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := item{N: 1, Name: "benchmark"}

	b.Run("rueidis", func(b *testing.B) {
		ch := bus.Channel("bench.raw")
		got := make(chan item, 1)
		ready := make(chan struct{})
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		go client.Receive(rueidis.WithOnSubscriptionHook(rctx, func(rueidis.PubSubSubscription) { close(ready) }),
			client.B().Subscribe().Channel(ch).Build(), func(m rueidis.PubSubMessage) {
				var x item
				_ = json.Unmarshal([]byte(m.Message), &x)
				got <- x
			})
		<-ready
		b.ReportAllocs()
		for b.Loop() {
			data, _ := json.Marshal(v)
			if err := client.Do(ctx, client.B().Publish().Channel(ch).Message(rueidis.BinaryString(data)).Build()).Error(); err != nil {
				b.Fatal(err)
			}
			<-got
		}
	})
	for _, n := range []int{1, 10} {
		b.Run("events-subs="+strconv.Itoa(n), func(b *testing.B) {
			topic := events.Topic[item]{Name: "bench.rt" + strconv.Itoa(n)}
			subs := make([]*events.Subscription[item], n)
			for i := range subs {
				s, err := events.Subscribe(ctx, bus, topic)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				subs[i] = s
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := events.Publish(ctx, bus, topic, v); err != nil {
					b.Fatal(err)
				}
				for _, s := range subs {
					<-s.C()
				}
			}
		})
	}
}
