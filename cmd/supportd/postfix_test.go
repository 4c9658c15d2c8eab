package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"supportd/internal/harness"
	"supportd/internal/testenv"
	"supportd/mailer"
)

// Issue 14 against the servers a customer's IT runs: Dovecot, and Postfix as
// MX (LMTP into Dovecot, recipient_delimiter = +) and as submission server
// (STARTTLS, Dovecot SASL, reject_sender_login_mismatch, a HELO restriction).
// Customer mail enters through the MX, replies leave through submission and
// land in the customers' own mailboxes, which the tests read over IMAP.

const (
	pfCustomer = "alice@acme.test" // C100 (acme.test): active support
	pfQueue    = "queue@vendor.test"
	pfStaff    = "eng@staff.vendor.test"
	pfMailer   = "mailer@vendor.test" // a login that does not own support@vendor.test
	pfHelo     = "supportd.vendor.test"
)

type postfixWorld struct {
	dv      *testenv.DovecotServer
	pf      *testenv.PostfixServer
	env     []string // the store and the passwords, as the CLI takes them
	metrics string   // host:port of /healthz
}

func newPostfixWorld(t *testing.T) *postfixWorld {
	t.Helper()
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{LMTP: true, Users: []string{pfCustomer, pfQueue, pfStaff, pfMailer}})
	w := &postfixWorld{dv: dv, pf: testenv.StartPostfix(t, dv, nil)}
	w.env = append(storeWithCustomers(t), "SUPPORTD_IMAP_PASSWORD="+dv.Password(), "SUPPORTD_SMTP_PASSWORD="+dv.Password())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.metrics = l.Addr().String()
	l.Close()
	return w
}

// config writes a configuration that logs in to submission as smtpUser.
func (w *postfixWorld) config(t *testing.T, smtpUser string) string {
	t.Helper()
	return w.configWith(t, smtpUser, pfHelo, pfQueue)
}

// configWith is config with an EHLO name and a staff queue ("": none, so a
// customer's message makes one outgoing message, the reply).
func (w *postfixWorld) configWith(t *testing.T, smtpUser, helo, staffQueue string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`
support: {staff_queue: %q, staff: ["@staff.vendor.test"]}
imap: {address: %q, tls: none, username: %q, idle: true, poll_interval: 1s, start_at: all}
smtp: {address: %q, tls: starttls, ca_file: %q, username: %q, from: "Support <support@vendor.test>", helo_name: %q}
metrics: {listen: %q}
`, staffQueue, w.dv.Addr(), w.dv.User(), w.pf.SubmissionAddr(), w.pf.CertFile(), smtpUser, helo, w.metrics))
}

// faultKeepsMailQueued waits for the configuration fault's ERROR line (its
// fields matching fields), checks that /healthz answers 503 naming each of
// names and that nothing failed permanently, then stops the daemon and checks
// the customer received nothing.
func (w *postfixWorld) faultKeepsMailQueued(t *testing.T, logs *harness.SyncBuffer, stop func(), fields string, names ...string) {
	t.Helper()
	errLine := regexp.MustCompile(`level=ERROR msg="smtp configuration fault: outgoing mail kept queued" ` + fields)
	harness.WaitFor(t, 30*time.Second, "the configuration fault logged", func() bool { return errLine.MatchString(logs.String()) })
	code, body := w.healthz(t)
	for _, name := range names {
		if code != http.StatusServiceUnavailable || !strings.Contains(body, name) {
			t.Errorf("/healthz during the fault: %d %q, want 503 naming %s", code, body, name)
		}
	}
	if strings.Contains(logs.String(), "delivery failed permanently") {
		t.Error("a refused reply was failed permanently")
	}
	stop()
	if n := len(w.dv.MessagesOf(t, pfCustomer, "INBOX")); n != 0 {
		t.Fatalf("the customer received %d messages while the server refused our mail", n)
	}
}

