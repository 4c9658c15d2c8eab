package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// testParser is New(opts) (defaults for nil), failing the test on an error.
func testParser(t testing.TB, opts *Options) *Parser {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parseString(t *testing.T, s string, opts *Options) *Message {
	t.Helper()
	m, err := testParser(t, opts).Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m == nil {
		t.Fatal("Parse returned nil Message")
	}
	return m
}

func hasProblem(m *Message, token string) bool {
	for _, p := range m.Problems {
		if p == token || strings.HasPrefix(p, token+":") {
			return true
		}
	}
	return false
}

func TestSubjectHeaderInjection(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"=?utf-8?q?x=0D=0ABcc:_a@b?=", "x Bcc: a@b"},
		{"=?utf-8?q?Urgent_help=0D=0ABcc:_victim@example.com?=", "Urgent help Bcc: victim@example.com"},
		{"=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte("a\r\nb\x00c\u2028d\x7fe")) + "?=", "a b c d e"},
		{"plain\tsubject", "plain subject"},
	}
	for _, tc := range tests {
		m := parseString(t, "From: a@b.test\r\nSubject: "+tc.raw+"\r\n\r\nbody\r\n", nil)
		if strings.ContainsAny(m.Subject, "\r\n\x00\x7f") {
			t.Errorf("subject %q contains control characters", m.Subject)
		}
		if m.Subject != tc.want {
			t.Errorf("Subject(%q) = %q, want %q", tc.raw, m.Subject, tc.want)
		}
	}
	// Display names are cleaned as well.
	m := parseString(t, "From: =?utf-8?q?Eve=0D=0ABcc:_x@y?= <eve@evil.test>\r\n\r\nhi", nil)
	if m.From == nil || strings.ContainsAny(m.From.Name, "\r\n") {
		t.Errorf("From = %+v", m.From)
	}
}

func TestHeaders(t *testing.T) {
	raw := "Return-Path: <>\r\n" +
		"From: \"Bob Smith\" <Bob.Smith@ACME.Test>\r\n" +
		"Reply-To: other@Elsewhere.test\r\n" +
		"To: Support <support@vendor.test>, second@vendor.test\r\n" +
		"Cc: c1@x.test\r\n" +
		"Cc: c2@x.test\r\n" +
		"Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n" +
		"Message-ID: abc123@host.test\r\n" +
		"In-Reply-To: <p1@host.test> (comment)\r\n" +
		"References: <r1@host.test>\r\n <r2@host.test>\r\n" +
		"Date: Thu, 26 Nov 2026 09:12:41 +1030 (ACDT)\r\n" +
		"Auto-Submitted: Auto-Replied; owner-email=x@y\r\n" +
		"Precedence: BULK\r\n" +
		"List-Id: Announce <announce.lists.test>\r\n" +
		"List-Unsubscribe: <mailto:u@lists.test>\r\n" +
		"X-Auto-Response-Suppress: OOF, AutoReply\r\n" +
		"X-Loop: one@x.test\r\n" +
		"X-Loop: two@x.test\r\n" +
		"Authentication-Results: mx.vendor.test; dmarc=pass header.from=acme.test\r\n" +
		"Authentication-Results: other.test; dmarc=fail\r\n" +
		"\r\nbody\r\n"
	m := parseString(t, raw, nil)
	if m.From == nil || m.From.Addr != "bob.smith@acme.test" || m.From.Name != "Bob Smith" {
		t.Errorf("From = %+v", m.From)
	}
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Addr != "other@elsewhere.test" {
		t.Errorf("ReplyTo = %+v", m.ReplyTo)
	}
	if len(m.To) != 2 || m.To[1].Addr != "second@vendor.test" {
		t.Errorf("To = %+v", m.To)
	}
	if len(m.Cc) != 2 || m.Cc[0].Addr != "c1@x.test" || m.Cc[1].Addr != "c2@x.test" {
		t.Errorf("Cc = %+v", m.Cc)
	}
	if m.Subject != "Grüße" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.MessageID != "<abc123@host.test>" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if !slices.Equal(m.InReplyTo, []string{"<p1@host.test>"}) {
		t.Errorf("InReplyTo = %q", m.InReplyTo)
	}
	if !slices.Equal(m.References, []string{"<r1@host.test>", "<r2@host.test>"}) {
		t.Errorf("References = %q", m.References)
	}
	want := time.Date(2026, 11, 25, 22, 42, 41, 0, time.UTC)
	if !m.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", m.Date, want)
	}
	if !m.HasReturnPath || m.ReturnPath != "" {
		t.Errorf("Return-Path: has=%v path=%q, want null path", m.HasReturnPath, m.ReturnPath)
	}
	if m.AutoSubmitted != "auto-replied" || m.Precedence != "bulk" {
		t.Errorf("AutoSubmitted=%q Precedence=%q", m.AutoSubmitted, m.Precedence)
	}
	if m.ListID != "Announce <announce.lists.test>" || m.ListUnsubscribe != "<mailto:u@lists.test>" {
		t.Errorf("ListID=%q ListUnsubscribe=%q", m.ListID, m.ListUnsubscribe)
	}
	if m.XAutoResponseSuppress != "OOF, AutoReply" {
		t.Errorf("XAutoResponseSuppress=%q", m.XAutoResponseSuppress)
	}
	if !slices.Equal(m.XLoop, []string{"one@x.test", "two@x.test"}) {
		t.Errorf("XLoop=%q", m.XLoop)
	}
	if len(m.AuthenticationResults) != 2 || !strings.HasPrefix(m.AuthenticationResults[0], "mx.vendor.test;") {
		t.Errorf("AuthenticationResults=%q (want top to bottom)", m.AuthenticationResults)
	}
	if len(m.Problems) != 0 {
		t.Errorf("Problems = %v, want none", m.Problems)
	}
}

