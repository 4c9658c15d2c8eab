package mailparse

import (
	"bytes"
	"testing"
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
	})
}
