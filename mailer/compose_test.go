package mailer

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func sampleReply() Reply {
	return Reply{
		From:       mail.Address{Name: "Vendor Support", Address: "support@vendor.test"},
		To:         []string{"Alice Émile <alice@customer.test>"},
		Cc:         []string{"sales@vendor.test"},
		Subject:    "[CS-004211] Re: Login fails after upgrade",
		InReplyTo:  "<CAF=abc123@mail.customer.test>",
		References: []string{"<root@mail.customer.test>"},
		MessageID:  "cs-004211.1f2e3d@vendor.test",
		Date:       time.Date(2026, 11, 26, 10, 30, 0, 0, time.FixedZone("ACDT", 37800)),
		Body:       "Dear Alice,\n\nWe received your request and opened ticket CS-004211.\n.\nA line with a dot above, and one long line: " + strings.Repeat("é", 60) + "\n",
		Extra:      map[string]string{"X-Support-Ticket": "CS-004211"},
	}
}

// fieldKeys returns the header field names of a parsed message, in order.
func fieldKeys(h mail.Header) []string {
	var keys []string
	for f := h.Fields(); f.Next(); {
		keys = append(keys, f.Key())
	}
	return keys
}

func parse(t testing.TB, b []byte) *mail.Reader {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("composed message does not parse: %v\n%s", err, b)
	}
	return r
}

func TestComposeReplyGolden(t *testing.T) {
	b, err := ComposeReply(sampleReply())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "reply.eml", b)
}

func TestComposeReplyRoundTrip(t *testing.T) {
	r := sampleReply()
	b, err := ComposeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	mr := parse(t, b)
	h := mr.Header
	want := []string{"Mime-Version", "From", "To", "Cc", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
		"Auto-Submitted", "X-Auto-Response-Suppress", "X-Support-Ticket", "Content-Type", "Content-Transfer-Encoding"}
	if got := fieldKeys(h); !slices.Equal(got, want) {
		t.Errorf("fields = %q\nwant %q", got, want)
	}
	if s, _ := h.Subject(); s != r.Subject {
		t.Errorf("Subject = %q", s)
	}
	if id, _ := h.MessageID(); id != r.MessageID {
		t.Errorf("Message-ID = %q", id)
	}
	if l, _ := h.MsgIDList("In-Reply-To"); !slices.Equal(l, []string{"CAF=abc123@mail.customer.test"}) {
		t.Errorf("In-Reply-To = %q", l)
	}
	if l, _ := h.MsgIDList("References"); !slices.Equal(l, []string{"root@mail.customer.test", "CAF=abc123@mail.customer.test"}) {
		t.Errorf("References = %q", l)
	}
	if d, _ := h.Date(); !d.Equal(r.Date) {
		t.Errorf("Date = %v", d)
	}
	if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Name != "Alice Émile" || to[0].Address != "alice@customer.test" {
		t.Errorf("To = %v", to)
	}
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("X-Auto-Response-Suppress") != "All" || h.Get("Precedence") != "" {
		t.Errorf("auto-reply fields wrong: %v", h.Map())
	}
	if ct, params, _ := h.ContentType(); ct != "text/plain" || params["charset"] != "utf-8" {
		t.Errorf("Content-Type = %s %v", ct, params)
	}
	p, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(p.Body)
	wantBody := strings.ReplaceAll(r.Body, "\n", "\r\n")
	if string(body) != wantBody {
		t.Errorf("body = %q\nwant %q", body, wantBody)
	}
	for i, line := range strings.Split(string(b), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line %d is %d octets long", i, len(line))
		}
	}
}

func TestComposeReplyReferencesTrimmed(t *testing.T) {
	r := sampleReply()
	r.References = nil
	for i := range 40 {
		r.References = append(r.References, "<ref"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26))+"@x.test>")
	}
	r.References = append(r.References, "not an id", "<bad\r\nBcc: a@b>")
	b, err := ComposeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	h := parse(t, b).Header
	refs, err := h.MsgIDList("References")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != maxReferences || refs[0] != "refaa@x.test" || refs[len(refs)-1] != "CAF=abc123@mail.customer.test" {
		t.Errorf("References = %q", refs)
	}
}