// requeue checks that `outbox list` shows exactly n pending entries, each with
// the server's reply, and re-queues them (`outbox retry ID…`), as the operator
// does after fixing the configuration.
func (w *postfixWorld) requeue(t *testing.T, cfg string, n int, reply string) {
	t.Helper()
	out, _, err := cli(t, w.env, "--config", cfg, "outbox", "list")
	if err != nil {
		t.Fatal(err)
	}
	ids := regexp.MustCompile(`(?m)^(\d+)\s+pending\s`).FindAllStringSubmatch(out, -1)
	if len(ids) != n || strings.Count(out, reply) != n {
		t.Fatalf("outbox list after the fault, want %d entries pending with %q:\n%s", n, reply, out)
	}
	retry := []string{"--config", cfg, "outbox", "retry"}
	for _, m := range ids {
		retry = append(retry, m[1])
	}
	if out, _, err := cli(t, w.env, retry...); err != nil || !strings.Contains(out, fmt.Sprintf("%d entries re-queued", n)) {
		t.Fatalf("outbox retry: %v\n%s", err, out)
	}
}

// run starts `supportd --config cfg run` in-process; stop ends it (SIGTERM's
// path: the context) and fails t if it did not stop cleanly.
func (w *postfixWorld) run(t *testing.T, cfg string) (logs *harness.SyncBuffer, stop func()) {
	t.Helper()
	logs = &harness.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCmd(io.Discard, logs, w.env)
		root.SetArgs([]string{"--config", cfg, "run"})
		done <- root.ExecuteContext(ctx)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("supportd log (tail):\n%s", harness.Tail(logs.String(), 16<<10))
		}
	}
	t.Cleanup(stop)
	harness.WaitFor(t, 20*time.Second, "supportd running", func() bool { return strings.Contains(logs.String(), "supportd running") })
	return logs, stop
}

func (w *postfixWorld) healthz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + w.metrics + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// customerWrites sends a customer's message through the MX.
func (w *postfixWorld) customerWrites(t *testing.T, subject, msgID, body string) {
	t.Helper()
	w.pf.Send(t, pfCustomer, []string{"support@vendor.test"}, harness.CRLF(harness.Msg("Alice <"+pfCustomer+">", subject, msgID, body)))
}

// mailOf waits until login's INBOX holds at least n messages and returns
// them parsed.
func (w *postfixWorld) mailOf(t *testing.T, login string, n int) []*mail.Message {
	t.Helper()
	var out []*mail.Message
	harness.WaitFor(t, 30*time.Second, fmt.Sprintf("%d message(s) in %s's INBOX", n, login), func() bool {
		msgs := w.dv.MessagesOf(t, login, "INBOX")
		if len(msgs) < n {
			return false
		}
		out = out[:0]
		for _, m := range msgs {
			pm, err := mail.ReadMessage(bytes.NewReader(m.Raw))
			if err != nil {
				t.Fatalf("%s: unreadable message: %v", login, err)
			}
			out = append(out, pm)
		}
		return true
	})
	return out
}

// countByID counts messages by Message-ID and fails t on a duplicate.
func countByID(t *testing.T, who string, msgs []*mail.Message) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, m := range msgs {
		id := m.Header.Get("Message-Id")
		if id == "" {
			t.Fatalf("%s: a message without Message-ID: %v", who, m.Header)
		}
		if ids[id]++; ids[id] > 1 {
			t.Errorf("%s received %s %d times", who, id, ids[id])
		}
	}
	return ids
}