func TestHeaderProblems(t *testing.T) {
	m := parseString(t, "From: Bob Smith bob@acme.test (broken <\r\nDate: yesterday-ish\r\n\r\nhi", nil)
	if m.From == nil || m.From.Addr != "bob@acme.test" {
		t.Errorf("fallback From = %+v", m.From)
	}
	for _, p := range []string{"malformed_address: From", "bad_date", "no_message_id"} {
		if !slices.Contains(m.Problems, p) {
			t.Errorf("problems %v lack %q", m.Problems, p)
		}
	}
	m = parseString(t, "Subject: x\r\n\r\nhi", nil)
	if m.From != nil || !hasProblem(m, "no_from") || !hasProblem(m, "no_date") {
		t.Errorf("From=%v problems=%v", m.From, m.Problems)
	}
	// Return-Path with an address.
	m = parseString(t, "Return-Path: <Bounce@Lists.Test>\r\nFrom: a@b.test\r\n\r\n", nil)
	if !m.HasReturnPath || m.ReturnPath != "bounce@lists.test" {
		t.Errorf("ReturnPath = %q", m.ReturnPath)
	}
	// Problems are sorted and unique.
	if !slices.IsSorted(m.Problems) {
		t.Errorf("problems not sorted: %v", m.Problems)
	}
}

