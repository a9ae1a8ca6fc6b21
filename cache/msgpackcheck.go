package cache

import (
	"encoding/binary"
	"errors"
)

var errMsgpackShape = errors.New("malformed msgpack")

// checkMsgpack walks one msgpack value without allocating and rejects
// input whose declared lengths exceed what is left: every array element
// and map entry takes at least one byte, every string, binary or extension
// its declared size. The decoder itself would allocate a declared length in
// full before reading it (msgpack/v5's slice allocation limit does not
// apply), so a damaged length of 2^31 elements would exhaust memory.
func checkMsgpack(b []byte) error {
	pending := 1 // values still to read
	for pending > 0 {
		if len(b) == 0 {
			return errMsgpackShape
		}
		c := b[0]
		b = b[1:]
		pending--
		var size, items uint64 // payload bytes to skip, nested values to read
		switch {
		case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			items = 2 * uint64(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			items = uint64(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			size = uint64(c & 0x1f)
		default:
			var n int // bytes of the length or fixed-size payload
			switch c {
			case 0xc4, 0xd9: // bin8, str8
				n = 1
			case 0xc5, 0xda:
				n = 2
			case 0xc6, 0xdb:
				n = 4
			case 0xc7: // ext8: len + type
				n = 1
			case 0xc8:
				n = 2
			case 0xc9:
				n = 4
			case 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
				size = [...]uint64{4, 8, 1, 2, 4, 8, 1, 2, 4, 8}[c-0xca]
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext: type + 1..16
				size = 1 + [...]uint64{1, 2, 4, 8, 16}[c-0xd4]
			case 0xdc, 0xde:
				n = 2
			case 0xdd, 0xdf:
				n = 4
			default: // 0xc1 is never used
				return errMsgpackShape
			}
			if n > 0 {
				if len(b) < n {
					return errMsgpackShape
				}
				var l uint64
				switch n {
				case 1:
					l = uint64(b[0])
				case 2:
					l = uint64(binary.BigEndian.Uint16(b))
				case 4:
					l = uint64(binary.BigEndian.Uint32(b))
				}
				b = b[n:]
				switch c {
				case 0xdc, 0xdd:
					items = l
				case 0xde, 0xdf:
					items = 2 * l
				case 0xc7, 0xc8, 0xc9:
					size = l + 1 // the type byte
				default:
					size = l
				}
			}
		}
		if size > uint64(len(b)) || items > uint64(len(b)) {
			return errMsgpackShape
		}
		b = b[size:]
		pending += int(items)
	}
	return nil
}
