package cache_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
)

// FuzzValueDecoding feeds arbitrary bytes to the decoding Get applies to a
// value read from Redis. Whatever the input, it must not panic, and only
// the exact bytes sealed for that key may decode: anything else is a miss,
// never a wrong row or a not-found.
func FuzzValueDecoding(f *testing.F) {
	const vk = "dl:q:{s1:GetItem:abc:1.2.3}"
	secret := []byte("fuzz-secret")
	row := item{ID: 42, Name: "forty-two", At: time.Unix(1700000000, 5).UTC()}
	good, err := cache.SealValue(secret, vk, row, false)
	if err != nil {
		f.Fatal(err)
	}
	neg, err := cache.SealValue(secret, vk, nil, true)
	if err != nil {
		f.Fatal(err)
	}
	other, err := cache.SealValue(secret, "dl:q:{s1:GetItem:xyz:1.2.3}", item{ID: 7, Name: "seven"}, false)
	if err != nil {
		f.Fatal(err)
	}
	big := item{ID: 1, Name: string(bytes.Repeat([]byte("compressible "), 200))}
	bigSealed, err := cache.SealValue(secret, vk, big, false)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{good, neg, other, bigSealed, nil, {0x01}, good[:len(good)-1]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, negative, ok := cache.OpenValue[item](secret, vk, data)
		if !ok {
			return // a miss: the loader runs
		}
		switch {
		case bytes.Equal(data, good):
			if negative || v.ID != row.ID || v.Name != row.Name || !v.At.Equal(row.At) {
				t.Fatalf("genuine value decoded as %+v (negative %v)", v, negative)
			}
		case bytes.Equal(data, neg):
			if !negative {
				t.Fatal("genuine not-found decoded as a row")
			}
		case bytes.Equal(data, bigSealed):
			if negative || v.Name != big.Name {
				t.Fatal("genuine compressed value decoded wrongly")
			}
		default:
			t.Fatalf("bytes never sealed for this key were accepted: %+v (negative %v) from %x", v, negative, data)
		}
		// The same bytes under another key or secret are always a miss.
		if _, _, ok := cache.OpenValue[item](secret, vk+"x", data); ok {
			t.Fatal("value accepted under another key")
		}
		if _, _, ok := cache.OpenValue[item]([]byte("other secret"), vk, data); ok {
			t.Fatal("value accepted with another secret")
		}
	})
}

// FuzzCodecUnmarshal: the codec never panics on arbitrary input.
func FuzzCodecUnmarshal(f *testing.F) {
	codec := cache.NewCodec(0)
	for _, v := range []any{item{ID: 1, Name: "x"}, []item{{ID: 2}}, map[string]int{"a": 1}} {
		b, err := codec.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x02, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var v item
		_ = codec.Unmarshal(data, &v)
		var l []item
		_ = codec.Unmarshal(data, &l)
	})
}

// A damaged s2 length must be an error, not a multi-gigabyte allocation.
func TestCodecRejectsHugeDecodedLength(t *testing.T) {
	var v item
	err := cache.NewCodec(0).Unmarshal([]byte{0x02, 0xff, 0xff, 0xff, 0xff, 0x0f}, &v)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("err = %v", err)
	}
}

// Damaged msgpack lengths must be errors, not allocations of their size.
func TestCodecRejectsHugeDeclaredLengths(t *testing.T) {
	for _, d := range [][]byte{
		{0x01, 0xdd, 0x7f, 0xff, 0xff, 0xff}, // array32
		{0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff}, // map32
		{0x01, 0xdb, 0x7f, 0xff, 0xff, 0xff}, // str32
		{0x01, 0xc6, 0x7f, 0xff, 0xff, 0xff}, // bin32
		{0x01, 0x91, 0xdd, 0x7f, 0xff, 0xff, 0xff},
	} {
		var l []item
		var m map[string]item
		var s string
		var b []byte
		codec := cache.NewCodec(0)
		for _, v := range []any{&l, &m, &s, &b} {
			if err := codec.Unmarshal(d, v); err == nil {
				t.Fatalf("%x decoded into %T", d, v)
			}
		}
	}
}
