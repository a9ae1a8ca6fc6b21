package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/redis/rueidis"
)

// Errors. Every error of this package starts with "events: " and matches
// one of these with errors.Is.
var (
	// ErrUnavailable: Redis could not be reached in time (publish failed,
	// subscription not confirmed, breaker open). The cause is wrapped too.
	ErrUnavailable = errors.New("events: redis unavailable")
	// ErrClosed: the Bus was closed.
	ErrClosed = errors.New("events: bus closed")
	// ErrInvalid: bad argument or configuration (empty topic name, ...).
	ErrInvalid = errors.New("events: invalid")
	// ErrCodec: a value could not be encoded.
	ErrCodec = errors.New("events: codec")
)

// Defaults for zero Config fields.
const (
	DefaultPrefix           = "dl:ev"
	DefaultPublishTimeout   = 250 * time.Millisecond
	DefaultSubscribeTimeout = 2 * time.Second
	DefaultBuffer           = 64
	DefaultReconnectMin     = 50 * time.Millisecond
	DefaultReconnectMax     = 2 * time.Second
	DefaultBreakerThreshold = 3
	DefaultBreakerDelay     = time.Second
)

// Config configures a Bus. The zero value is valid: every zero field takes
// the documented default.
type Config struct {
	// Prefix starts every channel name: a topic "x" is the Redis channel
	// "<Prefix>:x" (default "dl:ev"). Give each application, tenant or test
	// its own prefix. It must not contain glob characters (* ? [ ] \) or
	// line breaks.
	Prefix string
	// PublishTimeout bounds one PUBLISH (default 250ms).
	PublishTimeout time.Duration
	// SubscribeTimeout bounds how long Subscribe waits for Redis to confirm
	// the subscription (default 2s).
	SubscribeTimeout time.Duration
	// Buffer is each subscription's capacity in events (default 64); when
	// full, the oldest buffered event is dropped.
	Buffer int
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// resubscription attempts after a lost connection (defaults 50ms, 2s).
	ReconnectMin, ReconnectMax time.Duration
	// BreakerThreshold consecutive publish failures open the publish breaker
	// (default 3): Publish then fails at once with ErrUnavailable until
	// BreakerDelay (default 1s) has passed and one publish probes Redis.
	BreakerThreshold uint
	BreakerDelay     time.Duration
	// Logger, if set, receives lost connections, resubscriptions and
	// undecodable messages.
	Logger *slog.Logger
}

func (cfg *Config) setDefaults() error {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(cfg.Prefix, "*?[]\\\r\n") {
		return fmt.Errorf("%w: Config.Prefix %q must not contain * ? [ ] \\ or line breaks", ErrInvalid, cfg.Prefix)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PublishTimeout, DefaultPublishTimeout)
	def(&cfg.SubscribeTimeout, DefaultSubscribeTimeout)
	def(&cfg.ReconnectMin, DefaultReconnectMin)
	def(&cfg.ReconnectMax, DefaultReconnectMax)
	def(&cfg.BreakerDelay, DefaultBreakerDelay)
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = DefaultBreakerThreshold
	}
	return nil
}

// Bus publishes and subscribes on one rueidis client. Safe for concurrent
// use; create one per client and share it (two Buses subscribed to the same
// channel on one client would end each other's Redis subscription when one
// leaves; they recover, but an event may be lost). It does not own the
// client: close the Bus before the client (cache.Close). If the client is
// closed first, subscriptions end and Publish fails.
type Bus struct {
	client  rueidis.Client
	cfg     Config
	pubID   string
	seq     atomic.Uint64
	breaker circuitbreaker.CircuitBreaker[any]

	mu       sync.Mutex
	entries  map[entryKey]*entry
	stopping map[entryKey]<-chan struct{} // done of entries still unsubscribing
	closed   bool
	wg       sync.WaitGroup

	stats struct {
		published, publishErrors, delivered, dropped, undecodable, reconnects atomic.Uint64
		subscriptions                                                         atomic.Int64
	}
}

// New returns a Bus on client, normally the cache's (cache.Cache.Client()),
// so events share its connection, TLS and credentials. The client should
// have rueidis' own retries disabled (cache clients do) so the timeouts
// here hold.
func New(client rueidis.Client, cfg Config) (*Bus, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: New: nil client", ErrInvalid)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	b := &Bus{
		client:  client,
		cfg:     cfg,
		pubID:   hex.EncodeToString(id[:]),
		entries: make(map[entryKey]*entry),
	}
	b.breaker = circuitbreaker.NewBuilder[any]().
		HandleIf(func(_ any, err error) bool { return err != nil }).
		WithFailureThreshold(cfg.BreakerThreshold).
		WithDelay(cfg.BreakerDelay).
		Build()
	return b, nil
}

