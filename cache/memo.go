package cache

import (
	"bytes"
	"sync"
)

// DefaultDecodedEntries is how many decoded values a Cache keeps.
const DefaultDecodedEntries = 10000

// memo keeps the decoded form of recently hit values, keyed by value key and
// checked against the encoded bytes, so a hit costs a byte comparison and a
// deep copy instead of a msgpack decode. Because the stored bytes are
// compared in full, a value rewritten under the same key (a refresh) is
// never answered from an old decoding. Every caller gets its own deep copy.
type memo struct {
	mu      sync.RWMutex
	entries map[string]*memoEntry
	max     int
	copier  copier
}

type memoEntry struct {
	enc []byte
	val any
}

func (m *memo) enabled() bool { return m.max > 0 }

// has reports whether key was decoded recently (its value is then
// probably in the in-process tier).
func (m *memo) has(key string) bool {
	if !m.enabled() {
		return false
	}
	m.mu.RLock()
	_, ok := m.entries[key]
	m.mu.RUnlock()
	return ok
}

func memoGet[T any](m *memo, key string, enc []byte) (T, bool) {
	var zero T
	if !m.enabled() {
		return zero, false
	}
	m.mu.RLock()
	e := m.entries[key]
	m.mu.RUnlock()
	if e == nil || !bytes.Equal(e.enc, enc) {
		return zero, false
	}
	v, ok := e.val.(T)
	if !ok {
		return zero, false
	}
	return deepCopy(&m.copier, v)
}

// memoPut stores a private deep copy of v (decoded from enc) under key.
func memoPut[T any](m *memo, key string, enc []byte, v T) {
	if !m.enabled() {
		return
	}
	own, ok := deepCopy(&m.copier, v)
	if !ok {
		return
	}
	e := &memoEntry{enc: bytes.Clone(enc), val: own}
	m.mu.Lock()
	if m.entries == nil {
		m.entries = make(map[string]*memoEntry)
	}
	if len(m.entries) >= m.max {
		for k := range m.entries { // map order is random enough to evict
			delete(m.entries, k)
			break
		}
	}
	m.entries[key] = e
	m.mu.Unlock()
}
