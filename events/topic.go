package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Codec turns a T into a message payload and back.
type Codec[T any] interface {
	Marshal(v T) ([]byte, error)
	Unmarshal(data []byte, v *T) error
}

// JSON is the default Codec (encoding/json).
type JSON[T any] struct{}

// Marshal encodes v as JSON.
func (JSON[T]) Marshal(v T) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON into v.
func (JSON[T]) Unmarshal(data []byte, v *T) error { return json.Unmarshal(data, v) }

// Topic names a stream of events of type T. The zero Codec is JSON. A Topic
// is a plain value: declare it once (a package variable) and share it
// between publishers and subscribers.
type Topic[T any] struct {
	// Name is the channel name under Config.Prefix, e.g. "task.status.<id>".
	// For SubscribePattern it is a Redis glob pattern (* ? [...]).
	Name string
	// Codec encodes values (nil: JSON).
	Codec Codec[T]
}

func (t Topic[T]) codec() Codec[T] {
	if t.Codec == nil {
		return JSON[T]{}
	}
	return t.Codec
}

func (t Topic[T]) check() error {
	if t.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalid)
	}
	if strings.ContainsAny(t.Name, "\r\n") {
		return fmt.Errorf("%w: topic name %q contains a line break", ErrInvalid, t.Name)
	}
	return nil
}

// Event is one delivered message.
type Event[T any] struct {
	// ID is unique per published event ("<publisher>-<sequence>"); empty
	// for messages published by other tools (redis-cli PUBLISH).
	ID string
	// Channel is the topic name the event was published to (without the
	// prefix); for pattern subscriptions it says which name matched.
	Channel string
	// Published is the publisher's clock at Publish (zero if unknown).
	Published time.Time
	// Gap is set when events before this one may have been lost on this
	// subscription: its buffer overflowed, or the connection to Redis
	// dropped and was re-established. Re-read state if that matters.
	Gap bool
	// Value is the decoded payload.
	Value T
}