// Channel returns the Redis channel a topic name maps to.
func (b *Bus) Channel(name string) string { return b.cfg.Prefix + ":" + name }

// Stats are counters since New.
type Stats struct {
	Published     uint64 // successful PUBLISH calls
	PublishErrors uint64 // Publish calls that returned ErrUnavailable
	Delivered     uint64 // events handed to a subscription's buffer
	Dropped       uint64 // events dropped because a buffer was full
	Undecodable   uint64 // messages no subscription could decode (skipped)
	Reconnects    uint64 // lost Redis subscriptions (each is resubscribed)
	Subscriptions int64  // open subscriptions
}

// Stats returns the Bus counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Published:     b.stats.published.Load(),
		PublishErrors: b.stats.publishErrors.Load(),
		Delivered:     b.stats.delivered.Load(),
		Dropped:       b.stats.dropped.Load(),
		Undecodable:   b.stats.undecodable.Load(),
		Reconnects:    b.stats.reconnects.Load(),
		Subscriptions: b.stats.subscriptions.Load(),
	}
}

// Available reports whether the publish breaker lets publishes through.
func (b *Bus) Available() bool { return !b.breaker.IsOpen() }

// Close ends every subscription (their channels close) and waits for their
// Redis subscriptions to be released. Later Publish and Subscribe calls
// return ErrClosed. It does not close the client.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var subs []closer
	for _, e := range b.entries {
		for _, s := range e.subscribers() {
			subs = append(subs, s)
		}
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.close()
	}
	b.wg.Wait()
	return nil
}

// Publish sends v to every current subscriber of topic. It returns an
// error matching ErrUnavailable, quickly, when Redis is down (see the
// package doc); the value is then not delivered.
func Publish[T any](ctx context.Context, b *Bus, topic Topic[T], v T) error {
	if err := topic.check(); err != nil {
		return err
	}
	data, err := topic.codec().Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode %s: %w", ErrCodec, topic.Name, err)
	}
	return b.publish(ctx, topic.Name, data)
}

// header is "dl1 <id> <unix nanos>\n" in front of the codec's bytes.
const headerMagic = "dl1 "

func (b *Bus) publish(ctx context.Context, name string, data []byte) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if !b.breaker.TryAcquirePermit() {
		b.stats.publishErrors.Add(1)
		return fmt.Errorf("%w (publish %s): breaker open", ErrUnavailable, name)
	}
	id := b.pubID + "-" + strconv.FormatUint(b.seq.Add(1), 10)
	msg := make([]byte, 0, len(headerMagic)+len(id)+22+len(data))
	msg = append(msg, headerMagic...)
	msg = append(msg, id...)
	msg = append(msg, ' ')
	msg = strconv.AppendInt(msg, time.Now().UnixNano(), 10)
	msg = append(msg, '\n')
	msg = append(msg, data...)

	pctx, cancel := context.WithTimeout(ctx, b.cfg.PublishTimeout)
	defer cancel()
	err := b.client.Do(pctx, b.client.B().Publish().Channel(b.Channel(name)).Message(rueidis.BinaryString(msg)).Build()).Error()
	if err != nil {
		if ctx.Err() != nil {
			b.breaker.RecordSuccess() // the caller gave up; says nothing about Redis
			b.stats.publishErrors.Add(1)
			return fmt.Errorf("events: publish %s: %w", name, ctx.Err())
		}
		b.breaker.RecordFailure()
		b.stats.publishErrors.Add(1)
		return fmt.Errorf("%w (publish %s): %w", ErrUnavailable, name, err)
	}
	b.breaker.RecordSuccess()
	b.stats.published.Add(1)
	return nil
}

// parseMessage splits a payload into id, publish time and the codec bytes.
// Payloads without our header (published by other tools) are all data.
func parseMessage(p []byte) (id string, at time.Time, data []byte) {
	if !bytes.HasPrefix(p, []byte(headerMagic)) {
		return "", time.Time{}, p
	}
	nl := bytes.IndexByte(p, '\n')
	if nl < 0 {
		return "", time.Time{}, p
	}
	fields := strings.Fields(string(p[len(headerMagic):nl]))
	if len(fields) != 2 {
		return "", time.Time{}, p
	}
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return "", time.Time{}, p
	}
	return fields[0], time.Unix(0, ns), p[nl+1:]
}

func (b *Bus) logWarn(msg string, attrs ...slog.Attr) {
	if l := b.cfg.Logger; l != nil {
		l.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
	}
}
