package mailparse

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// goMessageB64 decodes raw the way go-message does for a base64 part (the
// decoder b64Reader replaces), reading with a 32 KiB buffer like the parser.
func goMessageB64(t testing.TB, raw []byte) ([]byte, error) {
	t.Helper()
	var h message.Header
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Transfer-Encoding", "base64")
	ent, err := message.New(h, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return readAll32k(ent.Body)
}

func readAll32k(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	_, err := io.CopyBuffer(&out, r, make([]byte, 32<<10))
	return out.Bytes(), err
}

// wrap encodes data as base64 in lines of width characters with the given
// line ending, optionally indenting continuation lines (seen in the wild).
func wrap(data []byte, width int, eol, indent string) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for i := 0; i < len(enc); i += width {
		if i > 0 {
			b.WriteString(indent)
		}
		b.WriteString(enc[i:min(i+width, len(enc))])
		b.WriteString(eol)
	}
	return []byte(b.String())
}

func TestB64ReaderDecodesLikeGoMessage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	big := random(200 << 10)
	cases := []struct {
		name    string
		raw     []byte
		want    []byte // nil: compare with go-message only
		wantErr bool
	}{
		{"empty", nil, []byte{}, false},
		{"crlf 76", wrap(big, 76, "\r\n", ""), big, false},
		{"lf 64", wrap(big[:5000], 64, "\n", ""), big[:5000], false},
		{"one line", wrap(big[:3000], 1<<20, "", ""), big[:3000], false},
		{"odd widths", wrap(big[:7777], 13, "\r\n", ""), big[:7777], false},
		{"indented continuation", wrap(big[:999], 76, "\r\n", " \t"), big[:999], false},
		{"padding 1", wrap([]byte("ab"), 76, "\r\n", ""), []byte("ab"), false},
		{"padding 2", wrap([]byte("a"), 76, "\r\n", ""), []byte("a"), false},
		{"stray cr", []byte("QU\rJD\r\r\nRA==\r\n"), []byte("ABCD"), false},
		{"corrupt char", []byte("QUJD\r\nR*==\r\n"), nil, true},
		{"truncated quantum", []byte("QUJDRA"), nil, true},
		{"data after padding", []byte("QQ==QUJD\r\n"), nil, true},
		{"corrupt after much good", append(wrap(big[:60000], 76, "\r\n", ""), "!!!!\r\n"...), nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAll32k(newB64Reader(bytes.NewReader(c.raw)))
			ref, refErr := goMessageB64(t, c.raw)
			if (err != nil) != c.wantErr || (refErr != nil) != c.wantErr {
				t.Fatalf("error %v (go-message: %v), want error %v", err, refErr, c.wantErr)
			}
			if c.want != nil && !bytes.Equal(got, c.want) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(c.want))
			}
			if !bytes.Equal(got, ref) {
				t.Fatalf("decoded %d bytes, go-message %d", len(got), len(ref))
			}
			if c.wantErr {
				var cie base64.CorruptInputError
				if !errors.As(err, &cie) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %T %v is neither CorruptInputError nor ErrUnexpectedEOF", err, err)
				}
			}
		})
	}
}

// Short reads from below (a multipart reader hands out what it has) and
// tiny reads from above must not change the result.
func TestB64ReaderReadSizes(t *testing.T) {
	data := bytes.Repeat([]byte("supportd attachment bytes \x00\xff"), 3000)
	raw := wrap(data, 76, "\r\n", "")
	r := newB64Reader(&oneByteReader{bytes.NewReader(raw)})
	var out bytes.Buffer
	p := make([]byte, 5)
	for {
		n, err := r.Read(p)
		out.Write(p[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("decoded %d bytes, want %d", out.Len(), len(data))
	}
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

// FuzzB64Reader: valid base64 in any wrapping decodes to its data; for any
// input b64Reader accepts, go-message's decoder yields the same bytes.
func FuzzB64Reader(f *testing.F) {
	f.Add([]byte("hello, world"), uint8(76), true, []byte("QUJD\r\nRA==\r\n"))
	f.Add([]byte{0, 1, 2, 3, 254, 255}, uint8(4), false, []byte("QQ==QUJD"))
	f.Add([]byte{}, uint8(1), true, []byte(" Q U J D \t"))
	f.Fuzz(func(t *testing.T, data []byte, width uint8, crlf bool, raw []byte) {
		eol := "\n"
		if crlf {
			eol = "\r\n"
		}
		enc := wrap(data, int(width%120)+1, eol, "")
		got, err := readAll32k(newB64Reader(bytes.NewReader(enc)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("valid base64 of %d bytes: got %d bytes, %v", len(data), len(got), err)
		}
		got, err = readAll32k(newB64Reader(bytes.NewReader(raw)))
		if err == nil {
			ref, refErr := goMessageB64(t, raw)
			if refErr != nil || !bytes.Equal(got, ref) {
				t.Fatalf("%q: b64Reader %q, go-message %q %v", raw, got, ref, refErr)
			}
		}
	})
}
