package cache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"
)

// ErrIntegrity is matched by the error reported (Observer.CacheError, Op
// "integrity") when a value read from Redis fails its integrity check: it
// was altered, truncated, or copied from another key. Such a value is
// treated as absent: the loader runs and its result replaces it.
var ErrIntegrity = errors.New("cache: value failed its integrity check")

// Envelope of every stored value:
//
//	[flags 1][soft expiry, unix ns, 8 big endian][MAC 16][codec bytes]
//
// MAC is HMAC-SHA-256 (truncated to 128 bits) keyed with Config.Secret (or
// a built-in key when none is set) over the value key, the flags, the soft
// expiry and the codec bytes. Binding the value key means a value copied
// under another key fails; with a secret, only holders of the secret can
// produce values that pass.
const (
	envFlags    = 1
	envSoftLen  = 8
	envMACLen   = 16
	envHeader   = envFlags + envSoftLen + envMACLen
	envNegative = 0x01
	envLinked   = 0x02                    // extra dependencies precede the codec bytes (link.go)
	envKnown    = envNegative | envLinked // flags this version understands
)

// defaultMACKey is used without Config.Secret: the check then catches
// corruption and values moved between keys, not forgery.
var defaultMACKey = []byte("datalayer/cache: value integrity v1")

type macer struct {
	pool sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newMacer(secret []byte) *macer {
	key := defaultMACKey
	if len(secret) > 0 {
		key = append([]byte(nil), secret...)
	}
	m := &macer{}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 256)} }
	return m
}

// sum writes the MAC of (vk, header-without-MAC, payload) into out.
func (m *macer) sum(out []byte, vk string, head []byte, payload []byte) {
	st := m.pool.Get().(*macState)
	st.h.Reset()
	b := binary.AppendUvarint(st.buf[:0], uint64(len(vk)))
	b = append(b, vk...)
	b = append(b, head...)
	st.h.Write(b)
	st.h.Write(payload)
	copy(out, st.h.Sum(st.sum[:0])[:envMACLen])
	st.buf = b[:0]
	m.pool.Put(st)
}

// seal encodes v (or a not-found marker) for value key vk.
func (c *Cache) seal(vk string, v any, negative bool, soft time.Time) ([]byte, error) {
	buf := make([]byte, envHeader, 128)
	binary.BigEndian.PutUint64(buf[envFlags:], uint64(soft.UnixNano()))
	if negative {
		buf[0] = envNegative
	} else {
		var err error
		if buf, err = c.codec.AppendMarshal(buf, v); err != nil {
			return nil, err
		}
	}
	c.mac.sum(buf[envFlags+envSoftLen:envHeader], vk, buf[:envFlags+envSoftLen], buf[envHeader:])
	return buf, nil
}

type envelope struct {
	negative bool
	soft     int64
	payload  []byte
	// links and linkVers: the extra dependencies of a linked value.
	links    []string
	linkVers []int64
}

// openEnvelope checks data against vk and splits it. Any failure wraps
// ErrIntegrity (and ErrCodec).
func (c *Cache) openEnvelope(vk string, data []byte) (envelope, error) {
	if len(data) < envHeader {
		return envelope{}, fmt.Errorf("%w: %w: short value (%d bytes)", ErrIntegrity, ErrCodec, len(data))
	}
	var want [envMACLen]byte
	c.mac.sum(want[:], vk, data[:envFlags+envSoftLen], data[envHeader:])
	if !hmac.Equal(want[:], data[envFlags+envSoftLen:envHeader]) {
		return envelope{}, fmt.Errorf("%w: %w: MAC mismatch", ErrIntegrity, ErrCodec)
	}
	if data[0]&^envKnown != 0 {
		return envelope{}, fmt.Errorf("%w: %w: unknown flags 0x%02x", ErrIntegrity, ErrCodec, data[0])
	}
	env := envelope{
		negative: data[0]&envNegative != 0,
		soft:     int64(binary.BigEndian.Uint64(data[envFlags:])),
		payload:  data[envHeader:],
	}
	if data[0]&envLinked != 0 {
		var err error
		if env.links, env.linkVers, env.payload, err = parseLinks(env.payload); err != nil {
			return envelope{}, err
		}
	}
	if env.negative && len(env.payload) != 0 {
		return envelope{}, fmt.Errorf("%w: %w: not-found marker with a payload", ErrIntegrity, ErrCodec)
	}
	return env, nil
}

// splitTrusted splits an envelope this process sealed itself.
func splitTrusted(data []byte) envelope {
	env := envelope{
		negative: data[0]&envNegative != 0,
		soft:     int64(binary.BigEndian.Uint64(data[envFlags:])),
		payload:  data[envHeader:],
	}
	if data[0]&envLinked != 0 {
		env.links, env.linkVers, env.payload, _ = parseLinks(env.payload)
	}
	return env
}
