package mailparse

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// FuzzAppendText checks the shortcuts of appendText (clean text, CRLF text)
// against the byte-by-byte path.
func FuzzAppendText(f *testing.F) {
	for _, s := range []string{"plain\ntext", "crlf\r\ntext\r\n", "lone\rcr", "é\r\nü\r\n", "c1\u0085", "bad\xff\r\n", "\r\r\n\n", "tab\t\r\n"} {
		f.Add([]byte(s), 100)
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		got := appendText([]byte(">"), data, max)
		want := appendTextSlow([]byte(">"), data, max)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendText(%q, %d) = %q, byte by byte %q", data, max, got, want)
		}
		if utf8.Valid(data) {
			if got := appendTextValid([]byte(">"), data, max, true); !bytes.Equal(got, want) {
				t.Fatalf("appendTextValid(%q, %d) = %q, byte by byte %q", data, max, got, want)
			}
		}
	})
}

// TestWindows1252Valid: textBytes marks Windows-1252-decoded text as valid
// UTF-8 without checking; every byte must decode to valid UTF-8.
func TestWindows1252Valid(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	d, err := charmap.Windows1252.NewDecoder().Bytes(all)
	if err != nil || !utf8.Valid(d) || utf8.RuneCount(d) != 256 {
		t.Fatalf("Windows-1252 decoding of every byte: %q, %v", d, err)
	}
}

// TestDecodeWindows1252: decodeWindows1252 yields what x/text's decoder
// yields, for every byte alone, every byte among ASCII, and appended to
// existing bytes.
func TestDecodeWindows1252(t *testing.T) {
	var inputs [][]byte
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
		inputs = append(inputs, []byte{byte(i)}, []byte{'a', byte(i), 'b', byte(i)})
	}
	inputs = append(inputs, all, []byte(""), []byte("plain ASCII\r\n"), []byte("Dr\xe4chenk\xf6pfe \x80 \x81\x8d\x8f\x90\x9d \xff"))
	for _, in := range inputs {
		want, err := charmap.Windows1252.NewDecoder().Bytes(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeWindows1252(nil, in); !bytes.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
		if got := decodeWindows1252([]byte("pre"), in); !bytes.Equal(got, append([]byte("pre"), want...)) {
			t.Errorf("%q after a prefix: got %q", in, got)
		}
	}
}

// TestHasC1: hasC1 finds a C1 control wherever it stands, after sparse or
// dense other C2 sequences (both of its search modes), and nothing else.
func TestHasC1(t *testing.T) {
	naive := func(b []byte) bool {
		for i := 0; i+1 < len(b); i++ {
			if b[i] == 0xc2 && b[i+1] >= 0x80 && b[i+1] < 0xa0 {
				return true
			}
		}
		return false
	}
	for _, filler := range []string{"abc ", "\u00a0", "\u00a0x", "ä", "\u00bf\u00a0"} {
		for n := 0; n < 400; n += 7 {
			prefix := strings.Repeat(filler, n)
			for _, tail := range []string{"", "\u0080", "\u009f", "\u0085 end", "\u00a0", "\xc2", "\xc2\x7f", "\u00c2\u0080"} {
				b := []byte(prefix + tail)
				if got, want := hasC1(b), naive(b); got != want {
					t.Fatalf("%d × %q + %q: hasC1 %v, want %v", n, filler, tail, got, want)
				}
			}
		}
	}
}