func TestEmptyAndNil(t *testing.T) {
	m, err := testParser(t, nil).Parse(nil)
	if err != nil || m == nil || !hasProblem(m, "empty_message") {
		t.Fatalf("Parse(nil) = %+v, %v", m, err)
	}
	m = parseString(t, "", nil)
	if !hasProblem(m, "empty_message") || m.Problems == nil {
		t.Errorf("empty input problems = %v", m.Problems)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	m, err := testParser(t, nil).Parse(&failingReader{data: []byte("From: a@b.test\r\nSubject: partial\r\n\r\nsome text"), err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if m == nil || m.Subject != "partial" {
		t.Errorf("best-effort message lost: %+v", m)
	}
}

func TestMultipartAlternativePrefersPlain(t *testing.T) {
	raw := "From: a@b.test\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nplain version\r\n" +
		"--XX--\r\n"
	m := parseString(t, raw, nil)
	if m.Text != "plain version" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, html, want string }{
		{"table", `<table><tr><td><p>Build Number</p></td><td><p>8973</p></td></tr><tr><td>Server OS</td><td>Windows Server 2019</td></tr></table>`,
			"Build Number\t8973\nServer OS\tWindows Server 2019"},
		{"blocks and br", "<div>one</div><div>two<br>three</div><p>four</p>", "one\ntwo\nthree\nfour"},
		{"script and style dropped", "<style>p{color:red}</style><script>alert(1)</script><p>text</p>", "text"},
		{"entities", "<p>&quot;Tom&quot; &amp; Jerry&nbsp;&lt;3 &#8220;x&#8221;</p>", "\"Tom\" & Jerry <3 \u201cx\u201d"},
		{"whitespace collapsed", "<p>a\n   b\t\tc</p>", "a b c"},
		{"lists", "<ol><li>first</li><li>second</li></ol><ul><li>x</li></ul>", "1. first\n2. second\n- x"},
		{"blockquote", "<p>mine</p><blockquote><p>theirs</p></blockquote>", "mine\n> theirs"},
		{"pre", "<pre>a  b\nc</pre>", "a  b\nc"},
		{"unclosed", "<p>a<b>b", "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(htmlToText(nil, []byte(tc.html), 1<<20))
			if got != tc.want {
				t.Errorf("htmlToText = %q, want %q", got, tc.want)
			}
		})
	}
	if got := htmlToText(nil, []byte("<p>"+strings.Repeat("é", 100)+"</p>"), 11); len(got) > 11 || !bytes.Equal(got, []byte(strings.Repeat("é", 5))) {
		t.Errorf("bounded output = %q", got)
	}
}

func TestHTMLOnlyBuildInTable(t *testing.T) {
	raw := "From: a@globex.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<table><tr><td>Build Number</td><td>8973</td></tr><tr><td>Server OS</td><td>Win 2016</td></tr></table>"
	m := parseString(t, raw, nil)
	if m.Build != 8973 || m.ServerOS != "Windows Server 2016" {
		t.Errorf("Build=%d ServerOS=%q text=%q", m.Build, m.ServerOS, m.Text)
	}
}

func TestCharsets(t *testing.T) {
	tests := []struct {
		name, ct, cte, body, want, problem string
	}{
		{"latin1 qp", "text/plain; charset=ISO-8859-1", "quoted-printable", "Gr=FC=DFe", "Grüße", ""},
		{"windows-1252", "text/plain; charset=windows-1252", "8bit", "\x93quoted\x94", "\u201cquoted\u201d", ""},
		{"shift_jis", "text/plain; charset=Shift_JIS", "8bit", "\x83\x65\x83\x58\x83\x67", "テスト", ""},
		{"iso-2022-jp", "text/plain; charset=ISO-2022-JP", "7bit", "\x1b$B%F%9%H\x1b(B", "テスト", ""},
		{"gbk", "text/plain; charset=GBK", "8bit", "\xc4\xe3\xba\xc3", "你好", ""},
		{"big5", "text/plain; charset=Big5", "8bit", "\xa7\x41\xa6\x6e", "你好", ""},
		{"unknown charset keeps bytes", "text/plain; charset=x-foo", "7bit", "hello", "hello", "unknown_charset: x-foo"},
		{"undeclared 8bit", "text/plain", "8bit", "caf\xe9", "café", "undeclared_charset"},
		{"mangled charset name", `text/plain; charset="charset=iso-8859-1"`, "8bit", "caf\xe9", "café", ""},
		{"bad base64 keeps prefix", "text/plain", "base64", base64.StdEncoding.EncodeToString([]byte("hello world")) + "!!!*", "hello world", "bad_base64"},
		{"bad qp", "text/plain", "quoted-printable", "ok =\x01 rest", "ok", "bad_quoted_printable"},
		{"unknown encoding", "text/plain", "x-uue", "raw", "raw", "unknown_encoding: x-uue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := "From: a@b.test\r\nDate: Thu, 26 Nov 2026 09:12:41 +1030\r\nMessage-ID: <c@b.test>\r\nContent-Type: " + tc.ct + "\r\nContent-Transfer-Encoding: " + tc.cte + "\r\n\r\n" + tc.body
			m := parseString(t, raw, nil)
			if !strings.HasPrefix(m.Text, tc.want) {
				t.Errorf("Text = %q, want prefix %q", m.Text, tc.want)
			}
			if tc.problem != "" && !slices.Contains(m.Problems, tc.problem) {
				t.Errorf("problems %v lack %q", m.Problems, tc.problem)
			}
			if tc.problem == "" && len(m.Problems) > 0 {
				t.Errorf("unexpected problems %v", m.Problems)
			}
		})
	}
}