// Every incoming-derived value carrying a CRLF and a header line: the
// message parses back with exactly the expected fields, no Bcc, and the
// text survives as a single line.
func TestComposeReplyHeaderInjection(t *testing.T) {
	const evil = "x\r\nBcc: a@b"
	tests := []struct {
		name  string
		edit  func(*Reply)
		check func(t *testing.T, h mail.Header)
	}{
		{"subject", func(r *Reply) { r.Subject = evil }, func(t *testing.T, h mail.Header) {
			if s, _ := h.Subject(); s != "x Bcc: a@b" {
				t.Errorf("Subject = %q", s)
			}
		}},
		{"rfc2047 subject decoded to CRLF", func(r *Reply) { r.Subject = "hello\r\nBcc: evil@x.test" }, func(t *testing.T, h mail.Header) {
			if s, _ := h.Subject(); strings.ContainsAny(s, "\r\n") {
				t.Errorf("Subject = %q", s)
			}
		}},
		{"from name", func(r *Reply) { r.From.Name = evil }, func(t *testing.T, h mail.Header) {
			if a, _ := h.AddressList("From"); len(a) != 1 || a[0].Name != "x Bcc: a@b" || a[0].Address != "support@vendor.test" {
				t.Errorf("From = %v", a)
			}
		}},
		{"to display name (encoded word)", func(r *Reply) { r.To = []string{"=?utf-8?q?x=0D=0ABcc=3A_a=40b?= <alice@customer.test>"} }, func(t *testing.T, h mail.Header) {
			if a, _ := h.AddressList("To"); len(a) != 1 || a[0].Name != "x Bcc: a@b" {
				t.Errorf("To = %v", a)
			}
		}},
		{"extra value", func(r *Reply) {
			r.Extra = map[string]string{"X-Support-Ticket": evil, "X-Support-Build": "8973\nBcc: c@d"}
		}, func(t *testing.T, h mail.Header) {
			if v, _ := h.Text("X-Support-Ticket"); v != "x Bcc: a@b" {
				t.Errorf("X-Support-Ticket = %q", v)
			}
		}},
		{"in-reply-to", func(r *Reply) { r.InReplyTo = "<a@b>\r\nBcc: a@b" }, func(t *testing.T, h mail.Header) {
			if h.Has("In-Reply-To") {
				t.Errorf("invalid In-Reply-To kept: %q", h.Get("In-Reply-To"))
			}
		}},
		{"unicode line separators and C1", func(r *Reply) { r.Subject = "a\u2028Bcc: x@y\u0085z\x00\x1b" }, func(t *testing.T, h mail.Header) {
			if s, _ := h.Subject(); s != "a Bcc: x@y z" {
				t.Errorf("Subject = %q", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReply()
			tt.edit(&r)
			b, err := ComposeReply(r)
			if err != nil {
				t.Fatalf("ComposeReply: %v", err)
			}
			h := parse(t, b).Header
			if h.Has("Bcc") {
				t.Fatalf("Bcc injected:\n%s", b)
			}
			keys := fieldKeys(h)
			allowed := []string{"Mime-Version", "From", "To", "Cc", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
				"Auto-Submitted", "X-Auto-Response-Suppress", "X-Support-Ticket", "X-Support-Build", "Content-Type", "Content-Transfer-Encoding"}
			for _, k := range keys {
				if !slices.Contains(allowed, k) {
					t.Errorf("unexpected field %q", k)
				}
			}
			tt.check(t, h)
		})
	}
}

func TestComposeReplyRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Reply)
	}{
		{"message id with CRLF", func(r *Reply) { r.MessageID = "a@b>\r\nBcc: <x@y" }},
		{"empty message id", func(r *Reply) { r.MessageID = "" }},
		{"no date", func(r *Reply) { r.Date = time.Time{} }},
		{"no to", func(r *Reply) { r.To = nil }},
		{"to with CRLF", func(r *Reply) { r.To = []string{"alice@customer.test\r\nBcc: a@b"} }},
		{"bad from", func(r *Reply) { r.From.Address = "support@vendor.test>\r\nBcc: <a@b" }},
		{"bad cc", func(r *Reply) { r.Cc = []string{"not an address"} }},
		{"extra non-X key", func(r *Reply) { r.Extra = map[string]string{"Bcc": "a@b"} }},
		{"extra key with colon", func(r *Reply) { r.Extra = map[string]string{"X-A: b\r\nBcc": "a@b"} }},
		{"extra overriding ours", func(r *Reply) { r.Extra = map[string]string{"X-Auto-Response-Suppress": "None"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReply()
			tt.edit(&r)
			if b, err := ComposeReply(r); err == nil {
				t.Errorf("accepted:\n%s", b)
			}
		})
	}
}

