package mailparse

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
)

// checkHeaderFields fails when readHeaderFields and go-message's
// textproto.ReadHeader disagree on data: fields, error, or where the reader
// stops. A small bufio buffer exercises lines longer than the buffer.
func checkHeaderFields(t *testing.T, data []byte, bufSize int) {
	t.Helper()
	r1 := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
	h, err1 := textproto.ReadHeader(r1)
	r2 := bufio.NewReaderSize(bytes.NewReader(data), bufSize)
	fs, err2 := readHeaderFields(r2, nil, &headerBufs{line: make([]byte, 0, 3)})

	var want []headerKV
	for f := h.Fields(); f.Next(); {
		want = append(want, headerKV{f.Key(), f.Value()})
	}
	got := fs // both in file order
	if len(got) != len(want) {
		t.Fatalf("%q: %d fields, ReadHeader %d: %q vs %q", data, len(got), len(want), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%q: field %d %q, ReadHeader %q", data, i, got[i], want[i])
		}
	}
	// The lookups answer as go-message's Header does, for the header itself
	// and for goHeader's rebuild of it.
	keys := []string{"From", "subject", "X", "x", "Content-Type", "Missing"}
	for _, f := range fs {
		keys = append(keys, f.k)
	}
	hh, gh := header(fs), header(fs).goHeader()
	for _, k := range keys {
		if hh.Get(k) != h.Get(k) || gh.Get(k) != h.Get(k) || hh.Has(k) != h.Has(k) ||
			strings.Join(hh.Values(k), "\x00") != strings.Join(h.Values(k), "\x00") ||
			strings.Join(gh.Values(k), "\x00") != strings.Join(h.Values(k), "\x00") {
			t.Fatalf("%q: key %q: Get %q/%q Values %q/%q, ReadHeader's %q %q", data, k, hh.Get(k), gh.Get(k), hh.Values(k), gh.Values(k), h.Get(k), h.Values(k))
		}
	}
	if (err1 == nil) != (err2 == nil) {
		t.Fatalf("%q: error %v, ReadHeader %v", data, err2, err1)
	}
	if err1 != nil {
		m1 := strings.Contains(err1.Error(), "malformed MIME header")
		m2 := strings.Contains(err2.Error(), "malformed MIME header")
		if m1 != m2 || !m1 && err1 != err2 {
			t.Fatalf("%q: error %v, ReadHeader %v", data, err2, err1)
		}
	}
	rest1, _ := io.ReadAll(r1)
	rest2, _ := io.ReadAll(r2)
	if !bytes.Equal(rest1, rest2) {
		t.Fatalf("%q: left %q, ReadHeader left %q", data, rest2, rest1)
	}
}

var headerSeeds = []string{
	"From: a@b\r\nTo: c@d\r\nSubject: hi\r\n\r\nbody",
	"Subject: folded\r\n  over\r\n\tlines\r\n\r\n",
	"X: 1\nX: 2\nx: 3\n\nbody",
	" leading space\r\nFrom: a@b\r\n\r\n",
	"From a@b Mon Jan 1\r\nTo: x\r\n\r\n",
	"Bad Key: v\r\n\r\n",
	": empty key\r\nA: b\r\n\r\n",
	"A: no blank line at the end",
	"A: b\r\n",
	"",
	"\r\n",
	"Long: " + strings.Repeat("x", 200) + "\r\n" + strings.Repeat("y", 150) + ": v\r\n\r\n",
	"K : spaced key \r\n\r\n",
	"content-type: text/plain\r\nMESSAGE-ID: <a@b>\r\nMessage-ID: <c@d>\r\nDKIM-Signature: x\r\nX-MS-Has-Attach:\r\n\r\n",
	"A: b\r\n \r\nC: d\r\n\r\n",
}

func TestReadHeaderFields(t *testing.T) {
	for _, s := range headerSeeds {
		for _, n := range []int{16, 64, 4096} {
			checkHeaderFields(t, []byte(s), n)
		}
	}
}

func FuzzReadHeaderFields(f *testing.F) {
	for _, s := range headerSeeds {
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		checkHeaderFields(t, data, 16+int(n))
	})
}