func TestAttachments(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\nfake image bytes")
	pdf := []byte("%PDF-1.4 fake")
	tnef := []byte("\x78\x9f\x3e\x22tnef")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	raw := "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--B\r\nContent-Type: multipart/related; boundary=R\r\n\r\n" +
		"--R\r\nContent-Type: text/html\r\n\r\n<img src=cid:x>\r\n" +
		"--R\r\nContent-Type: image/png\r\nContent-ID: <x>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(png) + "\r\n" +
		"--R--\r\n" +
		"--B\r\nContent-Type: application/pdf; name=\"=?UTF-8?Q?R=C3=A9sum=C3=A9.pdf?=\"\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(pdf) + "\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''%E6%88%AA%E5%9B%BE.PNG\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(png) + "\r\n" +
		"--B\r\nContent-Type: application/vnd.ms-tnef; name=\"WINMAIL.DAT\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(tnef) + "\r\n" +
		"--B\r\nContent-Type: text/plain; name=\"C:\\\\logs\\\\debug.log\"\r\nContent-Disposition: attachment; filename=\"..\\\\..\\\\debug.log\"\r\n\r\nlog line\r\n" +
		"--B--\r\n"
	m := parseString(t, raw, nil)
	if len(m.Attachments) != 5 {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	want := []Attachment{
		{Filename: "", ContentType: "image/png", Size: int64(len(png)), SHA256: sum(png), Screenshot: true, Inline: true},
		{Filename: "Résumé.pdf", ContentType: "application/pdf", Size: int64(len(pdf)), SHA256: sum(pdf)},
		{Filename: "截图.PNG", ContentType: "application/octet-stream", Size: int64(len(png)), SHA256: sum(png), Screenshot: true},
		{Filename: "WINMAIL.DAT", ContentType: "application/vnd.ms-tnef", Size: int64(len(tnef)), SHA256: sum(tnef), Winmail: true},
		{Filename: "debug.log", ContentType: "text/plain", Size: 8, SHA256: sum([]byte("log line"))},
	}
	for i, w := range want {
		if m.Attachments[i] != w {
			t.Errorf("attachment %d = %+v, want %+v", i, m.Attachments[i], w)
		}
	}
	if m.Screenshots() != 2 {
		t.Errorf("Screenshots() = %d", m.Screenshots())
	}
	if m.Text != "see attached" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestReports(t *testing.T) {
	dsn := "From: MAILER-DAEMON@mx.test\r\nReturn-Path: <>\r\nContent-Type: multipart/report; report-type=Delivery-Status; boundary=D\r\n\r\n" +
		"--D\r\nContent-Type: text/plain\r\n\r\nfailed\r\n" +
		"--D\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n" +
		"--D--\r\n"
	m := parseString(t, dsn, nil)
	if !m.IsReport || m.ReportType != "delivery-status" || m.ContentType != "multipart/report" {
		t.Errorf("IsReport=%v ReportType=%q ContentType=%q", m.IsReport, m.ReportType, m.ContentType)
	}
	// A delivery-status part inside a multipart/mixed also counts.
	mixed := "From: postmaster@mx.test\r\nContent-Type: multipart/mixed; boundary=D\r\n\r\n" +
		"--D\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: displayed\r\n--D--\r\n"
	if m := parseString(t, mixed, nil); !m.IsReport {
		t.Error("message/disposition-notification part did not set IsReport")
	}
	// A bounce forwarded by a customer (inside message/rfc822) does not.
	fwd := "From: bob@acme.test\r\nContent-Type: multipart/mixed; boundary=F\r\n\r\n" +
		"--F\r\nContent-Type: text/plain\r\n\r\nwhy did this bounce?\r\n" +
		"--F\r\nContent-Type: message/rfc822\r\n\r\n" + strings.ReplaceAll(dsn, "boundary=D", "boundary=D2") + "\r\n--F--\r\n"
	if m := parseString(t, fwd, nil); m.IsReport {
		t.Error("encapsulated report set IsReport")
	}
}

func TestMalformedStructure(t *testing.T) {
	tests := []struct {
		name, raw, problem, text string
	}{
		{"missing boundary param", "From: a@b.test\r\nContent-Type: multipart/mixed\r\n\r\nhello there", "missing_boundary", "hello there"},
		{"boundary never found", "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=NOPE\r\n\r\nhello there\r\n", "missing_boundary", "hello there"},
		{"no final boundary", "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nkept text\r\n", "missing_final_boundary", "kept text"},
		{"garbage header line", "From: a@b.test\r\nthis is not a header\r\nSubject: still read\r\n\r\nbody", "malformed_header", "body"},
		{"body without blank line", "From: a@b.test\r\nSubject: s\r\nHello, this is the body.\r\nSecond line\r\n", "malformed_header", "Second line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseString(t, tc.raw, nil)
			if !hasProblem(m, tc.problem) {
				t.Errorf("problems %v lack %q", m.Problems, tc.problem)
			}
			if !strings.Contains(m.Text, tc.text) {
				t.Errorf("Text = %q, want it to contain %q", m.Text, tc.text)
			}
		})
	}
	m := parseString(t, "From: a@b.test\r\nthis is not a header\r\nSubject: still read\r\n\r\nbody", nil)
	if m.Subject != "still read" {
		t.Errorf("header after a garbage line lost: Subject=%q", m.Subject)
	}
}

func TestEncapsulatedMessage(t *testing.T) {
	inner := "From: lisa@initech.test\r\nSubject: inner\r\n\r\nWe are on Build 9100.\r\n"
	raw := "From: tom@initech.test\r\nSubject: Fw: inner\r\nContent-Type: multipart/mixed; boundary=F\r\n\r\n" +
		"--F\r\nContent-Type: text/plain\r\n\r\nsee below\r\n" +
		"--F\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=inner.eml\r\n\r\n" + inner + "\r\n--F--\r\n"
	m := parseString(t, raw, nil)
	if m.Build != 9100 || m.Subject != "Fw: inner" || m.From.Addr != "tom@initech.test" {
		t.Errorf("Build=%d Subject=%q From=%v", m.Build, m.Subject, m.From)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].ContentType != "message/rfc822" || m.Attachments[0].Filename != "inner.eml" {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	s := sha256.Sum256([]byte(inner))
	if m.Attachments[0].SHA256 != hex.EncodeToString(s[:]) || m.Attachments[0].Size != int64(len(inner)) {
		t.Errorf("encapsulated hash/size = %+v (want size %d)", m.Attachments[0], len(inner))
	}
}

// nested builds a message with depth nested multiparts.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString("From: a@b.test\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b%d--\r\n", depth, depth)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.String()
}

func TestLimitDepth(t *testing.T) {
	start := time.Now()
	m := parseString(t, nested(5000), nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("5,000 nested parts took %v", d)
	}
	if !hasProblem(m, "too_deep") {
		t.Errorf("problems = %v, want too_deep", m.Problems)
	}
	// Within the limit the text is found.
	m = parseString(t, nested(5), nil)
	if hasProblem(m, "too_deep") || m.Text != "deep" {
		t.Errorf("depth 5: problems=%v text=%q", m.Problems, m.Text)
	}
	// Encapsulated messages count towards depth too.
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("From: a@b.test\r\nContent-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("From: a@b.test\r\n\r\ninnermost\r\n")
	m = parseString(t, b.String(), nil)
	if !hasProblem(m, "too_deep") {
		t.Errorf("nested rfc822: problems = %v", m.Problems)
	}
}

func TestLimitParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.test\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n")
	for i := 0; i < 100000; i++ {
		b.WriteString("--p\r\n\r\n")
	}
	b.WriteString("--p--\r\n")
	start := time.Now()
	m := parseString(t, b.String(), nil)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("100,000 parts took %v", d)
	}
	if !hasProblem(m, "too_many_parts") {
		t.Errorf("problems = %v, want too_many_parts", m.Problems)
	}
	if m.From == nil || m.From.Addr != "a@b.test" {
		t.Errorf("gathered header lost: %+v", m.From)
	}
}

