package daemon_test

// Poison messages (issue 4 item 4): hostile or broken mail delivered to a real
// Dovecot among normal mail. Each must be handled or quarantined within a
// bounded CPU and memory budget, and the normal messages behind it must get
// their replies. A message that keeps failing is quarantined after
// Config.MaxAttempts attempts, never retried forever.

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"supportd/daemon"
	"supportd/internal/testenv"
	"supportd/mailparse"
	"supportd/poller"
	"supportd/templates"
)

// poisonHeader writes the top-level header of a generated message (CRLF).
func poisonHeader(w io.Writer, from, subject, id, contentType string, extra ...string) {
	fmt.Fprintf(w, "From: %s\r\nTo: support@vendor.test\r\nSubject: %s\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\nMessage-ID: <%s>\r\n", from, subject, id)
	for _, h := range extra {
		io.WriteString(w, h+"\r\n")
	}
	fmt.Fprintf(w, "MIME-Version: 1.0\r\nContent-Type: %s\r\n\r\n", contentType)
}

// poison is one hostile message, written by gen (streamed: never held whole by
// the generator beyond what bufio buffers).
type poison struct {
	name string
	id   string // Message-ID without brackets
	gen  func(w io.Writer)
	// quarantine: the message must be quarantined (not just handled).
	quarantine bool
	// problem: a token Parse must report, proving the message hits the limit
	// or defect it is meant to (a generator bug would make the test vacuous).
	problem string
}

// poisons are the hostile messages of the mixed-inbox test. Sizes are those of
// the issue: 5,000 nesting levels, 100,000 empty parts, a 1 MB header line.
func poisons() []poison {
	return []poison{
		{name: "nesting_5000", problem: "too_deep", id: "deep@poison.test", gen: func(w io.Writer) {
			const depth = 5000
			poisonHeader(w, "Deep <deep@acme.test>", "Nested 5000 deep", "deep@poison.test", `multipart/mixed; boundary="b0"`)
			for i := 0; i < depth; i++ {
				fmt.Fprintf(w, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i, i+1)
			}
			fmt.Fprintf(w, "--b%d\r\nContent-Type: text/plain\r\n\r\nBuild 9653, found at the bottom.\r\n", depth)
			for i := depth; i >= 0; i-- {
				fmt.Fprintf(w, "--b%d--\r\n", i)
			}
		}},
		{name: "empty_parts_100000", problem: "too_many_parts", id: "parts@poison.test", gen: func(w io.Writer) {
			poisonHeader(w, "Parts <parts@acme.test>", "One hundred thousand parts", "parts@poison.test", `multipart/mixed; boundary="p"`)
			io.WriteString(w, "--p\r\nContent-Type: text/plain\r\n\r\nBuild 9653\r\n")
			for i := 0; i < 100000; i++ {
				io.WriteString(w, "--p\r\n\r\n\r\n")
			}
			io.WriteString(w, "--p--\r\n")
		}},
		{name: "header_line_1MB", problem: "header_too_large", id: "longheader@poison.test", gen: func(w io.Writer) {
			bw := bufio.NewWriter(w)
			fmt.Fprintf(bw, "From: Long <long@acme.test>\r\nTo: support@vendor.test\r\nSubject: A long header\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\nMessage-ID: <longheader@poison.test>\r\n")
			bw.WriteString("X-Filler: ")
			for i := 0; i < 1<<20; i++ {
				bw.WriteByte('a' + byte(i%26))
			}
			bw.WriteString("\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nBuild 9653\r\n")
			bw.Flush()
		}},
		{name: "broken_transfer_encodings", problem: "bad_base64", id: "encodings@poison.test", gen: func(w io.Writer) {
			poisonHeader(w, "Enc <enc@acme.test>", "Broken base64 and QP", "encodings@poison.test", `multipart/mixed; boundary="e"`)
			io.WriteString(w, "--e\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+
				"Build 9653 =ZZ broken =\r\nescape =4\r\n=\r\n=E2=82 truncated utf-8 =\r\n")
			io.WriteString(w, "--e\r\nContent-Type: image/png; name=\"shot.png\"\r\nContent-Disposition: attachment; filename=\"shot.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
				"iVBORw0KGgo!!!!@@@@####not*base64====AAAA\r\n====\r\nQUJD\r\nQQ\r\n")
			io.WriteString(w, "--e\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
				strings.Repeat("A", 77)+"\r\n") // truncated: length not a multiple of 4, no padding
			io.WriteString(w, "--e\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode-and-hope\r\n\r\nbegin 644 x\r\n")
			// no closing boundary: the message just ends.
		}},
		{name: "unknown_and_lying_charsets", problem: "unknown_charset", id: "charsets@poison.test", gen: func(w io.Writer) {
			poisonHeader(w, "=?x-no-such-charset?B?w6nDqQ==?= <cs@acme.test>", "=?utf-16?B?AAB?= =?iso-2022-jp?B?GyRCJCIbKEI=?= =?unknown-8bit?Q?=FF=FE?=",
				"charsets@poison.test", `multipart/alternative; boundary="c"`)
			io.WriteString(w, "--c\r\nContent-Type: text/plain; charset=\"x-no-such-charset\"\r\n\r\nBuild 9653 \xff\xfe\xfd\r\n")
			io.WriteString(w, "--c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLying: latin-1 bytes caf\xe9 na\xefve \xc3\x28 \xed\xa0\x80\r\n")
			io.WriteString(w, "--c\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B\x1b(J\x1b$\x1b$B%\r\n")
			io.WriteString(w, "--c\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n\x00A\x00\r\n")
			io.WriteString(w, "--c\r\nContent-Type: text/html; charset=shift_jis\r\n\r\n<p>\x82\xa0\x82\xff\x81</p>\r\n")
			io.WriteString(w, "--c--\r\n")
		}},
		{name: "handler_panic", id: "panic@poison.test", quarantine: true, gen: func(w io.Writer) {
			poisonHeader(w, "Bomb <bomb@acme.test>", "This one makes the handler panic", "panic@poison.test", "text/plain; charset=utf-8")
			io.WriteString(w, "Build 9653\r\n")
		}},
	}
}