func TestStaffSubject(t *testing.T) {
	tests := []struct {
		orig string
		tags []string
		want string
	}{
		{"Login fails", []string{"CS-004211", "P1", "ASUP"}, "[CS-004211][P1][ASUP] Login fails"},
		{"[CS-004211][P1][ASUP] Login fails", []string{"CS-004211", "P1", "ASUP"}, "[CS-004211][P1][ASUP] Login fails"},
		{"  x\r\nBcc: a@b ", []string{"CS-1", "", "P4"}, "[CS-1][P4] x Bcc: a@b"},
		{"", []string{"CS-1"}, "[CS-1]"},
		{"Hi", nil, "Hi"},
	}
	for _, tt := range tests {
		if got := StaffSubject(tt.orig, tt.tags...); got != tt.want {
			t.Errorf("StaffSubject(%q, %q) = %q, want %q", tt.orig, tt.tags, got, tt.want)
		}
	}
}

const originalEML = "From: Alice <alice@customer.test>\r\nTo: support@vendor.test\r\nSubject: Login fails\r\nMessage-ID: <orig-1@customer.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBuild Number: 8973\r\n--not-a-boundary\r\n\r\nThanks\r\n"

func staffHeaders() map[string]string {
	return map[string]string{
		"X-Support-Ticket":       "CS-004211",
		"X-Support-Priority":     "P1",
		"X-Support-Status":       "active",
		"X-Support-SLA-Deadline": "2026-11-26T12:30:00+10:30",
		"X-Support-Build":        "8973",
		"X-Support-Major":        "8",
		"X-Support-Server-OS":    "Windows Server 2019",
		"X-Support-Browser":      "Edge 85.0.564.51",
		"X-Support-Missing":      "screenshots, steps_to_reproduce",
	}
}

func TestComposeStaffCopyGolden(t *testing.T) {
	c := StaffCopy{
		From: "supportd <support@vendor.test>", To: "staff-queue@vendor.test",
		Subject: StaffSubject("Login fails", "CS-004211", "P1", "ASUP"), Headers: staffHeaders(),
		Preface:   "Ticket CS-004211 (new), priority P1, ASUP active.\nMissing: screenshots, steps to reproduce.",
		MessageID: "staff.cs-004211.1@vendor.test", Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Boundary: "supportd-test-boundary",
	}
	b, err := c.Compose(strings.NewReader(originalEML))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "staffcopy.eml", b)
}