func TestLimitHeader(t *testing.T) {
	raw := "From: a@b.test\r\nSubject: kept\r\nX-Huge: " + strings.Repeat("x", 1<<20) + "\r\nTo: after@b.test\r\n\r\nbody after the huge header\r\n"
	m := parseString(t, raw, nil)
	if !hasProblem(m, "header_too_large") {
		t.Errorf("problems = %v, want header_too_large", m.Problems)
	}
	if m.Subject != "kept" || m.From == nil {
		t.Errorf("fields before the huge line lost: subject=%q from=%v", m.Subject, m.From)
	}
	if m.Text != "body after the huge header" {
		t.Errorf("Text = %q", m.Text)
	}
	// A huge Subject line.
	m = parseString(t, "From: a@b.test\r\nSubject: "+strings.Repeat("s", 1<<20)+"\r\n\r\nbody", nil)
	if !hasProblem(m, "header_too_large") || len(m.Subject) > maxHeaderValue {
		t.Errorf("huge subject: problems=%v len=%d", m.Problems, len(m.Subject))
	}
	// A huge part header.
	raw = "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nX-Big: " + strings.Repeat("y", 300<<10) + "\r\n\r\nbig\r\n--B\r\nContent-Type: text/plain\r\n\r\nsmall\r\n--B--\r\n"
	m = parseString(t, raw, nil)
	if !hasProblem(m, "header_too_large") || m.Text != "small" {
		t.Errorf("huge part header: problems=%v text=%q", m.Problems, m.Text)
	}
}

