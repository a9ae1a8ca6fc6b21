package cache

import (
	"fmt"
	"log/slog"
)

// Secret is key material that must never be printed: every fmt verb, JSON
// and slog show "[REDACTED]" (or "" when empty).
type Secret []byte

const redacted = "[REDACTED]"

func (s Secret) String() string {
	if len(s) == 0 {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the bytes.
func (s Secret) GoString() string { return fmt.Sprintf("cache.Secret(%q)", s.String()) }

// Format applies to every verb (%v %+v %#v %s %x %q ...).
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalJSON never emits the bytes.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText never emits the bytes.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue never emits the bytes.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
