package cache

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"
)

// Codec header bytes: the first byte of every encoded value.
const (
	codecRaw byte = 0x01 // msgpack follows
	codecS2  byte = 0x02 // s2-compressed msgpack follows
)

// DefaultCompressThreshold is the encoded size above which values are
// compressed with s2.
const DefaultCompressThreshold = 1024

// MaxDecodedSize bounds the uncompressed size of a value Unmarshal accepts
// (128 MiB): a damaged length field is an error, not a huge allocation.
const MaxDecodedSize = 128 << 20

// ErrCodec is matched by every encoding and decoding error.
var ErrCodec = errors.New("cache: codec")

// Codec encodes values as msgpack (time.Time keeps nanoseconds; pgtype
// values round-trip) and compresses payloads above a threshold with s2. The
// first byte says which. Safe for concurrent use.
type Codec struct {
	threshold int
}

// NewCodec returns a Codec compressing payloads larger than threshold bytes
// (0: DefaultCompressThreshold; negative: never).
func NewCodec(threshold int) *Codec {
	if threshold == 0 {
		threshold = DefaultCompressThreshold
	}
	return &Codec{threshold: threshold}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Marshal encodes v. The result is owned by the caller.
func (c *Codec) Marshal(v any) ([]byte, error) {
	return c.AppendMarshal(nil, v)
}

// AppendMarshal appends the encoding of v to dst.
func (c *Codec) AppendMarshal(dst []byte, v any) ([]byte, error) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	enc := msgpack.GetEncoder()
	enc.Reset(buf)
	enc.UseCompactInts(true)
	err := enc.Encode(v)
	msgpack.PutEncoder(enc)
	if err != nil {
		return dst, fmt.Errorf("%w: encode %T: %w", ErrCodec, v, err)
	}
	raw := buf.Bytes()
	if c.threshold > 0 && len(raw) > c.threshold {
		dst = append(dst, codecS2)
		n := len(dst)
		dst = append(dst, make([]byte, s2.MaxEncodedLen(len(raw)))...)
		enc := s2.Encode(dst[n:], raw)
		return dst[:n+len(enc)], nil
	}
	dst = append(dst, codecRaw)
	return append(dst, raw...), nil
}

// Unmarshal decodes data into v (a pointer). It never keeps or modifies data:
// decoded byte slices are copies, so data may be a zero-copy view of a
// client-side cache entry.
func (c *Codec) Unmarshal(data []byte, v any) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty value", ErrCodec)
	}
	body := data[1:]
	switch data[0] {
	case codecRaw:
	case codecS2:
		n, err := s2.DecodedLen(body)
		if err != nil {
			return fmt.Errorf("%w: s2: %w", ErrCodec, err)
		}
		if n > MaxDecodedSize {
			// A damaged length must not make us allocate gigabytes.
			return fmt.Errorf("%w: s2: decoded length %d exceeds %d", ErrCodec, n, MaxDecodedSize)
		}
		out := make([]byte, n)
		if body, err = s2.Decode(out, body); err != nil {
			return fmt.Errorf("%w: s2: %w", ErrCodec, err)
		}
	default:
		return fmt.Errorf("%w: unknown header byte 0x%02x", ErrCodec, data[0])
	}
	if err := checkMsgpack(body); err != nil {
		return fmt.Errorf("%w: decode %T: %w", ErrCodec, v, err)
	}
	if err := msgpack.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: decode %T: %w", ErrCodec, v, err)
	}
	return nil
}