func TestLimitMessageAndText(t *testing.T) {
	body := strings.Repeat("0123456789", 1000)
	raw := "From: a@b.test\r\n\r\n" + body
	m := parseString(t, raw, &Options{Limits: Limits{MaxMessageBytes: 1000}})
	if !hasProblem(m, "message_too_large") || m.Size != 1000 {
		t.Errorf("problems=%v size=%d", m.Problems, m.Size)
	}
	m = parseString(t, raw, &Options{Limits: Limits{MaxTextBytes: 100}})
	if len(m.Text) != 100 || hasProblem(m, "message_too_large") || m.Size != int64(len(raw)) {
		t.Errorf("text len=%d problems=%v size=%d", len(m.Text), m.Problems, m.Size)
	}
	// Exactly at the limit is fine.
	m = parseString(t, raw, &Options{Limits: Limits{MaxMessageBytes: int64(len(raw))}})
	if hasProblem(m, "message_too_large") {
		t.Errorf("limit equal to size reported too large")
	}
}

// patternReader produces a base64 body of n decoded bytes without holding it.
type patternReader struct{ n, off int }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := min(len(p), r.n-r.off)
	for i := 0; i < k; i++ {
		p[i] = byte((r.off + i) * 7)
	}
	r.off += k
	return k, nil
}

