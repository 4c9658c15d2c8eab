package mailparse

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSWAR checks the word-at-a-time scans against byte-by-byte ones for
// every byte value at every position of a word and of the tail, among
// neighbours of every kind (carries must not cross bytes).
func TestSWAR(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for n := 0; n <= 19; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				for _, fill := range []byte{'a', 'Z', '0', '9', 0x7f, 0x80, 0xff, 0, '/', ':', '@', '['} {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(c)
					inputs = append(inputs, b)
				}
			}
		}
	}
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		inputs = append(inputs, b)
	}
	for _, b := range inputs {
		wantDigit := -1
		for i, c := range b {
			if c >= '0' && c <= '9' {
				wantDigit = i
				break
			}
		}
		if got := indexDigit(string(b)); got != wantDigit {
			t.Fatalf("indexDigit(%q) = %d, want %d", b, got, wantDigit)
		}
		lower := bytes.Clone(b)
		lowerASCII(lower)
		if want := []byte(asciiLower(string(b))); !bytes.Equal(lower, want) {
			t.Fatalf("lowerASCII(%q) = %q, want %q", b, lower, want)
		}
		wantPrefix := 0
		for wantPrefix < len(b) && b[wantPrefix] < 0x80 {
			wantPrefix++
		}
		if got := asciiPrefix(b); got != wantPrefix {
			t.Fatalf("asciiPrefix(%q) = %d, want %d", b, got, wantPrefix)
		}
	}
}
