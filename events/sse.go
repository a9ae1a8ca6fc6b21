package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults for zero SSEConfig fields.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultRetry        = 2 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultResyncEvent  = "resync"
)

// SSEConfig configures SSEHandler. The zero value is valid.
type SSEConfig[T any] struct {
	// Pattern subscribes with SubscribePattern (topic.Name is a glob).
	Pattern bool
	// Event is the SSE "event:" field of every event; empty sends none, so
	// browsers deliver them to EventSource.onmessage.
	Event string
	// Encode renders an event's data (default: json.Marshal(ev.Value)).
	// Line breaks in it become several "data:" lines.
	Encode func(Event[T]) ([]byte, error)
	// Heartbeat is the interval of ": ping" comment lines that keep proxies
	// from closing an idle stream and detect gone clients (default 15s).
	Heartbeat time.Duration
	// Retry is the reconnection delay sent to the client in a "retry:"
	// field (default 2s; negative: not sent).
	Retry time.Duration
	// WriteTimeout bounds each write to the client (default 10s): a client
	// that stops reading is dropped instead of holding the stream. It
	// replaces the server's WriteTimeout, which would otherwise end every
	// stream after a fixed time.
	WriteTimeout time.Duration
	// ResyncEvent is the name of the event sent when the client may have
	// missed events (default "resync"); see SSEHandler.
	ResyncEvent string
}

// SSEHandler streams a subscription to topic as server-sent events
// (text/event-stream), one subscription per request.
//
// Framing: each event is "id: <Event.ID>", "event: <SSEConfig.Event>" (if
// set), one "data: " line per line of the encoded value, and a blank line;
// every event is flushed at once. The stream starts, after Redis confirmed
// the subscription, with a "retry:" field and a ": subscribed" comment, so a
// client that has read the first bytes knows later events will reach it.
// Comment lines ": ping" follow every SSEConfig.Heartbeat. If Redis cannot
// be reached the response is 503 with Retry-After: 1. The subscription
// ends when the client disconnects (request context), when a write times
// out, or when the Bus is closed (the stream then ends; EventSource
// clients reconnect).
//
// Last-Event-ID: Redis pub/sub keeps no history, so events are never
// replayed. A request carrying Last-Event-ID (a reconnecting EventSource)
// first gets an event named SSEConfig.ResyncEvent with data
// {"reason":"reconnect"}; the same event with {"reason":"gap"} precedes an
// event whose Gap flag is set (buffer overflow or Redis reconnect). A
// client re-reads the state it shows when it sees one.
//
// A handler per request is cheap: a service streaming one task's changes
// can call SSEHandler(bus, TaskStatusTopic(id), cfg).ServeHTTP(w, r) from
// its own handler. The ResponseWriter must support flushing
// (http.ResponseController).
func SSEHandler[T any](b *Bus, topic Topic[T], cfg SSEConfig[T]) http.Handler {
	if cfg.Encode == nil {
		cfg.Encode = func(ev Event[T]) ([]byte, error) { return json.Marshal(ev.Value) }
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Retry == 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.ResyncEvent == "" {
		cfg.ResyncEvent = DefaultResyncEvent
	}
	cfg.Event = oneLine(cfg.Event)
	cfg.ResyncEvent = oneLine(cfg.ResyncEvent)
	return &sseHandler[T]{bus: b, topic: topic, cfg: cfg}
}

type sseHandler[T any] struct {
	bus   *Bus
	topic Topic[T]
	cfg   SSEConfig[T]
}

func (h *sseHandler[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, err := subscribe(ctx, h.bus, h.topic, h.cfg.Pattern)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return // the client left
		case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed):
			w.Header().Set("Retry-After", "1")
			http.Error(w, "event stream unavailable", http.StatusServiceUnavailable)
		default:
			http.Error(w, "event stream: "+err.Error(), http.StatusInternalServerError)
		}
		return
	}
	defer sub.Close()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	var buf bytes.Buffer
	send := func() bool {
		if err := rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		return err == nil && rc.Flush() == nil
	}

	if h.cfg.Retry > 0 {
		buf.WriteString("retry: " + strconv.FormatInt(h.cfg.Retry.Milliseconds(), 10) + "\n")
	}
	buf.WriteString(": subscribed\n\n")
	if r.Header.Get("Last-Event-ID") != "" {
		writeSSE(&buf, "", h.cfg.ResyncEvent, []byte(`{"reason":"reconnect"}`))
	}
	if !send() {
		return
	}

	tick := time.NewTicker(h.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			buf.WriteString(": ping\n\n")
		case ev, ok := <-sub.C():
			if !ok {
				return
			}
			data, err := h.cfg.Encode(ev)
			if err != nil {
				h.bus.logWarn("events: SSE encode failed, event skipped: " + err.Error())
				continue
			}
			if ev.Gap {
				writeSSE(&buf, "", h.cfg.ResyncEvent, []byte(`{"reason":"gap"}`))
			}
			writeSSE(&buf, ev.ID, h.cfg.Event, data)
			tick.Reset(h.cfg.Heartbeat) // an event is as good as a ping
		}
		if !send() {
			return
		}
	}
}

// writeSSE appends one event in text/event-stream framing.
func writeSSE(buf *bytes.Buffer, id, event string, data []byte) {
	if id = oneLine(id); id != "" {
		buf.WriteString("id: " + id + "\n")
	}
	if event != "" {
		buf.WriteString("event: " + event + "\n")
	}
	// Lines end with CRLF, LF or CR; each becomes its own data line.
	s := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	for line := range strings.SplitSeq(s, "\n") {
		buf.WriteString("data: ")
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
}

// oneLine drops what would break a field: line breaks and NUL.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\x00") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "", "\x00", "").Replace(s)
}
