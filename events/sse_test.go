package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/events"
	"github.com/agentical/datalayer/internal/testinfra"
)

// frame is one parsed text/event-stream block: an event or a comment.
type frame struct {
	id, event, data string
	hasID           bool
	comments        []string
	retry           string
}

// readFrames parses the stream the way an EventSource does (fields up to a
// blank line) and sends each block on the returned channel, closed at EOF.
func readFrames(t testing.TB, body io.Reader) <-chan frame {
	t.Helper()
	out := make(chan frame, 64)
	go func() {
		defer close(out)
		br := bufio.NewReader(body)
		var f frame
		var data []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				f.data = strings.Join(data, "\n")
				out <- f
				f, data = frame{}, nil
				continue
			}
			if c, ok := strings.CutPrefix(line, ":"); ok {
				f.comments = append(f.comments, strings.TrimSpace(c))
				continue
			}
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "id":
				f.id, f.hasID = value, true
			case "event":
				f.event = value
			case "data":
				data = append(data, value)
			case "retry":
				f.retry = value
			default:
				t.Errorf("unknown field %q in line %q", name, line)
			}
		}
	}()
	return out
}

func nextFrame(t testing.TB, frames <-chan frame) frame {
	t.Helper()
	select {
	case f, ok := <-frames:
		if !ok {
			t.Fatal("stream ended")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	panic("unreachable")
}

// openStream GETs url and checks the response head.
func openStream(t testing.TB, ctx context.Context, url string, header http.Header) (*http.Response, <-chan frame) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Fatalf("Cache-Control %q", cc)
	}
	return resp, readFrames(t, resp.Body)
}

func TestSSEStream(t *testing.T) {
	b, _ := newBus(t, testinfra.Redis(t), nil)
	topic := events.Topic[item]{Name: "sse"}
	srv := httptest.NewServer(events.SSEHandler(b, topic, events.SSEConfig[item]{
		Event: "item", Heartbeat: 100 * time.Millisecond, Retry: 1500 * time.Millisecond,
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, frames := openStream(t, ctx, srv.URL, nil)

	// The first block arrives once the subscription is confirmed.
	first := nextFrame(t, frames)
	if first.retry != "1500" || len(first.comments) != 1 || first.comments[0] != "subscribed" || first.hasID {
		t.Fatalf("first block %+v", first)
	}
	for i := range 3 {
		if err := events.Publish(ctx, b, topic, item{N: i, Name: "sse"}); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]bool{}
	for i := 0; i < 3; {
		f := nextFrame(t, frames)
		if len(f.comments) > 0 && f.event == "" && f.data == "" {
			continue // a heartbeat between events
		}
		var got item
		if err := json.Unmarshal([]byte(f.data), &got); err != nil {
			t.Fatalf("event %d data %q: %v", i, f.data, err)
		}
		if got != (item{N: i, Name: "sse"}) || f.event != "item" || f.id == "" || ids[f.id] {
			t.Fatalf("event %d: %+v", i, f)
		}
		ids[f.id] = true
		i++
	}
	// Idle: heartbeats keep coming.
	if f := nextFrame(t, frames); len(f.comments) != 1 || f.comments[0] != "ping" || f.data != "" {
		t.Fatalf("heartbeat %+v", f)
	}
	if b.Stats().Subscriptions != 1 {
		t.Fatalf("subscriptions %d", b.Stats().Subscriptions)
	}
	// The client leaves: the handler ends and releases its subscription.
	cancel()
	eventually(t, "handler to end after disconnect", func() bool { return b.Stats().Subscriptions == 0 })
}

// Line breaks in the data become several data lines; Last-Event-ID gets a
// resync event first (nothing is replayed); Bus.Close ends the stream.
func TestSSEFramingResyncAndClose(t *testing.T) {
	b, _ := newBus(t, testinfra.Redis(t), nil)
	topic := events.Topic[item]{Name: "sse-lines"}
	srv := httptest.NewServer(events.SSEHandler(b, topic, events.SSEConfig[item]{
		Retry: -1,
		Encode: func(ev events.Event[item]) ([]byte, error) {
			return []byte("first\nsecond\r\nthird\r" + ev.Value.Name), nil
		},
	}))
	t.Cleanup(srv.Close)
	_, frames := openStream(t, t.Context(), srv.URL, http.Header{"Last-Event-Id": {"abc-1"}})

	if f := nextFrame(t, frames); f.retry != "" || len(f.comments) != 1 || f.comments[0] != "subscribed" {
		t.Fatalf("first block %+v", f)
	}
	if f := nextFrame(t, frames); f.event != "resync" || f.data != `{"reason":"reconnect"}` || f.hasID {
		t.Fatalf("resync %+v", f)
	}
	if err := events.Publish(t.Context(), b, topic, item{Name: "fourth"}); err != nil {
		t.Fatal(err)
	}
	if f := nextFrame(t, frames); f.data != "first\nsecond\nthird\nfourth" || f.event != "" || f.id == "" {
		t.Fatalf("multi-line event %+v", f)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case f, ok := <-frames:
		if ok {
			t.Fatalf("frame after Bus.Close: %+v", f)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open after Bus.Close")
	}
}

// A Gap (here: buffer overflow while the client is not reading) is
// announced with a resync event before the next event.
func TestSSEGapResync(t *testing.T) {
	b, _ := newBus(t, testinfra.Redis(t), func(cfg *events.Config) { cfg.Buffer = 1 })
	topic := events.Topic[item]{Name: "sse-gap"}
	release := make(chan struct{})
	srv := httptest.NewServer(events.SSEHandler(b, topic, events.SSEConfig[item]{
		Encode: func(ev events.Event[item]) ([]byte, error) {
			if ev.Value.N == 0 {
				<-release // a slow client: the handler is stuck on the first event
			}
			return json.Marshal(ev.Value)
		},
	}))
	t.Cleanup(srv.Close)
	_, frames := openStream(t, t.Context(), srv.URL, nil)
	nextFrame(t, frames) // subscribed
	for i := range 10 {
		if err := events.Publish(t.Context(), b, topic, item{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "drops", func() bool { return b.Stats().Dropped > 0 && b.Stats().Delivered == 10 })
	close(release)
	var got []string
	for len(got) == 0 || got[len(got)-1] != `{"n":9,"name":""}` {
		f := nextFrame(t, frames)
		if f.event == "resync" {
			got = append(got, "resync:"+f.data)
		} else {
			got = append(got, f.data)
		}
	}
	if len(got) < 3 || got[0] != `{"n":0,"name":""}` || got[len(got)-2] != `resync:{"reason":"gap"}` {
		t.Fatalf("stream %q", got)
	}
}

func TestSSEUnavailable(t *testing.T) {
	redis := testinfra.PrivateRedis(t)
	b, _ := newBus(t, testinfra.RedisTarget{Addr: redis.Addr(), Prefix: "sse503:"}, nil)
	if err := redis.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(events.SSEHandler(b, events.Topic[item]{Name: "x"}, events.SSEConfig[item]{}))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("status %s Retry-After %q body %q", resp.Status, resp.Header.Get("Retry-After"), body)
	}
}