// supportd's EHLO passes a submission server that checks HELO, even one that
// judges it when it is said (smtpd_delay_reject = no: the EHLO before STARTTLS
// counts too): with smtp.helo_name set and, when the machine has a fully
// qualified name, by default; "localhost" (what supportd sent before
// smtp.helo_name, and go-smtp before STARTTLS) is refused by the same server,
// so the check is real.
func TestPostfixSubmissionChecksHELO(t *testing.T) {
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{LMTP: true, Users: []string{pfCustomer}})
	pf := testenv.StartPostfix(t, dv, &testenv.PostfixOptions{StrictHELO: true})
	if _, err := smtp.DialStartTLS(pf.SubmissionAddr(), pf.TLSConfig()); err == nil || !strings.Contains(err.Error(), "Helo command rejected") {
		t.Fatalf("go-smtp's own STARTTLS (EHLO localhost first): %v, want the HELO refused before TLS", err)
	}
	send := func(helo, id string) error {
		m, err := mailer.New(mailer.Config{Address: pf.SubmissionAddr(), TLS: mailer.TLSStartTLS, TLSConfig: pf.TLSConfig(),
			Username: dv.User(), Password: dv.Password(), HeloName: helo, IdleTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		data := "From: support@vendor.test\r\nTo: " + pfCustomer + "\r\nSubject: helo\r\nMessage-ID: <" + id + ">\r\n\r\nhello\r\n"
		return m.Send(context.Background(), mailer.Envelope{From: dv.User(), To: []string{pfCustomer}, Data: []byte(data), MessageID: id})
	}
	if err := send(pfHelo, "helo-fqdn@vendor.test"); err != nil {
		t.Fatalf("smtp.helo_name %s refused: %v", pfHelo, err)
	}
	err := send("localhost", "helo-localhost@vendor.test")
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 504 || !strings.Contains(se.Message, "Helo command rejected") || !strings.Contains(err.Error(), "smtp.helo_name") {
		t.Fatalf("EHLO localhost: %v, want 504 Helo command rejected, naming smtp.helo_name", err)
	}
	if mailer.IsPermanent(err) {
		t.Errorf("a HELO refused before STARTTLS is the connection's, not the message's: want it temporary (kept queued): %v", err)
	}
	// The default is the machine's name: accepted where it is fully qualified.
	def := mailer.HostFQDN()
	err = send("", "helo-default@vendor.test")
	if strings.Contains(def, ".") && !strings.HasPrefix(strings.ToLower(def), "localhost.") {
		if err != nil {
			t.Errorf("default EHLO name %q refused: %v", def, err)
		}
	} else if err == nil {
		t.Errorf("default EHLO name %q (not fully qualified) accepted by a server that requires an FQDN", def)
	} else {
		t.Logf("this machine has no fully qualified name (%q): the default is refused, as the docs say (set smtp.helo_name)", def)
	}
	want := 1
	if err == nil {
		want = 2
	}
	got := 0
	harness.WaitFor(t, 20*time.Second, "the accepted messages in the customer's mailbox", func() bool {
		got = len(dv.MessagesOf(t, pfCustomer, "INBOX"))
		return got >= want
	})
	time.Sleep(300 * time.Millisecond)
	if got = len(dv.MessagesOf(t, pfCustomer, "INBOX")); got != want {
		t.Errorf("customer mailbox holds %d messages, want %d", got, want)
	}
}

// A Postfix whose SASL backend is missing dies right after STARTTLS (smtpd:
// "fatal: no SASL authentication mechanisms"); supportd says it is a
// server-side failure, not a TLS one, and retries.
func TestPostfixWithoutSASLBackendIsNotATLSError(t *testing.T) {
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{LMTP: true, Users: []string{pfCustomer}})
	pf := testenv.StartPostfix(t, dv, &testenv.PostfixOptions{SASLPath: dv.AuthSocket() + "-missing"})
	m, err := mailer.New(mailer.Config{Address: pf.SubmissionAddr(), TLS: mailer.TLSStartTLS, TLSConfig: pf.TLSConfig(),
		Username: dv.User(), Password: dv.Password(), HeloName: pfHelo, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err = m.Send(context.Background(), mailer.Envelope{From: dv.User(), To: []string{pfCustomer}, Data: []byte("Subject: x\r\n\r\nx\r\n"), MessageID: "sasl@vendor.test"})
	if err == nil || mailer.IsTLSVerification(err) || !strings.Contains(err.Error(), "server-side failure") || mailer.IsPermanent(err) {
		t.Fatalf("submission without its SASL backend: %v, want a temporary error naming a server-side failure", err)
	}
	harness.WaitFor(t, 10*time.Second, "smtpd's fatal error in the Postfix log", func() bool {
		b, _ := os.ReadFile(pf.LogPath())
		return strings.Contains(string(b), "no SASL authentication mechanisms")
	})
}

// A submission login that does not own smtp.from (reject_sender_login_mismatch:
// 553 5.7.1 Sender address rejected: not owned by user) keeps the reply and
// the staff copy queued, /healthz unhealthy and the log naming smtp.from and
// smtp.username; after the operator restarts with the right smtp.username and
// re-queues the entries (supportd outbox retry), each goes out exactly once.
func TestPostfixSenderLoginMismatchKeepsRepliesQueued(t *testing.T) {
	w := newPostfixWorld(t)
	logs, stop := w.run(t, w.config(t, pfMailer))
	w.customerWrites(t, "Backup fails", "mismatch-1@acme.test", "Our nightly backup fails since Monday. Build 9653\n")

	w.faultKeepsMailQueued(t, logs, stop, `smtp.from=support@vendor.test smtp.username=`+regexp.QuoteMeta(pfMailer)+` .*not owned by user`,
		"smtp.from", "smtp.username")

	// The operator sees the queued entries (the reply and the staff copy),
	// fixes smtp.username, re-queues them.
	fixed := w.config(t, w.dv.User())
	w.requeue(t, fixed, 2, "553 5.7.1")
	w.run(t, fixed)
	harness.WaitFor(t, 20*time.Second, "/healthz ok", func() bool { code, _ := w.healthz(t); return code == http.StatusOK })
	w.mailOf(t, pfCustomer, 1)
	w.mailOf(t, pfQueue, 1)
	time.Sleep(2 * time.Second) // a second copy would be delivered by now
	acks, copies := w.mailOf(t, pfCustomer, 1), w.mailOf(t, pfQueue, 1)
	if len(acks) != 1 || len(copies) != 1 {
		t.Fatalf("after the fix: customer %d, staff queue %d messages, want exactly 1 each", len(acks), len(copies))
	}
	countByID(t, pfCustomer, acks)
	countByID(t, pfQueue, copies)
	if got := acks[0].Header.Get("In-Reply-To"); got != "<mismatch-1@acme.test>" {
		t.Errorf("the reply answers %q, want the customer's message", got)
	}
	if out, _, err := cli(t, w.env, "--config", fixed, "outbox", "list"); err != nil || strings.Contains(out, "pending") || strings.Contains(out, "failed") {
		t.Errorf("outbox after the fix: %v\n%s", err, out)
	}
}

// A submission server that checks HELO the default way (smtpd_delay_reject =
// yes) refuses "EHLO localhost" only at RCPT TO: "504 5.5.2 <localhost>: Helo
// command rejected". That is our configuration's fault (smtp.helo_name), not
// the message's: a round of ONE reply (no staff queue, so the "same refusal
// for every message of a round" rule cannot apply) keeps it queued, /healthz
// is unhealthy naming smtp.helo_name; after the operator fixes smtp.helo_name
// and re-queues it, it goes out once.
func TestPostfixHELORefusedAtRCPTKeepsReplyQueued(t *testing.T) {
	w := newPostfixWorld(t)
	logs, stop := w.run(t, w.configWith(t, w.dv.User(), "localhost", ""))
	w.customerWrites(t, "Backup fails", "helo-1@acme.test", "Our nightly backup fails since Monday. Build 9653\n")

	w.faultKeepsMailQueued(t, logs, stop, `smtp.helo_name=localhost queued=1 .*504 5.5.2 <localhost>: Helo command rejected`,
		"smtp.helo_name", "Helo command rejected")

	fixed := w.configWith(t, w.dv.User(), pfHelo, "")
	w.requeue(t, fixed, 1, "504 5.5.2")
	w.run(t, fixed)
	harness.WaitFor(t, 20*time.Second, "/healthz ok", func() bool { code, _ := w.healthz(t); return code == http.StatusOK })
	w.mailOf(t, pfCustomer, 1)
	time.Sleep(2 * time.Second) // a second copy would be delivered by now
	acks := w.mailOf(t, pfCustomer, 1)
	if len(acks) != 1 || acks[0].Header.Get("In-Reply-To") != "<helo-1@acme.test>" {
		t.Fatalf("after the fix the customer has %d messages, want exactly the one reply", len(acks))
	}
	if out, _, err := cli(t, w.env, "--config", fixed, "outbox", "list"); err != nil || strings.Contains(out, "pending") || strings.Contains(out, "failed") {
		t.Errorf("outbox after the fix: %v\n%s", err, out)
	}
}

// A staff reply that reaches us only as a Bcc to the ticket's signed address
// (support+<ticket>.<mac>@vendor.test) carries that address only in the
// Delivered-To Dovecot adds; it is relayed to the customer. A staff message
// to the plain support address that forges the signed address in a
// Delivered-To of its own (below the real one) is not.
func TestPostfixBccPlusAddressFoundThroughDeliveredTo(t *testing.T) {
	w := newPostfixWorld(t)
	w.run(t, w.config(t, w.dv.User()))
	w.customerWrites(t, "Reports page is blank", "bcc-1@acme.test", "Since this morning the reports page is blank. Build 9653\n")
	staffCopy := w.mailOf(t, pfQueue, 1)[0]
	w.mailOf(t, pfCustomer, 1) // the acknowledgement
	addr, err := mail.ParseAddress(staffCopy.Header.Get("Reply-To"))
	if err != nil || !strings.HasPrefix(addr.Address, "support+") {
		t.Fatalf("staff copy Reply-To %q: %v, want the signed support+ address", staffCopy.Header.Get("Reply-To"), err)
	}
	signed := addr.Address
	reply := func(id, text string, extra ...string) []byte {
		hdr := append([]string{"To: " + pfQueue, "In-Reply-To: " + staffCopy.Header.Get("Message-Id")}, extra...)
		return harness.CRLF(strings.Replace(harness.Msg("Erin Engineer <"+pfStaff+">", "Re: "+staffCopy.Header.Get("Subject"), id, text+"\n", hdr...),
			"To: support@vendor.test\n", "", 1))
	}

	// Forged: sent to the plain address, the signed one only in a sender-supplied Delivered-To.
	w.pf.Send(t, pfStaff, []string{"support@vendor.test"}, reply("forged-1@staff.vendor.test", "FORGED TEXT", "Delivered-To: "+signed))
	// The real one: the signed address is a Bcc, in the envelope only.
	w.pf.Send(t, pfStaff, []string{pfQueue, signed}, reply("bcc-reply-1@staff.vendor.test", "Hello Alice, please clear the report cache."))

	// In the support mailbox: the customer's message and the two staff messages.
	byID := map[string]*mail.Message{}
	for _, m := range w.mailOf(t, w.dv.User(), 3) {
		byID[m.Header.Get("Message-Id")] = m
	}
	if m := byID["<bcc-reply-1@staff.vendor.test>"]; m == nil || m.Header.Get("Delivered-To") != signed || strings.Contains(m.Header.Get("To"), "support+") {
		t.Fatalf("the Bcc'd reply should carry the signed address in its topmost Delivered-To only: %v", m)
	}
	if m := byID["<forged-1@staff.vendor.test>"]; m == nil || m.Header.Get("Delivered-To") != w.dv.User() || len(m.Header["Delivered-To"]) != 2 {
		t.Fatalf("the forged message should have the real Delivered-To above its own: %v", m)
	}

	var relay *mail.Message
	harness.WaitFor(t, 30*time.Second, "the relayed staff reply", func() bool {
		for _, m := range w.mailOf(t, pfCustomer, 1) {
			if m.Header.Get("Auto-Submitted") == "" {
				relay = m
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second) // a relay of the forged message would arrive by now
	msgs := w.mailOf(t, pfCustomer, 2)
	countByID(t, pfCustomer, msgs)
	if len(msgs) != 2 {
		t.Errorf("customer has %d messages, want the acknowledgement and one relay", len(msgs))
	}
	body, _ := io.ReadAll(relay.Body)
	if !strings.Contains(string(body), "please clear the report cache") {
		t.Errorf("relay lacks the staff text:\n%s", body)
	}
	for _, m := range msgs {
		b, _ := io.ReadAll(m.Body)
		if strings.Contains(string(b), "FORGED TEXT") {
			t.Errorf("the staff message with a forged Delivered-To reached the customer")
		}
	}
	if from, _ := mail.ParseAddress(relay.Header.Get("From")); from == nil || from.Address != "support@vendor.test" {
		t.Errorf("relay From %q, want the support address", relay.Header.Get("From"))
	}
	// The forged one reached staff, flagged.
	flagged := false
	for _, m := range w.dv.MessagesOf(t, pfQueue, "INBOX") {
		flagged = flagged || bytes.Contains(m.Raw, []byte("FORGED TEXT")) && bytes.Contains(m.Raw, []byte("X-Support-Unverified-Staff: yes"))
	}
	if !flagged {
		t.Error("no staff copy of the forged message flagged X-Support-Unverified-Staff: yes")
	}
}