func TestLargeAttachmentStreamed(t *testing.T) {
	const size = 20 << 20
	want := sha256.New()
	_, _ = io.Copy(want, &patternReader{n: size})

	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "From: a@b.test\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n--Z\r\nContent-Type: text/plain\r\n\r\nlog attached\r\n--Z\r\nContent-Type: application/zip; name=logs.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		// 57 decoded bytes per 76-column line, 512 lines per write.
		src := &patternReader{n: size}
		in := make([]byte, 57*512)
		out := make([]byte, 0, 78*512)
		for {
			n, err := io.ReadFull(src, in)
			out = out[:0]
			for i := 0; i < n; i += 57 {
				chunk := in[i:min(i+57, n)]
				start := len(out)
				out = out[:start+base64.StdEncoding.EncodedLen(len(chunk))]
				base64.StdEncoding.Encode(out[start:], chunk)
				out = append(out, '\r', '\n')
			}
			pw.Write(out)
			if err != nil {
				break
			}
		}
		io.WriteString(pw, "--Z--\r\n")
		pw.Close()
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := testParser(t, nil).Parse(pr)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments = %+v", m.Attachments)
	}
	a := m.Attachments[0]
	if a.Size != size || a.SHA256 != hex.EncodeToString(want.Sum(nil)) || a.Filename != "logs.zip" {
		t.Errorf("attachment = %+v", a)
	}
	// Bytes allocated by the whole parse (the pipe writer's share included)
	// stay far below the attachment's size: nothing holds it in memory.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 8<<20 {
		t.Errorf("parse allocated %d MiB for a 20 MiB attachment", grown>>20)
	}
	if m.Text != "log attached" {
		t.Errorf("Text = %q", m.Text)
	}
}

func TestOwnMailExpectations(t *testing.T) {
	// Spot checks on the realistic support mails (the full output is pinned
	// by TestGolden; these say what matters in each).
	tests := []struct {
		file   string
		check  func(*Message) bool
		reason string
	}{
		{"01-ticket-page.eml", func(m *Message) bool {
			return m.TicketID == "CS-004211" && m.Build == 8973 && m.ServerOS == "Windows Server 2019" &&
				m.Browser != nil && m.Browser.Name == "Edge" && m.Browser.Version == "85.0.564.51" && m.HasDescription && m.HasSteps
		}, "support page fields"},
		{"02-outlook-html-table.eml", func(m *Message) bool { return m.Build == 9653 && m.ServerOS == "Windows Server 2022" }, "table fields"},
		{"06-reply-quoting-ticket.eml", func(m *Message) bool { return m.TicketID == "CS-004211" && len(m.References) == 2 }, "quoted ticket id"},
		{"08-shift-jis.eml", func(m *Message) bool {
			return m.Subject == "共有設定が保存できません" && strings.Contains(m.Text, "アップデート")
		}, "Shift_JIS"},
		{"09-iso-2022-jp.eml", func(m *Message) bool {
			return m.From.Name == "山田 花子" && strings.Contains(m.Text, "二要素認証")
		}, "ISO-2022-JP"},
		{"10-inline-screenshot.eml", func(m *Message) bool { return m.Screenshots() == 1 && m.Attachments[0].Inline }, "inline screenshot"},
		{"11-winmail-dat.eml", func(m *Message) bool { return len(m.Attachments) == 1 && m.Attachments[0].Winmail }, "winmail.dat"},
		{"12-dsn-bounce.eml", func(m *Message) bool {
			return m.IsReport && m.ReportType == "delivery-status" && m.HasReturnPath && m.ReturnPath == ""
		}, "DSN"},
		{"13-mdn-read-receipt.eml", func(m *Message) bool { return m.IsReport && m.ReportType == "disposition-notification" }, "MDN"},
		{"14-out-of-office.eml", func(m *Message) bool { return m.AutoSubmitted == "auto-replied" && m.XAutoResponseSuppress == "All" }, "OOF"},
		{"15-mailing-list.eml", func(m *Message) bool { return m.ListID != "" && m.Precedence == "list" && !m.HasSteps }, "list"},
		{"16-pasted-user-agent.eml", func(m *Message) bool {
			return m.Browser != nil && m.Browser.Name == "Edge" && m.Browser.Version == "85.0.564.51"
		}, "UA"},
		{"17-authentication-results.eml", func(m *Message) bool {
			return len(m.AuthenticationResults) == 2 && strings.Contains(m.AuthenticationResults[0], "dmarc=pass")
		}, "Authentication-Results"},
		{"18-reply-to-other-domain.eml", func(m *Message) bool {
			return len(m.ReplyTo) == 1 && m.ReplyTo[0].Addr == "bob.smith.private@mailbox.example"
		}, "Reply-To"},
		{"19-header-injection-subject.eml", func(m *Message) bool { return !strings.ContainsAny(m.Subject, "\r\n") }, "injection"},
		{"20-html-only.eml", func(m *Message) bool { return m.Build == 9530 && m.HasSteps && !strings.Contains(m.Text, "tracking") }, "HTML only"},
		{"22-old-build.eml", func(m *Message) bool { return m.Build == 7631 }, "old build"},
		{"23-rfc2231-filename.eml", func(m *Message) bool { return m.Attachments[0].Filename == "capture d’écran erreur.png" }, "RFC 2231"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m := parseFile(t, "../testdata/mail/"+tc.file)
			if !tc.check(m) {
				t.Errorf("%s: %s check failed: %+v", tc.file, tc.reason, m)
			}
		})
	}
}

