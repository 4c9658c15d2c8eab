package mailparse

import (
	"encoding/binary"
	"math/bits"
)

// Eight bytes at a time ("SIMD within a register"): the scans over a
// message's whole text that the standard library has no vectorised form
// for. Each byte of a word is tested on its own (no carry crosses from one
// byte to the next), so the results are exact.

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
)

// swarRange returns a word with the high bit of each byte of w that lies in
// [lo, hi] set (lo and hi are ASCII, lo <= hi), the other bits clear.
func swarRange(w uint64, lo, hi byte) uint64 {
	x := w &^ swarHighs // 7 bits per byte: adding below 0x80 cannot carry
	ge := x + swarOnes*uint64(0x80-lo)
	gt := x + swarOnes*uint64(0x80-hi-1)
	return ge &^ gt &^ w & swarHighs
}

// indexDigit returns the index of the first ASCII digit in s, or -1.
func indexDigit(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if m := swarRange(load64(s[i:]), '0', '9'); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if isDigit(s[i]) {
			return i
		}
	}
	return -1
}

// load64 reads the first eight bytes of s as a little-endian word.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// lowerASCII lower-cases the ASCII letters of b in place.
func lowerASCII(b []byte) {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if m := swarRange(w, 'A', 'Z'); m != 0 {
			binary.LittleEndian.PutUint64(b[i:], w|m>>2) // 0x80>>2 is 'a'-'A'
		}
	}
	for ; i < len(b); i++ {
		b[i] = asciiLowerTable[b[i]]
	}
}

// asciiPrefix returns the length of the run of ASCII bytes that starts b.
func asciiPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := binary.LittleEndian.Uint64(b[i:]) & swarHighs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b) && b[i] < 0x80; i++ {
	}
	return i
}
