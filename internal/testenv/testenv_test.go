package testenv

import (
	"bytes"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func testMessage(id, subject string) []byte {
	return []byte("From: Customer <customer@example.com>\r\n" +
		"To: support@vendor.test\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + id + ">\r\n" +
		"Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n" +
		"\r\n" +
		"Hello, our build fails.\r\n")
}

func TestDovecotAppendKeywordsRestart(t *testing.T) {
	t.Parallel()
	d := Dovecot(t)

	c := d.Client(t)
	if !c.Caps().Has(imap.CapIdle) {
		t.Errorf("IDLE not in capabilities %v", c.Caps())
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatalf("select INBOX: %v", err)
	}
	if !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
		t.Errorf("PERMANENTFLAGS %v lacks \\*: keywords cannot be stored", sel.PermanentFlags)
	}
	if sel.UIDValidity == 0 {
		t.Errorf("UIDVALIDITY is 0")
	}
	c.Close()

	raw := testMessage("m1@example.com", "Build fails")
	uid := d.Append(t, "INBOX", raw, `\Seen`, "$SupportdAcked")
	if uid == 0 {
		t.Fatal("Append returned UID 0")
	}
	if got, want := d.Keywords(t, "INBOX", uid), []string{"$SupportdAcked"}; !slices.Equal(got, want) {
		t.Errorf("Keywords = %v, want %v", got, want)
	}
	if got, want := d.Flags(t, "INBOX", uid), []string{"$SupportdAcked", `\Seen`}; !slices.Equal(got, want) {
		t.Errorf("Flags = %v, want %v", got, want)
	}
	uid2 := d.Append(t, "Support/Triaged", testMessage("m2@example.com", "Other"))
	if got := d.Mailboxes(t); !slices.Contains(got, "INBOX") || !slices.Contains(got, "Support/Triaged") {
		t.Errorf("Mailboxes = %v, want INBOX and Support/Triaged", got)
	}

	d.Stop()
	if _, err := d.dial(); err == nil {
		t.Fatal("dial succeeded while the server is stopped")
	}
	d.Stop() // idempotent
	d.Start(t)

	msgs := d.Messages(t, "INBOX")
	if len(msgs) != 1 || msgs[0].UID != uid || !bytes.Equal(msgs[0].Raw, raw) {
		t.Fatalf("after restart INBOX = %+v, want the one message with UID %d", msgs, uid)
	}
	if got := d.FetchFlags(t, "INBOX")[uid]; !slices.Contains(got, "$SupportdAcked") {
		t.Errorf("after restart flags = %v, want $SupportdAcked kept", got)
	}
	if got := d.FetchFlags(t, "Support/Triaged"); len(got) != 1 || got[uid2] == nil {
		t.Errorf("after restart Support/Triaged flags = %v, want UID %d", got, uid2)
	}
}