func parseFile(t *testing.T, path string) *Message {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseString(t, string(b), nil)
}

func TestAppendText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"a\r\nb\rc\nd", 100, "a\nb\nc\nd"},
		{"x\x00y\x7fz\x1b", 100, "xyz"},
		{"c1\u0085\u009fend", 100, "c1end"},
		{"bad\xffbyte", 100, "bad\uFFFDbyte"},
		{"0123456789", 4, "0123"},
		{"éééé", 5, "éé"},
		{"a\r\néé", 4, "a\né"},
		{"tab\tkept", 100, "tab\tkept"},
	}
	for _, tc := range tests {
		got := string(appendText([]byte(">"), []byte(tc.in), tc.max))
		if got != ">"+tc.want {
			t.Errorf("appendText(%q, %d) = %q, want %q", tc.in, tc.max, got[1:], tc.want)
		}
	}
}

// A parameter list that mime.ParseMediaType refuses (an unquoted 8-bit or
// encoded-word file name) still yields the file name, as enmime reads it.
func TestLenientFilenameParams(t *testing.T) {
	for _, tc := range []struct{ disp, want string }{
		{"attachment; filename=管理.doc", "管理.doc"},
		{"attachment; filename==?UTF-8?B?w6lsw6lwaGFudC5wbmc=?=; size=12", "éléphant.png"},
		{"attachment; filename=report.pdf; foo=\"unterminated", "report.pdf"},
	} {
		raw := "From: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: " + tc.disp + "\r\n\r\nxyz\r\n--b--\r\n"
		m := parseString(t, raw, nil)
		if len(m.Attachments) != 1 || m.Attachments[0].Filename != tc.want {
			t.Errorf("%q: attachments %+v, want file name %q", tc.disp, m.Attachments, tc.want)
		}
	}
}

// TestBase64Reader: base64Reader decodes what go-message's decoder does
// (message.New with Content-Transfer-Encoding base64), and fails where it
// fails after the same bytes, for lines of any length (quanta split across
// lines and reads), CRLF or LF, indented lines, read in any piece size.
func TestBase64Reader(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		raw := make([]byte, rng.IntN(3000))
		for k := range raw {
			raw[k] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		var b strings.Builder
		for len(enc) > 0 {
			n := min(len(enc), 1+rng.IntN(100))
			if rng.IntN(10) == 0 {
				b.WriteString(" \t"[rng.IntN(2):])
			}
			b.WriteString(enc[:n])
			b.WriteString([]string{"\r\n", "\n"}[rng.IntN(2)])
			enc = enc[n:]
		}
		in := b.String()
		switch rng.IntN(4) {
		case 0: // a byte outside the alphabet
			if k := rng.IntN(len(in) + 1); k < len(in) {
				in = in[:k] + "!" + in[k+1:]
			}
		case 1: // truncated
			in = in[:rng.IntN(len(in)+1)]
		}
		ref, err := message.New(message.Header{Header: textproto.Header{}}, strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		ref.Header.Set("Content-Transfer-Encoding", "base64")
		ref, _ = message.New(ref.Header, strings.NewReader(in))
		want, wantErr := io.ReadAll(ref.Body)
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in)), iotest.HalfReader(strings.NewReader(in))} {
			got, err := io.ReadAll(newBase64Reader(r, make([]byte, 4<<10), make([]byte, 3<<10)))
			if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
				t.Fatalf("case %d: %d bytes, error %v; want %d bytes, error %v", i, len(got), err, len(want), wantErr)
			}
		}
	}
}