func TestComposeStaffCopyRoundTrip(t *testing.T) {
	headers := staffHeaders()
	headers["X-Support-Browser"] = "x\r\nBcc: a@b"
	subject := StaffSubject("x\r\nBcc: a@b", "CS-004211", "P1", "ASUP")
	b, err := ComposeStaffCopy(strings.NewReader(originalEML), subject, headers,
		"=?utf-8?q?x=0D=0ABcc=3A_a=40b?= <support@vendor.test>", "staff-queue@vendor.test", "Preface line\nsecond")
	if err != nil {
		t.Fatal(err)
	}
	e, err := message.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	h := mail.Header{Header: e.Header}
	if h.Has("Bcc") || h.Has("Reply-To") {
		t.Errorf("unexpected Bcc/Reply-To:\n%s", b)
	}
	if s, _ := h.Subject(); s != "[CS-004211][P1][ASUP] x Bcc: a@b" {
		t.Errorf("Subject = %q", s)
	}
	for k, v := range headers {
		got, _ := h.Text(k)
		if want := cleanText(v); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", h.Get("Auto-Submitted"))
	}
	id, _ := h.MessageID()
	if !strings.HasPrefix(id, "staff.") || !strings.HasSuffix(id, "@vendor.test") {
		t.Errorf("Message-ID = %q", id)
	}
	b2, _ := ComposeStaffCopy(strings.NewReader(originalEML), subject, headers,
		"support@vendor.test", "staff-queue@vendor.test", "Preface line\nsecond")
	h2, _ := message.Read(bytes.NewReader(b2))
	id2, _ := (&mail.Header{Header: h2.Header}).MessageID()
	b3, _ := ComposeStaffCopy(strings.NewReader(originalEML), subject, headers,
		"support@vendor.test", "staff-queue@vendor.test", "Preface line\nsecond")
	h3, _ := message.Read(bytes.NewReader(b3))
	id3, _ := (&mail.Header{Header: h3.Header}).MessageID()
	if id2 != id3 || id2 == id {
		t.Errorf("derived Message-IDs: %q %q %q (want stable, input-dependent)", id, id2, id3)
	}

	mr := e.MultipartReader()
	if mr == nil {
		t.Fatal("not multipart")
	}
	p1, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct, _, _ := p1.Header.ContentType(); ct != "text/plain" {
		t.Errorf("part 1 = %s", ct)
	}
	pre, _ := io.ReadAll(p1.Body)
	if string(pre) != "Preface line\r\nsecond\r\n" {
		t.Errorf("preface = %q", pre)
	}
	p2, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if ct, _, _ := p2.Header.ContentType(); ct != "message/rfc822" {
		t.Errorf("part 2 = %s", ct)
	}
	orig, _ := io.ReadAll(p2.Body)
	if string(orig) != originalEML {
		t.Errorf("original changed:\n%q\nwant\n%q", orig, originalEML)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("extra part: %v", err)
	}
}

func TestComposeStaffCopyLimit(t *testing.T) {
	c := StaffCopy{From: "support@vendor.test", To: "staff@vendor.test", Subject: "s", MaxOriginalBytes: 50}
	if _, err := c.Compose(strings.NewReader(originalEML)); err == nil || !strings.Contains(err.Error(), "exceeds 50 bytes") {
		t.Errorf("err = %v, want size error", err)
	}
	c.MaxOriginalBytes = int64(len(originalEML))
	if _, err := c.Compose(strings.NewReader(originalEML)); err != nil {
		t.Errorf("exact size: %v", err)
	}
	c.Boundary = "bad boundary\r\n"
	if _, err := c.Compose(strings.NewReader(originalEML)); err == nil {
		t.Error("invalid boundary accepted")
	}
}