func TestDovecotIdleSeesNewMail(t *testing.T) {
	t.Parallel()
	d := Dovecot(t)
	var (
		mu     sync.Mutex
		exists uint32
	)
	arrived := make(chan struct{}, 10)
	c, err := imapclient.DialInsecure(d.Addr(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					mu.Lock()
					exists = *data.NumMessages
					mu.Unlock()
					arrived <- struct{}{}
				}
			},
		},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := c.Login(d.User(), d.Password()).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select: %v", err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("idle: %v", err)
	}
	d.Append(t, "INBOX", testMessage("idle@example.com", "Pushed"))
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS during IDLE within 10s of an APPEND")
	}
	if err := idle.Close(); err != nil {
		t.Fatalf("idle done: %v", err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("idle wait: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if exists != 1 {
		t.Errorf("EXISTS = %d, want 1", exists)
	}
}

func TestDovecotRecreateMailbox(t *testing.T) {
	t.Parallel()
	d := Dovecot(t)
	for _, mbox := range []string{"Archive", "INBOX"} {
		t.Run(mbox, func(t *testing.T) {
			d.CreateMailbox(t, mbox)
			a := testMessage("a-"+mbox+"@example.com", "A")
			b := testMessage("b-"+mbox+"@example.com", "B")
			d.Append(t, mbox, a, "$SupportdAcked")
			d.Append(t, mbox, b, `\Flagged`)
			before := d.UIDValidity(t, mbox)

			got := d.RecreateMailbox(t, mbox)

			if got <= before {
				t.Errorf("new UIDVALIDITY %d, want > %d", got, before)
			}
			if now := d.UIDValidity(t, mbox); now != got {
				t.Errorf("UIDValidity = %d, RecreateMailbox returned %d", now, got)
			}
			msgs := d.Messages(t, mbox)
			if len(msgs) != 2 {
				t.Fatalf("after recreate %d messages, want 2", len(msgs))
			}
			if !bytes.Equal(msgs[0].Raw, a) || !bytes.Equal(msgs[1].Raw, b) {
				t.Errorf("message bytes changed by recreate")
			}
			if !slices.Equal(msgs[0].Flags, []string{"$SupportdAcked"}) || !slices.Equal(msgs[1].Flags, []string{`\Flagged`}) {
				t.Errorf("flags after recreate = %v, %v", msgs[0].Flags, msgs[1].Flags)
			}
		})
	}
}

func TestDovecotTLS(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t, &DovecotOptions{TLS: true, User: "ops@vendor.test", Password: "s3cret"})
	if d.User() != "ops@vendor.test" || d.Password() != "s3cret" {
		t.Fatalf("User/Password = %q/%q", d.User(), d.Password())
	}
	if d.TLSAddr() == "" || d.TLSConfig() == nil || len(d.CertPEM()) == 0 {
		t.Fatal("TLS instance without TLSAddr, TLSConfig or CertPEM")
	}
	if pem, err := os.ReadFile(d.CertFile()); err != nil || !bytes.Equal(pem, d.CertPEM()) {
		t.Fatalf("CertFile %s does not hold CertPEM: %v", d.CertFile(), err)
	}

	// Implicit TLS, verified against the generated certificate.
	c, err := imapclient.DialTLS(d.TLSAddr(), &imapclient.Options{TLSConfig: d.TLSConfig()})
	if err != nil {
		t.Fatalf("DialTLS: %v", err)
	}
	if err := c.Login(d.User(), d.Password()).Wait(); err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	c.Close()

	// STARTTLS on the plain port (Client uses it when TLS is on).
	sc := d.Client(t)
	if _, err := sc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select over STARTTLS: %v", err)
	}

	// Without the certificate in the pool, verification must fail.
	if c, err := imapclient.DialTLS(d.TLSAddr(), nil); err == nil {
		c.Close()
		t.Fatal("DialTLS with system roots accepted the self-signed certificate")
	}
}

