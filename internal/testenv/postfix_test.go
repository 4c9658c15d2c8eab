package testenv

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// waitMessages polls login's INBOX until it holds n messages.
func waitMessages(t *testing.T, dv *DovecotServer, login string, n int) []IMAPMessage {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs := dv.MessagesOf(t, login, "INBOX")
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d messages after 15s, want %d", login, len(msgs), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The fixture behaves as the issue-14 servers did: the MX delivers a
// plus-address into the base mailbox with Delivered-To naming it (one LMTP
// transaction per recipient), the submission port requires STARTTLS and
// SASL, refuses a non-FQDN HELO and a sender the login does not own.
func TestPostfixMXAndSubmission(t *testing.T) {
	dv := StartDovecot(t, &DovecotOptions{LMTP: true, Users: []string{"alice@acme.test", "mailer@vendor.test"}})
	pf := StartPostfix(t, dv, nil)

	// MX: one message to two local recipients, one of them plus-addressed
	// and only in the envelope (a Bcc).
	raw := "From: alice@acme.test\r\nTo: alice@acme.test\r\nSubject: bcc\r\nMessage-ID: <bcc-1@acme.test>\r\n\r\nhello\r\n"
	pf.Send(t, "alice@acme.test", []string{"alice@acme.test", "support+CS-000001.abc@vendor.test"}, []byte(raw))
	got := waitMessages(t, dv, DefaultIMAPUser, 1)
	if !strings.HasPrefix(string(got[0].Raw), "Return-Path: <alice@acme.test>\r\nDelivered-To: support+CS-000001.abc@vendor.test\r\n") {
		t.Errorf("support mailbox copy starts:\n%.300s", got[0].Raw)
	}
	if got := waitMessages(t, dv, "alice@acme.test", 1); !strings.Contains(string(got[0].Raw), "Delivered-To: alice@acme.test\r\n") {
		t.Errorf("alice's copy has no Delivered-To of her own:\n%.300s", got[0].Raw)
	}

	submit := func(helo, login, from string) error {
		// go-smtp says EHLO localhost before STARTTLS (Postfix judges the
		// HELO name at RCPT time, smtpd_delay_reject), then helo after it.
		c, err := smtp.DialStartTLS(pf.SubmissionAddr(), pf.TLSConfig())
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Hello(helo); err != nil {
			return err
		}
		if err := c.Auth(sasl.NewPlainClient("", login, dv.Password())); err != nil {
			return err
		}
		msg := "From: " + from + "\r\nTo: alice@acme.test\r\nSubject: reply\r\n\r\nreply\r\n"
		return c.SendMail(from, []string{"alice@acme.test"}, strings.NewReader(msg))
	}
	code := func(err error) int {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se.Code
		}
		return 0
	}
	if err := submit("localhost", DefaultIMAPUser, DefaultIMAPUser); code(err) != 504 || !strings.Contains(err.Error(), "Helo command rejected") {
		t.Errorf("EHLO localhost: %v, want 504 Helo command rejected", err)
	}
	if err := submit("supportd.vendor.test", "mailer@vendor.test", DefaultIMAPUser); code(err) != 553 || !strings.Contains(err.Error(), "not owned by user") {
		t.Errorf("sender not owned by the login: %v, want 553 not owned by user", err)
	}
	if err := submit("supportd.vendor.test", DefaultIMAPUser, DefaultIMAPUser); err != nil {
		t.Fatalf("FQDN HELO, own sender: %v", err)
	}
	waitMessages(t, dv, "alice@acme.test", 2)

	// Without TLS the server offers no AUTH.
	c, err := smtp.Dial(pf.SubmissionAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("supportd.vendor.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("submission offers AUTH before STARTTLS")
	}
}

// tbRecorder is a testing.TB whose Fatal and Skip end only the goroutine that
// called them, recording which it was.
type tbRecorder struct {
	testing.TB
	failed, skipped bool
}

func (r *tbRecorder) Helper()               {}
func (r *tbRecorder) Fatal(...any)          { r.failed = true; runtime.Goexit() }
func (r *tbRecorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }
func (r *tbRecorder) Skipf(string, ...any)  { r.skipped = true; runtime.Goexit() }

// A missing postfix skips the test, or fails it under CI /
// SUPPORTD_REQUIRE_SERVERS=1.
func TestPostfixMissingFailsWhenRequired(t *testing.T) {
	t.Setenv("SUPPORTD_POSTFIX", filepath.Join(t.TempDir(), "no-postfix"))
	for _, req := range []string{"1", "0"} {
		t.Setenv("CI", "")
		t.Setenv("SUPPORTD_REQUIRE_SERVERS", req)
		r := &tbRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			StartPostfix(r, &DovecotServer{lmtp: true}, nil)
		}()
		<-done
		if want := req == "1"; r.failed != want || r.skipped == want {
			t.Errorf("SUPPORTD_REQUIRE_SERVERS=%s: failed %v skipped %v, want failed %v", req, r.failed, r.skipped, want)
		}
	}
}