// FuzzComposeReply: whatever the incoming-derived strings, ComposeReply
// either refuses or produces a message that parses back with only the
// fields it writes, and a Subject without line breaks.
func FuzzComposeReply(f *testing.F) {
	f.Add("x\r\nBcc: a@b", "Name\r\nBcc: a@b", "Alice <alice@customer.test>", "<a@b>", "CS-004211\nX: y", "body")
	f.Add("=?utf-8?q?hello=0D=0ABcc:?=", "=?utf-8?q?a=0D=0AB?=", "a@b.test", "", "=?utf-8?q?a=0D=0AB?=", "")
	f.Add(strings.Repeat("é", 500), "\u2028", "\"q\\\"x\" <a@b.test>", "<>", "\x00", "\r.\r\n.\n")
	f.Fuzz(func(t *testing.T, subject, name, to, inReplyTo, extra, body string) {
		r := sampleReply()
		r.Subject, r.From.Name, r.To, r.InReplyTo, r.Body = subject, name, []string{to}, inReplyTo, body
		r.Extra = map[string]string{"X-Support-Ticket": extra}
		b, err := ComposeReply(r)
		if err != nil {
			return
		}
		mr, err := mail.CreateReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("does not parse: %v\n%q", err, b)
		}
		allowed := []string{"Mime-Version", "From", "To", "Cc", "Subject", "Date", "Message-Id", "In-Reply-To", "References",
			"Auto-Submitted", "X-Auto-Response-Suppress", "X-Support-Ticket", "Content-Type", "Content-Transfer-Encoding"}
		for _, k := range fieldKeys(mr.Header) {
			if !slices.Contains(allowed, k) {
				t.Fatalf("unexpected field %q in\n%q", k, b)
			}
		}
		if s, _ := mr.Header.Subject(); strings.ContainsAny(s, "\r\n") || s != cleanText(subject) {
			t.Fatalf("Subject = %q, want %q", s, cleanText(subject))
		}
		if v, _ := mr.Header.Text("X-Support-Ticket"); v != cleanText(extra) {
			t.Fatalf("X-Support-Ticket = %q, want %q", v, cleanText(extra))
		}
		if a, err := mr.Header.AddressList("From"); err != nil || len(a) != 1 || strings.ContainsAny(a[0].Name, "\r\n") {
			t.Fatalf("From = %v, %v", a, err)
		}
		if a, err := mr.Header.AddressList("To"); err != nil || len(a) != 1 {
			t.Fatalf("To = %v, %v", a, err)
		}
	})
}

// FuzzComposeStaffCopy: whatever the subject, X-Support values, preface and
// original bytes, the copy parses back with only its own fields, the
// preface part and the original unchanged.
func FuzzComposeStaffCopy(f *testing.F) {
	f.Add("x\r\nBcc: a@b", "P1\nBcc: c@d", "preface", []byte(originalEML))
	f.Add("=?utf-8?q?a=0D=0AB?=", "", "", []byte("no newline at end"))
	f.Add("", "\x00\u2028", "\r\n.\r\n", []byte("--\r\n--x--\r\n\n\r\r"))
	f.Fuzz(func(t *testing.T, subject, value, preface string, original []byte) {
		b, err := StaffCopy{
			From: "support@vendor.test", To: "staff@vendor.test", Subject: subject,
			Headers: map[string]string{"X-Support-Priority": value}, Preface: preface,
		}.Compose(bytes.NewReader(original))
		if err != nil {
			t.Fatalf("Compose: %v", err)
		}
		e, err := message.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("does not parse: %v", err)
		}
		allowed := []string{"Mime-Version", "From", "To", "Subject", "Message-Id", "Auto-Submitted", "X-Auto-Response-Suppress", "X-Support-Priority", "Content-Type"}
		for _, k := range fieldKeys(mail.Header{Header: e.Header}) {
			if !slices.Contains(allowed, k) {
				t.Fatalf("unexpected field %q", k)
			}
		}
		mr := e.MultipartReader()
		if mr == nil {
			t.Fatal("not multipart")
		}
		if _, err := mr.NextPart(); err != nil {
			t.Fatalf("preface part: %v", err)
		}
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("original part: %v", err)
		}
		got, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		// go-message's 8bit writer makes every line end in CRLF and breaks
		// lines over 998 octets (RFC 5322 §2.1.1); otherwise byte for byte.
		if wellFormedLines(original) {
			if !bytes.Equal(got, original) {
				t.Fatalf("original changed:\n got %q\nwant %q", got, original)
			}
		} else if stripEOL(got) != stripEOL(original) {
			t.Fatalf("original content changed:\n got %q\nwant %q", got, original)
		}
	})
}

// wellFormedLines: every CR is followed by LF, every LF preceded by CR,
// and no line exceeds 998 octets.
func wellFormedLines(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\r\n")) {
		if len(line) > 998 || bytes.ContainsAny(line, "\r\n") {
			return false
		}
	}
	return true
}

func stripEOL(b []byte) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(string(b))
}
