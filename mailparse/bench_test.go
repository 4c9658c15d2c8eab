package mailparse

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/emersion/go-message"
)

// benchInputs loads every golden input once.
func benchInputs(b *testing.B) [][]byte {
	b.Helper()
	corpus, own := goldenInputs(b)
	var out [][]byte
	for _, g := range append(corpus, own...) {
		data, err := os.ReadFile(g.path)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// BenchmarkParse parses every corpus and testdata/mail message once per
// iteration. BenchmarkRawWalk (go-message reading every part) is for
// comparison.
func BenchmarkParse(b *testing.B) {
	inputs := benchInputs(b)
	p := testParser(b, nil)
	var total int64
	for _, in := range inputs {
		total += int64(len(in))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, in := range inputs {
			if _, err := p.Parse(bytes.NewReader(in)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRawWalk walks the same messages with go-message only, reading
// every part's decoded body.
func BenchmarkRawWalk(b *testing.B) {
	inputs := benchInputs(b)
	var total int64
	for _, in := range inputs {
		total += int64(len(in))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, in := range inputs {
			e, err := message.Read(bytes.NewReader(in))
			if e == nil {
				continue
			}
			_ = err
			_ = e.Walk(func(path []int, part *message.Entity, err error) error {
				if part != nil && part.MultipartReader() == nil {
					_, _ = io.CopyBuffer(io.Discard, part.Body, buf)
				}
				return nil
			})
		}
	}
}

// BenchmarkParseLargeAttachment measures the streaming path: one 4 MiB base64
// attachment.
func BenchmarkParseLargeAttachment(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("From: a@b.test\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\nContent-Type: text/plain\r\n\r\nBuild 9653\r\n--Z\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"), 1)
	for buf.Len() < 4<<20 {
		buf.Write(line)
	}
	buf.WriteString("--Z--\r\n")
	data := buf.Bytes()
	p := testParser(b, nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseChardet parses the corpus's largest text message alone
// (87 KB of base64 ISO-8859-1 text, ~64 KiB of body text to extract from).
func BenchmarkParseChardet(b *testing.B) {
	data, err := os.ReadFile("../testdata/enmime/parts/chardet-success-iso-8859-1.raw")
	if err != nil {
		b.Fatal(err)
	}
	p := testParser(b, nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