// panicHook is the Config.TestHook that panics for the handler_panic poison.
func panicHook(m *mailparse.Message) {
	if m.MessageID == "<panic@poison.test>" {
		panic("test hook: handler panic for " + m.MessageID)
	}
}

// threadCPU is the CPU time (user+system) of the calling OS thread.
func threadCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD (Linux)
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parseCost parses the generated message with the daemon's parser and returns
// the CPU of the parsing thread, the bytes allocated and the message.
func parseCost(t testing.TB, gen func(io.Writer)) (cpu time.Duration, alloc uint64, size int64, m *mailparse.Message) {
	t.Helper()
	pr, pw := io.Pipe()
	var n atomic.Int64
	go func() {
		// Buffered, so the parsing thread is not woken for every small write.
		bw := bufio.NewWriterSize(&countWriter{w: pw, n: &n}, 256<<10)
		gen(bw)
		pw.CloseWithError(bw.Flush())
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c0 := threadCPU(t)
	m, err := mailparse.Default().Parse(pr)
	c1 := threadCPU(t)
	runtime.ReadMemStats(&after)
	io.Copy(io.Discard, pr) // let the generator finish if Parse stopped early
	if err != nil {
		t.Logf("parse error (tolerated, the daemon then retries/quarantines): %v", err)
	}
	return c1 - c0, after.TotalAlloc - before.TotalAlloc, n.Load(), m
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Each poison message costs the parser less than 1 s of CPU and a bounded
// amount of allocation, and yields a Message (never a panic, never nil).
func TestPoisonParseIsBounded(t *testing.T) {
	const (
		cpuBudget = time.Second
		// allocBudget bounds the bytes allocated while parsing one message: a
		// small multiple of the largest poison (1 MB header line), not of its
		// structure (100,000 parts, 5,000 levels).
		allocBudget = 16 << 20
	)
	for _, p := range poisons() {
		t.Run(p.name, func(t *testing.T) {
			cpu, alloc, size, m := parseCost(t, p.gen)
			t.Logf("%s: %d bytes, parse CPU %v, allocated %.1f MiB, problems %v", p.name, size, cpu, float64(alloc)/(1<<20), m.Problems)
			if m == nil {
				t.Fatal("Parse returned a nil Message")
			}
			if p.problem != "" && !slices.ContainsFunc(m.Problems, func(s string) bool { return strings.HasPrefix(s, p.problem) }) {
				t.Errorf("problems %v lack %q: the message does not exercise what it should", m.Problems, p.problem)
			}
			if cpu > cpuBudget {
				t.Errorf("parsing took %v of CPU, budget %v", cpu, cpuBudget)
			}
			if alloc > allocBudget {
				t.Errorf("parsing allocated %d bytes, budget %d", alloc, allocBudget)
			}
		})
	}
}

// pzStart is env.start with a hook on the poller configuration (for
// limits.max_message_bytes, which runOpts does not reach).
func pzStart(e *env, o runOpts, pcfg func(*poller.Config)) *running {
	e.t.Helper()
	return e.startWith(o, pcfg)
}

// appendGenerated delivers a generated message to the Dovecot mailbox without
// holding it in memory: it is written to a temp file (APPEND announces the
// size first), then streamed into the APPEND literal.
func appendGenerated(t testing.TB, dc *testenv.DovecotServer, mailbox string, gen func(io.Writer)) (uid uint32, size int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "msg.eml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 64<<10)
	gen(bw)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if size, err = f.Seek(0, io.SeekCurrent); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	c := dc.Client(t)
	cmd := c.Append(mailbox, size, &imap.AppendOptions{Time: received})
	if _, err := io.Copy(cmd, bufio.NewReaderSize(f, 64<<10)); err != nil {
		t.Fatalf("append %s: write: %v", mailbox, err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append %s: %v", mailbox, err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append %s (%d bytes): %v", mailbox, size, err)
	}
	c.Logout().Wait()
	os.Remove(path)
	return uint32(data.UID), size
}

// repliesTo counts the messages at Mailpit addressed (To) to addr.
func repliesTo(msgs []testenv.MailpitMessage, addr string) int {
	n := 0
	for _, m := range msgs {
		for _, a := range m.To {
			if strings.EqualFold(a.Address, addr) {
				n++
				break
			}
		}
	}
	return n
}

// withSubject returns the Mailpit messages whose subject contains s.
func withSubject(msgs []testenv.MailpitMessage, s string) []testenv.MailpitMessage {
	var out []testenv.MailpitMessage
	for _, m := range msgs {
		if strings.Contains(m.Subject, s) {
			out = append(out, m)
		}
	}
	return out
}

// byMessageID finds a message in a Dovecot mailbox by its Message-ID header.
func byMessageID(msgs []testenv.IMAPMessage, id string) *testenv.IMAPMessage {
	needle := []byte("Message-ID: <" + id + ">")
	for i := range msgs {
		head := msgs[i].Raw
		if len(head) > 4096 {
			head = head[:4096]
		}
		if strings.Contains(string(head), string(needle)) {
			return &msgs[i]
		}
	}
	return nil
}

func normalMsg(i int) (raw, addr string) {
	addr = fmt.Sprintf("normal%d@acme.test", i)
	return msg(fmt.Sprintf("Normal %d <%s>", i, addr), fmt.Sprintf("Normal message %d", i), addr,
		"Build Number: 9653\nServer OS: Windows Server 2019\n"), addr
}

// Poison messages delivered among normal ones: each is handled or quarantined,
// the handler panic is quarantined (moved, tagged, staff told), and every
// normal message, in particular the one right behind each poison, gets its
// reply.
func TestPoisonMixedInbox(t *testing.T) {
	e := newEnv(t)
	ps := poisons()
	type delivered struct {
		uid  uint32
		p    *poison
		addr string // normal messages: the sender
	}
	var all []delivered
	for i := range ps {
		raw, addr := normalMsg(i)
		all = append(all, delivered{uid: e.deliver(raw), addr: addr})
		uid, size := appendGenerated(t, e.dovecot, "INBOX", ps[i].gen)
		t.Logf("delivered %s: UID %d, %d bytes", ps[i].name, uid, size)
		all = append(all, delivered{uid: uid, p: &ps[i]})
	}
	raw, addr := normalMsg(len(ps))
	all = append(all, delivered{uid: e.deliver(raw), addr: addr})
	uv := e.dovecot.UIDValidity(t, "INBOX")

	heapGrowth := sampleHeap()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	r := e.start(runOpts{idle: true, staffQueue: "staff@vendor.test", cfg: func(c *daemon.Config) { c.TestHook = panicHook }})
	defer r.stop(t)

	waitFor(t, 45*time.Second, "every message done in the ledger and every normal message answered", func() bool {
		for _, d := range all {
			if l := r.ledger(t, uv, d.uid); l == nil || !l.Done() {
				return false
			}
		}
		msgs := e.mailpit.Messages(t)
		for _, d := range all {
			if d.p == nil && repliesTo(msgs, d.addr) == 0 {
				return false
			}
		}
		return true
	})
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * 1
	grown := heapGrowth()
	t.Logf("all %d messages done after %v wall, %v process CPU, heap in use grew by %.1f MiB at its peak", len(all), time.Since(start), cpu, float64(grown)/(1<<20))
	// Bounded: the poison structure (parts, depth) costs nothing extra; the
	// 1 MB header line and its staff copy a few MiB.
	const heapBudget = 32 << 20
	if grown > heapBudget {
		t.Errorf("heap grew by %d bytes while handling the inbox, budget %d", grown, heapBudget)
	}
	// The whole run (daemon, IMAP/SMTP clients, this test's polling) within
	// the per-message budget of 1 s CPU for each poison message.
	if budget := time.Duration(len(ps)) * time.Second; cpu > budget {
		t.Errorf("process CPU %v for the run, budget %v (1 s per poison message)", cpu, budget)
	}

	// Marks and outbox are asynchronous to the commit: wait for them to settle.
	waitFor(t, 20*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
	var inbox, quarantine []testenv.IMAPMessage
	waitFor(t, 20*time.Second, "IMAP marks applied", func() bool {
		inbox, quarantine = e.dovecot.Messages(t, "INBOX"), nil
		if slices.Contains(e.dovecot.Mailboxes(t), "Quarantine") {
			quarantine = e.dovecot.Messages(t, "Quarantine")
		}
		for _, m := range append(slices.Clone(inbox), quarantine...) {
			if !slices.Contains(m.Flags, daemon.ProcessedKeyword) {
				return false
			}
		}
		return len(inbox)+len(quarantine) == len(all)
	})
	msgs := e.mailpit.Messages(t)
	for _, d := range all {
		l := r.ledger(t, uv, d.uid)
		if d.p == nil {
			if n := repliesTo(msgs, d.addr); n != 1 {
				t.Errorf("normal message from %s (UID %d) got %d replies, want 1", d.addr, d.uid, n)
			}
			if l.Action != "acknowledge" {
				t.Errorf("normal message UID %d: action %q, want acknowledge", d.uid, l.Action)
			}
			continue
		}
		p := d.p
		t.Logf("%s: action %q quarantined=%v reason %q", p.name, l.Action, l.Quarantined, l.SuppressReason)
		if p.quarantine && !l.Quarantined {
			t.Errorf("%s: not quarantined (ledger %+v)", p.name, l)
		}
		if l.Quarantined {
			m := byMessageID(quarantine, p.id)
			if m == nil {
				t.Errorf("%s: quarantined but not in the Quarantine folder", p.name)
			} else if !slices.Contains(m.Flags, daemon.QuarantinedKeyword) {
				t.Errorf("%s: in the Quarantine folder without the %s keyword: %v", p.name, daemon.QuarantinedKeyword, m.Flags)
			}
			if n := len(withSubject(msgs, fmt.Sprintf("[Quarantine] message UID %d ", d.uid))); n != 1 {
				t.Errorf("%s: %d staff notices of the quarantine, want 1", p.name, n)
			}
		} else if byMessageID(inbox, p.id) == nil {
			t.Errorf("%s: handled but no longer in INBOX", p.name)
		}
	}
}

// sizedMessage writes a plain message of exactly n bytes (n well above the
// header size) from addr with Message-ID id.
func sizedMessage(addr, id string, n int64) func(io.Writer) {
	return func(w io.Writer) {
		bw := bufio.NewWriter(w)
		defer bw.Flush()
		h := fmt.Sprintf("From: <%s>\r\nTo: support@vendor.test\r\nSubject: Size %d\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nBuild 9653\r\n", addr, n, id)
		bw.WriteString(h)
		line := strings.Repeat("x", 76) + "\r\n"
		rest := n - int64(len(h))
		for rest >= int64(2*len(line)) {
			bw.WriteString(line)
			rest -= int64(len(line))
		}
		// rest is between 78 and 155: two shorter lines.
		a := rest / 2
		bw.WriteString(strings.Repeat("y", int(a-2)) + "\r\n")
		bw.WriteString(strings.Repeat("z", int(rest-a-2)) + "\r\n")
	}
}

// A message above limits.max_message_bytes (lowered here to 1 MiB) is not
// fetched but quarantined on its RFC822.SIZE: moved to the quarantine folder,
// tagged, staff told, no reply; one exactly at the limit is processed, and the
// message behind them is answered.
func TestPoisonOverSizeLimitQuarantined(t *testing.T) {
	const limit = 1 << 20
	e := newEnv(t)
	atUID, atSize := appendGenerated(t, e.dovecot, "INBOX", sizedMessage("at@acme.test", "at-limit@poison.test", limit))
	overUID, overSize := appendGenerated(t, e.dovecot, "INBOX", sizedMessage("over@acme.test", "over-limit@poison.test", limit+1))
	if atSize != limit || overSize != limit+1 {
		t.Fatalf("generated sizes %d and %d, want %d and %d", atSize, overSize, limit, limit+1)
	}
	raw, addr := normalMsg(1)
	normalUID := e.deliver(raw)
	uv := e.dovecot.UIDValidity(t, "INBOX")

	var parsed sync.Map // Message-IDs the parser saw
	r := pzStart(e, runOpts{idle: true, staffQueue: "staff@vendor.test", cfg: func(c *daemon.Config) {
		c.TestHook = func(m *mailparse.Message) { parsed.Store(m.MessageID, true) }
	}}, func(c *poller.Config) { c.MaxMessageBytes = limit })
	defer r.stop(t)

	// Replies to "at" and the normal sender, the staff notice, two staff copies.
	waitFor(t, 30*time.Second, "replies and quarantine notice", func() bool {
		msgs := e.mailpit.Messages(t)
		return repliesTo(msgs, "at@acme.test") == 1 && repliesTo(msgs, addr) == 1 &&
			len(withSubject(msgs, "[Quarantine]")) == 1
	})
	waitFor(t, 20*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
	msgs := e.mailpit.Messages(t)
	if n := repliesTo(msgs, "over@acme.test"); n != 0 {
		t.Errorf("the over-limit message got %d replies, want 0", n)
	}
	notice := withSubject(msgs, fmt.Sprintf("[Quarantine] message UID %d ", overUID))
	if len(notice) != 1 || repliesTo(notice, "staff@vendor.test") != 1 {
		t.Fatalf("staff notice of the quarantine of UID %d: %+v", overUID, withSubject(msgs, "[Quarantine]"))
	}
	body := e.mailpit.Message(t, notice[0].ID).Text
	if !strings.Contains(body, "too_large") || !strings.Contains(body, fmt.Sprint(limit+1)) {
		t.Errorf("staff notice does not give the reason and size:\n%s", body)
	}

	l := r.ledger(t, uv, overUID)
	if l == nil || !l.Quarantined || !strings.HasPrefix(l.SuppressReason, "too_large") {
		t.Fatalf("ledger of the over-limit message = %+v, want quarantined too_large", l)
	}
	if _, ok := parsed.Load("<over-limit@poison.test>"); ok {
		t.Error("the over-limit message was fetched and parsed; it must be skipped on RFC822.SIZE")
	}
	if _, ok := parsed.Load("<at-limit@poison.test>"); !ok {
		t.Error("the message exactly at the limit was not parsed")
	}
	if l := r.ledger(t, uv, atUID); l == nil || l.Quarantined || l.Action != "acknowledge" {
		t.Errorf("ledger of the message at the limit = %+v, want acknowledged", l)
	}
	if l := r.ledger(t, uv, normalUID); l == nil || l.Action != "acknowledge" {
		t.Errorf("ledger of the normal message = %+v, want acknowledged", l)
	}
	waitFor(t, 20*time.Second, "over-limit message moved to Quarantine", func() bool {
		if !slices.Contains(e.dovecot.Mailboxes(t), "Quarantine") {
			return false
		}
		q := e.dovecot.FetchFlags(t, "Quarantine")
		if len(q) != 1 {
			return false
		}
		for _, flags := range q {
			return slices.Contains(flags, daemon.QuarantinedKeyword) && slices.Contains(flags, daemon.ProcessedKeyword)
		}
		return false
	})
	if _, still := e.dovecot.FetchFlags(t, "INBOX")[overUID]; still {
		t.Error("the over-limit message is still in INBOX")
	}
}

// sampleHeap starts sampling the Go heap in use (every 2 ms) from a
// collected baseline; the returned func stops and gives the peak growth.
func sampleHeap() (stop func() int64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-quit:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(quit)
		<-done
		return int64(peak.Load()) - int64(base)
	}
}

// bigAttachment writes a message whose image attachment is n pseudo-random
// bytes (base64, 76-column lines), generated as it is written; it reports the
// attachment's sha256 through sum.
func bigAttachment(addr, id string, n int, seed uint64) func(io.Writer) {
	return func(w io.Writer) {
		poisonHeader(w, "<"+addr+">", "Screenshot of the error", id, `multipart/mixed; boundary="big"`)
		io.WriteString(w, "--big\r\nContent-Type: text/plain\r\n\r\nBuild Number: 9653\r\nScreenshot attached.\r\n")
		io.WriteString(w, "--big\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"screen.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		src := rand.NewChaCha8([32]byte{byte(seed)})
		raw := make([]byte, 57*1024) // 57 bytes → one 76-column line
		enc := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
		for left := n; left > 0; {
			chunk := raw[:min(left, len(raw))]
			src.Read(chunk)
			left -= len(chunk)
			m := base64.StdEncoding.EncodedLen(len(chunk))
			base64.StdEncoding.Encode(enc, chunk)
			for i := 0; i < m; i += 76 {
				w.Write(enc[i:min(i+76, m)])
				io.WriteString(w, "\r\n")
			}
		}
		io.WriteString(w, "--big--\r\n")
	}
}

// A 25 MB attachment (under the default 50 MiB limit) is fetched, parsed and
// answered with bounded memory: the peak Go heap while the daemon handles it
// grows by far less than the message, and the attachment is still fully read
// (size and sha256). The message behind it is answered too. With a staff
// queue, the staff copy carries the original's header only (above
// Config.StaffCopyMaxBytes): attaching 33 MB cost +227 MiB of heap.
func TestPoisonLargeAttachmentBoundedMemory(t *testing.T) {
	const attSize = 25_000_000
	e := newEnv(t)
	gen := bigAttachment("big@acme.test", "big@poison.test", attSize, 7)
	t0 := time.Now()
	bigUID, size := appendGenerated(t, e.dovecot, "INBOX", gen)
	t.Logf("APPEND took %v", time.Since(t0))
	raw, addr := normalMsg(1)
	e.deliver(raw)
	uv := e.dovecot.UIDValidity(t, "INBOX")
	t.Logf("delivered the big message: UID %d, %d bytes", bigUID, size)

	// The sha256 the parser must report, computed the same streaming way.
	t0 = time.Now()
	_, _, _, ref := parseCost(t, gen)
	t.Logf("reference parse took %v", time.Since(t0))
	t0 = time.Now()
	if len(ref.Attachments) == 0 {
		t.Fatalf("reference parse found no attachment: %+v", ref.Problems)
	}
	want := ref.Attachments[len(ref.Attachments)-1]
	if want.Size != attSize {
		t.Fatalf("reference parse: attachment size %d, want %d", want.Size, attSize)
	}

	var got atomic.Pointer[mailparse.Attachment]
	heapGrowth := sampleHeap()
	r := e.start(runOpts{idle: true, staffQueue: staffAddr, cfg: func(c *daemon.Config) {
		c.TestHook = func(m *mailparse.Message) {
			if m.MessageID == "<big@poison.test>" && len(m.Attachments) > 0 {
				a := m.Attachments[len(m.Attachments)-1]
				got.Store(&a)
			}
		}
	}})
	defer r.stop(t)
	waitFor(t, 45*time.Second, "replies to the big message and the one behind it", func() bool {
		msgs := e.mailpit.Messages(t)
		return repliesTo(msgs, "big@acme.test") == 1 && repliesTo(msgs, addr) == 1
	})
	grown := heapGrowth()
	t.Logf("daemon answered after %v; heap in use grew by %.1f MiB at its peak for a %.1f MiB message",
		time.Since(t0), float64(grown)/(1<<20), float64(size)/(1<<20))
	// Bounded: well below the attachment (25 MB) and the message (33 MB).
	const heapBudget = 12 << 20
	if grown > heapBudget {
		t.Errorf("heap grew by %d bytes while handling a %d-byte message, budget %d", grown, size, heapBudget)
	}
	a := got.Load()
	if a == nil {
		t.Fatal("the daemon's parse of the big message reported no attachment")
	}
	if a.Size != want.Size || a.SHA256 != want.SHA256 || !a.Screenshot {
		t.Errorf("daemon saw attachment %+v, want size %d sha256 %s screenshot", *a, want.Size, want.SHA256)
	}
	l := r.ledger(t, uv, bigUID)
	if l == nil || l.Action != "acknowledge" {
		t.Fatalf("ledger of the big message = %+v, want acknowledged", l)
	}
	// Staff still get it routed, with the header only (daemon.Config.StaffCopyMaxBytes).
	waitFor(t, 20*time.Second, "staff copies", func() bool { return repliesTo(e.mailpit.Messages(t), staffAddr) == 2 })
	var sc *testenv.MailpitMessage
	for _, m := range e.mailpit.Messages(t) {
		if addressedTo(m, staffAddr) && strings.HasPrefix(m.Subject, "["+l.Ticket+"]") {
			sc = &m
		}
	}
	if sc == nil {
		t.Fatalf("no staff copy of ticket %s", l.Ticket)
	}
	if sc.Size > 256<<10 {
		t.Errorf("staff copy of the big message is %d bytes; want the header only", sc.Size)
	}
	if d := e.mailpit.Message(t, sc.ID); !strings.Contains(d.Text, "only its header is attached") || !strings.Contains(string(d.Raw), "Message-ID: <big@poison.test>") {
		t.Errorf("staff copy lacks the note or the original header:\n%s", d.Text)
	}
}

// A message that keeps failing (here: an operator's template override that
// fails to render for it, a non-panic error) is attempted exactly MaxAttempts
// times, then quarantined — moved, tagged, staff told — and never tried again;
// the messages around it are answered once.
func TestPoisonRepeatedFailureQuarantinedAfterMaxAttempts(t *testing.T) {
	const maxAttempts = 3
	e := newEnv(t)
	dir := t.TempDir()
	// Passes the start-up check (sample data) but fails for one subject:
	// index out of range is an execution error, not a panic.
	override := "{{if eq .OriginalSubject \"render bomb\"}}{{index .Missing 99}}{{end}}Thank you. Your ticket is {{.TicketID}}.\n"
	if err := os.WriteFile(filepath.Join(dir, templates.AckUnknown+".tmpl"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	renderer, err := templates.New(dir)
	if err != nil {
		t.Fatalf("override rejected at start-up: %v", err)
	}
	before := e.deliver(msg("Sam <sam@newcorp.test>", "Question one", "q1@newcorp.test", "How do I reset it?\n"))
	bomb := e.deliver(msg("Bob <bob@newcorp.test>", "render bomb", "bomb@poison.test", "Hello\n"))
	after := e.deliver(msg("Kim <kim@newcorp.test>", "Question two", "q2@newcorp.test", "How do I add a user?\n"))
	uv := e.dovecot.UIDValidity(t, "INBOX")

	var attempts atomic.Int32
	r := e.start(runOpts{pollInterval: 200 * time.Millisecond, staffQueue: "staff@vendor.test",
		engine: func(eng *daemon.Engine) { eng.Renderer = renderer },
		cfg: func(c *daemon.Config) {
			c.MaxAttempts = maxAttempts
			c.TestHook = func(m *mailparse.Message) {
				if m.MessageID == "<bomb@poison.test>" {
					attempts.Add(1)
				}
			}
		}})
	defer r.stop(t)

	waitFor(t, 30*time.Second, "the failing message quarantined", func() bool {
		l := r.ledger(t, uv, bomb)
		return l != nil && l.Quarantined
	})
	// Several more poll rounds: it must not be tried again.
	time.Sleep(1500 * time.Millisecond)
	if n := attempts.Load(); n != maxAttempts {
		t.Errorf("the failing message was parsed and decided %d times, want exactly MaxAttempts = %d", n, maxAttempts)
	}
	l := r.ledger(t, uv, bomb)
	if l.Attempts != maxAttempts {
		t.Errorf("ledger records %d attempts, want %d", l.Attempts, maxAttempts)
	}
	if !strings.Contains(l.SuppressReason, "render") {
		t.Errorf("quarantine reason %q does not name the failure", l.SuppressReason)
	}
	waitFor(t, 20*time.Second, "replies, staff notice and outbox drained", func() bool {
		msgs := e.mailpit.Messages(t)
		return repliesTo(msgs, "sam@newcorp.test") >= 1 && repliesTo(msgs, "kim@newcorp.test") >= 1 &&
			len(withSubject(msgs, "[Quarantine]")) >= 1 && r.outboxPending(t) == 0
	})
	msgs := e.mailpit.Messages(t)
	for _, a := range []string{"sam@newcorp.test", "kim@newcorp.test"} {
		if n := repliesTo(msgs, a); n != 1 {
			t.Errorf("%s got %d replies, want 1", a, n)
		}
	}
	if n := repliesTo(msgs, "bob@newcorp.test"); n != 0 {
		t.Errorf("the failing message got %d replies", n)
	}
	if n := len(withSubject(msgs, fmt.Sprintf("[Quarantine] message UID %d ", bomb))); n != 1 {
		t.Errorf("%d staff notices for the quarantined UID %d, want 1", n, bomb)
	}
	for _, uid := range []uint32{before, after} {
		if l := r.ledger(t, uv, uid); l == nil || l.Action != "acknowledge" {
			t.Errorf("ledger of UID %d = %+v, want acknowledged", uid, l)
		}
	}
	waitFor(t, 20*time.Second, "failing message moved to Quarantine", func() bool {
		if !slices.Contains(e.dovecot.Mailboxes(t), "Quarantine") {
			return false
		}
		q := e.dovecot.FetchFlags(t, "Quarantine")
		for _, flags := range q {
			return len(q) == 1 && slices.Contains(flags, daemon.QuarantinedKeyword)
		}
		return false
	})
}

// A failure late in recording a message (here the staff copy cannot be
// composed: a forward address net/mail rejects, e.g. an operator's typo
// "staff..queue@") must not leave the customer's reply behind in the outbox:
// the message is retried, then quarantined, and the customer gets no reply at
// all rather than one per attempt (each attempt allocates a new ticket, so
// the replies would not even share a Message-ID).
func TestPoisonLateFailureSendsNoReplyPerAttempt(t *testing.T) {
	e := newEnv(t)
	uid := e.deliver(msg("Alice <alice@acme.test>", "Login page error", "late@acme.test", "Build Number: 9653\n"))
	uv := e.dovecot.UIDValidity(t, "INBOX")
	r := e.start(runOpts{pollInterval: 200 * time.Millisecond,
		engine: func(eng *daemon.Engine) { eng.Triage.StaffQueue = "staff..queue@vendor.test" },
		cfg:    func(c *daemon.Config) { c.MaxAttempts = 3 }})
	defer r.stop(t)
	waitFor(t, 30*time.Second, "the message quarantined", func() bool {
		l := r.ledger(t, uv, uid)
		return l != nil && l.Quarantined
	})
	waitFor(t, 20*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
	time.Sleep(500 * time.Millisecond)
	if n := repliesTo(e.mailpit.Messages(t), "alice@acme.test"); n != 0 {
		t.Errorf("the customer got %d replies for a message that was never recorded (quarantined after %d attempts)", n, r.ledger(t, uv, uid).Attempts)
	}
}
