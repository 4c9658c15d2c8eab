package bench

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/jhillyerd/enmime/v2"

	"supportd/mailparse"
)

// corpusDir is the repository's copy of the enmime corpus; SUPPORTD_CORPUS
// overrides it.
func corpusDir() string {
	if d := os.Getenv("SUPPORTD_CORPUS"); d != "" {
		return d
	}
	return "../testdata/enmime"
}

const ownMailDir = "../testdata/mail"

// input is one benchmark input: a set of raw messages parsed once per op.
type input struct {
	name string
	msgs [][]byte
}

func (in input) bytes() int64 {
	var n int64
	for _, m := range in.msgs {
		n += int64(len(m))
	}
	return n
}

// readDir loads every file of dir (recursively) whose name ends in one of exts.
func readDir(tb testing.TB, dir string, exts ...string) [][]byte {
	tb.Helper()
	var out [][]byte
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		for _, e := range exts {
			if strings.HasSuffix(p, e) {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				out = append(out, b)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("read %s: %v", dir, err)
	}
	if len(out) == 0 {
		tb.Fatalf("no messages under %s", dir)
	}
	return out
}

// attachmentSizes are the decoded sizes of the generated attachments.
var attachmentSizes = []struct {
	name string
	size int
}{
	{"att-5KB", 5 << 10},
	{"att-100KB", 100 << 10},
	{"att-1MB", 1 << 20},
	{"att-25MB", 25 << 20},
}

// supportEmail builds a realistic support email (plain and HTML text, a
// screenshot-sized logo inline, fields to extract) with one base64
// attachment of size decoded bytes of random (incompressible) data.
func supportEmail(size int, seed uint64) []byte {
	var b bytes.Buffer
	b.Grow(size*4/3 + size/38 + 4096)
	fmt.Fprintf(&b, "Return-Path: <alice@acme.test>\r\n"+
		"Authentication-Results: mx.vendor.test; dkim=pass header.d=acme.test; spf=pass smtp.mailfrom=acme.test; dmarc=pass header.from=acme.test\r\n"+
		"From: Alice Example <alice@acme.test>\r\n"+
		"To: support@vendor.test\r\n"+
		"Subject: Error adding a password list (build 9653)\r\n"+
		"Date: Wed, 25 Nov 2026 10:00:00 +1030\r\n"+
		"Message-ID: <bench-%d-%d@acme.test>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"outer-b\"\r\n\r\n", size, seed)
	b.WriteString("--outer-b\r\nContent-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n")
	text := "Hello support,\r\n\r\nWhen I add a password list in the Finance folder the page fails with an error for\r\n" +
		"every user since yesterday's upgrade.\r\n\r\nBuild Number: 9653\r\nServer OS: Windows Server 2019\r\n" +
		"Browser: Chrome 131\r\n\r\nSteps to reproduce:\r\n1. Open Finance\r\n2. Click Add Password List\r\n3. Save\r\n\r\n" +
		"The log is attached.\r\n\r\nRegards,\r\nAlice\r\n"
	b.WriteString("--alt-b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(text)
	b.WriteString("--alt-b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.WriteString("<html><body><p>Hello support,</p><p>When I add a password list in the Finance folder the page =\r\nfails.</p>" +
		"<table><tr><td>Build Number</td><td>9653</td></tr><tr><td>Server OS</td><td>Windows Server 2019</td></tr></table>" +
		"<ol><li>Open Finance</li><li>Click Add Password List</li><li>Save</li></ol></body></html>\r\n")
	b.WriteString("--alt-b--\r\n")
	b.WriteString("--outer-b\r\nContent-Type: application/zip; name=\"logs.zip\"\r\nContent-Disposition: attachment; filename=\"logs.zip\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	raw := make([]byte, 57*1024) // 57 bytes = one 76-char base64 line
	enc := make([]byte, base64.StdEncoding.EncodedLen(57))
	for left := size; left > 0; {
		n := min(left, len(raw))
		for i := 0; i < n; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				raw[i+j] = byte(v >> (8 * j))
			}
		}
		for off := 0; off < n; off += 57 {
			line := raw[off:min(off+57, n)]
			base64.StdEncoding.Encode(enc, line)
			b.Write(enc[:base64.StdEncoding.EncodedLen(len(line))])
			b.WriteString("\r\n")
		}
		left -= n
	}
	b.WriteString("--outer-b--\r\n")
	return b.Bytes()
}

var (
	inputsOnce sync.Once
	inputs     []input
)

func loadInputs(tb testing.TB) []input {
	tb.Helper()
	inputsOnce.Do(func() {
		inputs = append(inputs,
			input{"enmime", readDir(tb, corpusDir(), ".raw", ".eml")},
			input{"mail", readDir(tb, ownMailDir, ".eml")},
		)
		for _, s := range attachmentSizes {
			inputs = append(inputs, input{s.name, [][]byte{supportEmail(s.size, 1)}})
		}
	})
	return inputs
}

// parser is supportd's, with the default options.
var parser = mailparse.Default()

// parsers are the three implementations compared on every input.
var parsers = []struct {
	name  string
	parse func(data []byte, buf []byte) error
}{
	{"supportd", func(data, _ []byte) error {
		_, err := parser.Parse(bytes.NewReader(data))
		return err
	}},
	{"rawwalk", rawWalk},
	{"enmime", func(data, _ []byte) error {
		_, err := enmime.ReadEnvelope(bytes.NewReader(data))
		_ = err // malformed corpus messages: enmime's error is part of its result, not a benchmark failure
		return nil
	}},
}

// rawWalk is a reference: go-message reads every part and decodes its
// transfer encoding (and charset, with go-message/charset registered by
// mailparse), and the decoded bytes are discarded.
func rawWalk(data, buf []byte) error {
	e, _ := message.Read(bytes.NewReader(data))
	if e == nil {
		return nil // unreadable header: nothing to walk (not a benchmark failure)
	}
	// A malformed multipart ends the walk early; that is the walk's result
	// for that message, not a benchmark failure.
	_ = e.Walk(func(_ []int, part *message.Entity, _ error) error {
		if part != nil && part.MultipartReader() == nil {
			_, _ = io.CopyBuffer(io.Discard, part.Body, buf)
		}
		return nil
	})
	return nil
}

// BenchmarkParse compares mailparse.Parse, the raw go-message walk and enmime
// on each input. MB/s is raw message bytes per second; B/op and allocs/op are
// per op (one op = every message of the input once); msgs is messages per op.
func BenchmarkParse(b *testing.B) {
	for _, in := range loadInputs(b) {
		for _, p := range parsers {
			b.Run(fmt.Sprintf("in=%s/impl=%s", in.name, p.name), func(b *testing.B) {
				buf := make([]byte, 32<<10)
				b.SetBytes(in.bytes())
				b.ReportAllocs()
				runtime.GC()
				b.ResetTimer()
				for b.Loop() {
					for _, m := range in.msgs {
						if err := p.parse(m, buf); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(len(in.msgs)), "msgs")
				b.ReportMetric(float64(b.N*len(in.msgs))/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkParseCPU alternates mailparse.Parse and enmime on each input, one
// pass each per iteration, and reports the process CPU time (user + system,
// garbage collection included) per pass of each and their ratio, cpu-ratio =
// enmime / supportd. On a shared machine this holds up better than
// BenchmarkParse's throughputs, which are measured one after the other.
func BenchmarkParseCPU(b *testing.B) {
	for _, in := range loadInputs(b) {
		b.Run("in="+in.name, func(b *testing.B) {
			var cpu [2]time.Duration
			for b.Loop() {
				for i, p := range []int{0, 2} { // supportd, enmime
					c := processCPU()
					for _, m := range in.msgs {
						_ = parsers[p].parse(m, nil)
					}
					cpu[i] += processCPU() - c
				}
			}
			b.ReportMetric(float64(cpu[0].Nanoseconds())/float64(b.N), "supportd-cpu-ns/op")
			b.ReportMetric(float64(cpu[1].Nanoseconds())/float64(b.N), "enmime-cpu-ns/op")
			b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-ratio")
		})
	}
}

// processCPU is the CPU time this process has used (every thread).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGeneratedInputsParse checks the generated messages are what the
// benchmark claims: one attachment of the stated size, fields extracted.
func TestGeneratedInputsParse(t *testing.T) {
	for _, s := range attachmentSizes[:3] {
		m, err := mailparse.Default().Parse(bytes.NewReader(supportEmail(s.size, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Attachments) != 1 || m.Attachments[0].Size != int64(s.size) {
			t.Errorf("%s: attachments %+v, want one of %d bytes", s.name, m.Attachments, s.size)
		}
		if m.Build != 9653 || !m.HasSteps || len(m.Problems) != 0 {
			t.Errorf("%s: build %d steps %v problems %v", s.name, m.Build, m.HasSteps, m.Problems)
		}
	}
}