func TestMailpitSendReadRestart(t *testing.T) {
	t.Parallel()
	m := Mailpit(t)
	if got := m.Messages(t); len(got) != 0 {
		t.Fatalf("fresh Mailpit has %d messages", len(got))
	}
	body := "From: Support <support@vendor.test>\r\n" +
		"To: Customer <customer@example.com>\r\n" +
		"Cc: staff@vendor.test\r\n" +
		"Subject: Re: Build fails\r\n" +
		"Message-ID: <reply-1@vendor.test>\r\n" +
		"In-Reply-To: <m1@example.com>\r\n" +
		"Auto-Submitted: auto-replied\r\n" +
		"\r\n" +
		"We received your request.\r\n"
	auth := smtp.PlainAuth("", "supportd", "any", "127.0.0.1")
	rcpt := []string{"customer@example.com", "staff@vendor.test", "audit@vendor.test"}
	if err := smtp.SendMail(m.SMTPAddr(), auth, "bounces@vendor.test", rcpt, []byte(body)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}

	msgs := m.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	s := msgs[0]
	if s.MessageID != "reply-1@vendor.test" || s.Subject != "Re: Build fails" ||
		s.From == nil || s.From.Address != "support@vendor.test" || s.Username != "supportd" {
		t.Errorf("summary = %+v", s)
	}
	if len(s.To) != 1 || s.To[0].Address != "customer@example.com" || len(s.Cc) != 1 || s.Cc[0].Address != "staff@vendor.test" {
		t.Errorf("To/Cc = %v/%v", s.To, s.Cc)
	}
	if len(s.Bcc) != 1 || s.Bcc[0].Address != "audit@vendor.test" {
		t.Errorf("Bcc (envelope-only recipients) = %v, want audit@vendor.test", s.Bcc)
	}
	if s.Created.IsZero() {
		t.Error("Created is zero")
	}

	full := m.Message(t, s.ID)
	if got := full.Header("in-reply-to"); got != "<m1@example.com>" {
		t.Errorf("In-Reply-To = %q", got)
	}
	if got := full.Header("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if full.ReturnPath != "bounces@vendor.test" {
		t.Errorf("ReturnPath = %q, want the envelope sender", full.ReturnPath)
	}
	if !strings.Contains(full.Text, "We received your request.") {
		t.Errorf("Text = %q", full.Text)
	}
	if !bytes.Contains(full.Raw, []byte("Auto-Submitted: auto-replied")) || !bytes.Equal(m.Raw(t, s.ID), full.Raw) {
		t.Errorf("raw source missing headers or inconsistent:\n%s", full.Raw)
	}

	m.Stop()
	if err := smtp.SendMail(m.SMTPAddr(), nil, "a@vendor.test", []string{"b@example.com"}, []byte(body)); err == nil {
		t.Fatal("SendMail succeeded while Mailpit is stopped")
	}
	m.Start(t)
	after := m.Messages(t)
	if len(after) != 1 || after[0].ID != s.ID {
		t.Fatalf("after restart messages = %+v, want the one message %s", after, s.ID)
	}

	m.DeleteAll(t)
	if got := m.Messages(t); len(got) != 0 {
		t.Errorf("after DeleteAll %d messages remain", len(got))
	}
}

func TestMailpitOrderAndWait(t *testing.T) {
	t.Parallel()
	m := Mailpit(t)
	for _, subj := range []string{"first", "second", "third"} {
		msg := "From: a@vendor.test\r\nTo: b@example.com\r\nSubject: " + subj + "\r\n\r\nx\r\n"
		if err := smtp.SendMail(m.SMTPAddr(), nil, "a@vendor.test", []string{"b@example.com"}, []byte(msg)); err != nil {
			t.Fatalf("SendMail: %v", err)
		}
	}
	msgs := m.WaitMessages(t, 3, 10*time.Second)
	var got []string
	for _, x := range msgs {
		got = append(got, x.Subject)
	}
	if want := []string{"first", "second", "third"}; !slices.Equal(got, want) {
		t.Errorf("subjects = %v, want oldest first %v", got, want)
	}
}

func TestProjectRootAndLookup(t *testing.T) {
	root, err := ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("ProjectRoot %s has no go.mod", root)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testenv", "doc.go")); err != nil {
		t.Errorf("ProjectRoot %s is not the module root: %v", root, err)
	}

	t.Setenv("SUPPORTD_MAILPIT", filepath.Join(t.TempDir(), "nope"))
	if p, ok := lookBinary("SUPPORTD_MAILPIT", "sh", []string{"/bin/sh"}, true); ok {
		t.Errorf("lookBinary ignored a missing override and found %s", p)
	}
	t.Setenv("SUPPORTD_MAILPIT", "")
	if p, ok := lookBinary("SUPPORTD_MAILPIT", "definitely-not-a-binary-xyz", []string{"/bin/sh"}, true); !ok || p != "/bin/sh" {
		t.Errorf("lookBinary fallback = %q, %v; want /bin/sh", p, ok)
	}
}

func TestRequireServers(t *testing.T) {
	for _, tc := range []struct {
		ci, req string
		want    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"", "0", false},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv("SUPPORTD_REQUIRE_SERVERS", tc.req)
		if got := requireServers(); got != tc.want {
			t.Errorf("CI=%q SUPPORTD_REQUIRE_SERVERS=%q: requireServers = %v, want %v", tc.ci, tc.req, got, tc.want)
		}
	}
}
