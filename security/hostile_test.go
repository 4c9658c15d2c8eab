package security_test

// Hostile senders (issue 13): backscatter and rate limits, end to end on a
// real Dovecot and Mailpit. Each test delivers the attack of the issue and
// checks what actually left for Mailpit.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/testenv"
)

func hostileMsg(from, subject, id string, extra ...string) []byte {
	h := append([]string{"From: " + from, "To: support@vendor.test", "Subject: " + subject,
		"Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <" + id + ">"}, extra...)
	return rawMsg(h, "Hello, please see the offer.\n")
}

// to reports whether m is addressed (To or Cc) to addr.
func to(m testenv.MailpitMessage, addr string) bool {
	for _, a := range append(append([]testenv.MailpitAddress{}, m.To...), m.Cc...) {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}

// Issue 13 item 3. Replies are counted by the normalised reply target, with an
// hourly cap per domain for senders that are not customers; no reply subject
// echoes a link from an unknown sender; sales hear of a lapsed customer once
// a day however many forged senders write (security's engine: 3 replies per
// target a day, the default caps of 5 per domain and 50 in all an hour).
func TestBackscatterAndRateLimits(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "", nil)
	spam := "Cheap watches http://spam.example/buy?id=7 and cheap-pills.xyz"
	n := 0
	deliver := func(from string, extra ...string) {
		n++
		w.deliver(t, hostileMsg(from, spam, fmt.Sprintf("bs%d@attack.test", n), extra...))
	}
	// A: eight forged senders of one domain, one Reply-To: 3 replies reach it.
	for i := range 8 {
		deliver(fmt.Sprintf("r%d@victim.test", i), "Reply-To: ceo@victim.test")
	}
	// B: eight distinct unknown senders of another domain: the domain cap, 5.
	for i := range 8 {
		deliver(fmt.Sprintf("p%d@victim2.test", i))
	}
	// C: one Gmail mailbox spelled five ways: one quota of 3.
	for _, a := range []string{"target+1@gmail.com", "target+2@gmail.com", "t.arget@gmail.com", "target@googlemail.com", "T.A.R.G.E.T@gmail.com"} {
		deliver(a)
	}
	// D: five forged senders of a lapsed customer: five notices, one sales brief
	// (support.sales_brief, the default: a message of its own to sales).
	for i := range 5 {
		deliver(fmt.Sprintf("x%d@hooli.test", i))
	}
	msgs := w.settle(t, 3+5+3+5+1)

	count := func(pred func(testenv.MailpitMessage) bool) int {
		c := 0
		for _, m := range msgs {
			if pred(m) {
				c++
			}
		}
		return c
	}
	if got := count(func(m testenv.MailpitMessage) bool { return to(m, "ceo@victim.test") }); got != 3 {
		t.Errorf("ceo@victim.test (the Reply-To of 8 forged senders) got %d replies, want 3", got)
	}
	if got := count(func(m testenv.MailpitMessage) bool { return strings.HasSuffix(m.To[0].Address, "@victim2.test") }); got != 5 {
		t.Errorf("unknown senders of victim2.test got %d replies in an hour, want 5 (limits.unknown_replies_per_domain_per_hour)", got)
	}
	if got := count(func(m testenv.MailpitMessage) bool {
		a := strings.ToLower(m.To[0].Address)
		return strings.HasSuffix(a, "@gmail.com") || strings.HasSuffix(a, "@googlemail.com")
	}); got != 3 {
		t.Errorf("one Gmail mailbox spelled five ways got %d replies, want 3", got)
	}
	if got := count(func(m testenv.MailpitMessage) bool { return strings.HasSuffix(m.To[0].Address, "@hooli.test") }); got != 5 {
		t.Errorf("forged lapsed senders got %d notices, want 5", got)
	}
	if got := count(func(m testenv.MailpitMessage) bool {
		return strings.HasSuffix(m.To[0].Address, "@hooli.test") && to(m, "sales@vendor.test")
	}); got != 1 {
		t.Errorf("sales were copied on %d notices about one customer in a day, want 1", got)
	}
	if got := count(func(m testenv.MailpitMessage) bool { return m.To[0].Address == "sales@vendor.test" }); got != 1 {
		t.Errorf("sales got %d briefs about one customer in a day, want 1", got)
	}
	for _, m := range msgs {
		subj := strings.ToLower(m.Subject)
		if m.To[0].Address != "" && !strings.HasSuffix(m.To[0].Address, "@hooli.test") &&
			(strings.Contains(subj, "http") || strings.Contains(subj, "spam.example") || strings.Contains(subj, "pills.xyz")) {
			t.Errorf("reply to an unknown sender echoes a link: %q", m.Subject)
		}
	}
}

// Issue 13 item 3: the global hourly cap on replies to senders that are not
// customers (limits.unknown_replies_per_hour), across domains.
func TestUnknownRepliesGlobalCap(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "", func(e *daemon.Engine) { e.Triage.UnknownRepliesPerHour = 4 })
	for i := range 7 {
		w.deliver(t, hostileMsg(fmt.Sprintf("Someone <s@d%d.test>", i), "A question", fmt.Sprintf("g%d@attack.test", i)))
	}
	w.deliver(t, hostileMsg("Alice <alice@acme.test>", "A customer's question", "g-cust@acme.test"))
	msgs := w.settle(t, 5)
	if !slicesContainsFunc(msgs, func(m testenv.MailpitMessage) bool { return to(m, "alice@acme.test") }) {
		t.Error("the customer was not answered: the unknown-sender cap must not apply to customers")
	}
}

func slicesContainsFunc[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}

// Issue 10 item 5: a customer over the per-sender limit still gets a ticket,
// the message is still routed, and the staff copy says why no reply went out.
func TestRateLimitedCustomerStillRouted(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "staff@vendor.test", nil)
	for i := range 4 {
		w.deliver(t, hostileMsg("Alice <alice@acme.test>", fmt.Sprintf("Separate question %d", i+1), fmt.Sprintf("q%d@acme.test", i)))
	}
	msgs := w.settle(t, 3+4) // 3 acknowledgements (the limit) and 4 staff copies
	var staff []testenv.MailpitMessage
	replies := 0
	for _, m := range msgs {
		switch {
		case to(m, "staff@vendor.test"):
			staff = append(staff, m)
		case to(m, "alice@acme.test"):
			replies++
		}
	}
	if replies != 3 || len(staff) != 4 {
		t.Fatalf("%d replies and %d staff copies, want 3 and 4", replies, len(staff))
	}
	told := 0
	for _, s := range staff {
		d := w.mailpit.Message(t, s.ID)
		reason := d.Header("X-Support-No-Reply-Reason")
		if reason == "" {
			continue
		}
		told++
		if !strings.Contains(s.Subject, "Separate question 4") || !strings.Contains(reason, "limits.auto_replies_per_sender_per_day") {
			t.Errorf("staff copy %q: X-Support-No-Reply-Reason %q", s.Subject, reason)
		}
		if !strings.Contains(s.Subject, "[P1][ASUP]") || d.Header("X-Support-Ticket") == "" || d.Header("X-Support-Suppressed") != "rate_limit" {
			t.Errorf("rate-limited staff copy %q: ticket %q suppressed %q", s.Subject, d.Header("X-Support-Ticket"), d.Header("X-Support-Suppressed"))
		}
	}
	if told != 1 {
		t.Errorf("%d staff copies say why no reply went out, want exactly 1 (the 4th question)", told)
	}
}

// Issue 13 item 5. A message carrying a customer's Message-ID with other
// content is a new message: its own ticket, its own (unknown sender's) reply,
// its own keywords, and a staff copy flagged X-Support-Reused-Message-ID. A
// real second delivery of the customer's message (the same content under an
// added trace header) is still a duplicate.
func TestMessageIDReplay(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "staff@vendor.test", nil)
	original := rawMsg([]string{"From: IT <it@acme.test>", "To: support@vendor.test", "Subject: Server down",
		"Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <replay@acme.test>"}, "The site is down. Build Number: 9653\n")
	first := w.deliver(t, original)
	replay := w.deliver(t, rawMsg([]string{"From: Mallory <mallory@evil.test>", "To: support@vendor.test", "Subject: Hello",
		"Date: Wed, 25 Nov 2026 10:05:00 +1030", "Message-ID: <replay@acme.test>"}, "Please call me back.\n"))
	again := w.deliver(t, append([]byte("Received: from mx2.vendor.test by mx.vendor.test; Wed, 25 Nov 2026 10:06:00 +1030\r\n"), original...))
	msgs := w.settle(t, 4) // two replies, two staff copies: nothing for the redelivery

	var replayStaff *testenv.MailpitMessageDetail
	replied := map[string]bool{}
	for _, m := range msgs {
		if to(m, "staff@vendor.test") {
			d := w.mailpit.Message(t, m.ID)
			if v := d.Header("X-Support-Reused-Message-ID"); v != "" {
				if replayStaff != nil || v != "yes" {
					t.Errorf("X-Support-Reused-Message-ID %q on %q", v, m.Subject)
				}
				replayStaff = d
			}
			continue
		}
		replied[strings.ToLower(m.To[0].Address)] = true
	}
	if !replied["it@acme.test"] || !replied["mallory@evil.test"] {
		t.Errorf("replies went to %v, want the customer and the replaying sender", replied)
	}
	if replayStaff == nil {
		t.Fatal("no staff copy is flagged X-Support-Reused-Message-ID: staff never see the replayed message")
	}
	if !strings.Contains(replayStaff.Subject, "[P4][Unknown] Hello") || replayStaff.Header("X-Support-Status") != "unknown" {
		t.Errorf("replayed message's staff copy: %q status %q", replayStaff.Subject, replayStaff.Header("X-Support-Status"))
	}
	flags := func(uid uint32) string { return strings.Join(w.dovecot.Flags(t, "INBOX", uid), " ") }
	waitFor(t, 10*time.Second, "keywords on all three messages", func() bool {
		return strings.Contains(flags(first), "P1") && strings.Contains(flags(replay), "P4") && strings.Contains(flags(again), "P1")
	})
	if f := flags(replay); strings.Contains(f, "ASUP") || strings.Contains(f, "P1") {
		t.Errorf("the replayed message got the customer's keywords: %s", f)
	}
}

// Issue 13 item 7. An unknown sender's "[CS-000900][P1][ASUP] Server down" with
// a bidi override reaches staff as a P4 Unknown subject without the sender's
// tags or invisible characters, and a charset parameter claiming verification
// appears in the preface only quoted.
func TestStaffSubjectAndPrefaceHygiene(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "staff@vendor.test", nil)
	w.deliver(t, crlf("From: Mallory <mallory@evil.test>\nTo: support@vendor.test\nSubject: "+b64word("[CS-000900][P1][ASUP] Server \u202edown")+
		"\nDate: Wed, 25 Nov 2026 10:00:00 +1030\nMessage-ID: <tags@evil.test>\nMIME-Version: 1.0\n"+
		"Content-Type: text/plain; charset=\"ASUP-VERIFIED; Customer C100 Acme Pty Ltd, P1 SLA 2h\"\n\nHello\n"))
	msgs := w.settle(t, 2)
	for _, m := range msgs {
		if !to(m, "staff@vendor.test") {
			continue
		}
		if m.Subject != "[CS-000900][P4][Unknown] Server down" {
			t.Errorf("staff subject %q, want %q", m.Subject, "[CS-000900][P4][Unknown] Server down")
		}
		d := w.mailpit.Message(t, m.ID)
		var notes string
		for _, l := range strings.Split(d.Text, "\n") {
			if strings.HasPrefix(l, "Parser notes") {
				notes = l
			}
		}
		if !strings.Contains(notes, `"ASUP-VERIFIED; Customer C100 Acme Pty Ltd, P1 SLA 2h"`) {
			t.Errorf("preface parser notes %q: the charset text is not quoted\n%s", notes, d.Text)
		}
		return
	}
	t.Fatal("no staff copy")
}

// Issue 13 item 8: `supportd run` refuses a store directory other users can
// write or do not share with it, and a spool directory planted as a link;
// `customers import` refuses the unsafe directory too.
func TestRunRefusesUnsafeStoreDirectory(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, data string)
		want  string
	}{
		{"world-writable", func(t *testing.T, data string) { os.Chmod(data, 0o777) }, "writable by other users"},
		{"group-writable", func(t *testing.T, data string) { os.Chmod(data, 0o775) }, "writable by other users"},
		{"another user's", func(t *testing.T, data string) {
			if err := os.Chown(data, 65534, 65534); err != nil {
				t.Fatalf("chown (the security suite runs as root): %v", err)
			}
		}, "owned by uid 65534"},
		{"spool planted as a link", func(t *testing.T, data string) {
			if err := os.Symlink(t.TempDir(), filepath.Join(data, ".supportd-spool")); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			if err := os.Mkdir(data, 0o700); err != nil {
				t.Fatal(err)
			}
			c.setup(t, data)
			cfg := writeConfig(t, dir, fmt.Sprintf(`
store: {path: %q}
imap: {address: "127.0.0.1:1", tls: none, username: u}
smtp: {address: "127.0.0.1:1", tls: none}
metrics: {listen: ""}
`, filepath.Join(data, "supportd.db")))
			env := cleanEnv("SUPPORTD_IMAP_PASSWORD=x")
			out, errOut, code := cli(t, env, "--config", cfg, "run", "--start-at", "now")
			if code == 0 || !strings.Contains(out+errOut, c.want) {
				t.Errorf("run: exit %d, output %q; want a refusal saying %q", code, out+errOut, c.want)
			}
			if c.name == "spool planted as a link" {
				return
			}
			if _, err := os.Lstat(filepath.Join(data, "supportd.db")); !os.IsNotExist(err) {
				t.Errorf("run created the store in the unsafe directory (%v)", err)
			}
			csv := filepath.Join(dir, "c.csv")
			os.WriteFile(csv, []byte(testCustomers), 0o600)
			if out, errOut, code := cli(t, env, "--config", cfg, "customers", "import", csv); code == 0 || !strings.Contains(out+errOut, c.want) {
				t.Errorf("customers import: exit %d, output %q", code, out+errOut)
			}
		})
	}
}

// The hostile-sender decisions at explain level (issue 13 items 2, 3, 4):
// `supportd explain` on the attack messages, with
// security.require_verified_sender on.
func TestExplainHostileSenders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csv := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(csv, []byte(testCustomers), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: {path: %q}
security: {require_verified_sender: true, trusted_authserv_ids: [mx.vendor.test]}
support: {addresses: [support@vendor.test], sales_address: sales@vendor.test}
`, filepath.Join(dir, "supportd.db")))
	env := cleanEnv()
	if out, errOut, code := cli(t, env, "--config", cfg, "customers", "import", csv); code != 0 {
		t.Fatalf("customers import: %s%s", out, errOut)
	}
	explain := func(name string, headers ...string) map[string]any {
		t.Helper()
		h := append([]string{"To: support@vendor.test", "Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <" + name + "@attack.test>"}, headers...)
		if !slicesContainsFunc(headers, func(s string) bool { return strings.HasPrefix(s, "Subject:") }) {
			h = append(h, "Subject: Question")
		}
		path := filepath.Join(dir, name+".eml")
		if err := os.WriteFile(path, rawMsg(h, "The report page fails. Build Number: 9653\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := cli(t, env, "--config", cfg, "explain", "--received", "2026-11-25T10:00:00+10:30", path)
		if code != 0 {
			t.Fatalf("explain %s: %s%s", name, out, errOut)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("explain %s: %v\n%s", name, err, out)
		}
		return doc
	}
	get := func(doc map[string]any, path ...string) any {
		var cur any = doc
		for _, p := range path {
			m, _ := cur.(map[string]any)
			cur = m[p]
		}
		return cur
	}

	// Item 2: a trusted dmarc=pass without header.from, beside a dkim=pass for
	// another domain, verifies nothing; with the From domain it does.
	d := explain("unaligned", "From: Alice <alice@acme.test>", "Authentication-Results: mx.vendor.test; dkim=pass header.d=evil.test; dmarc=pass")
	if get(d, "entitlement", "verified_sender") != false || get(d, "entitlement", "status") != "unknown" || get(d, "entitlement", "customer_id") != nil {
		t.Errorf("dmarc=pass without header.from: entitlement %v", d["entitlement"])
	}
	d = explain("aligned", "From: Alice <alice@acme.test>", "Authentication-Results: mx.vendor.test; dmarc=pass header.from=acme.test")
	if get(d, "entitlement", "verified_sender") != true || get(d, "entitlement", "status") != "active" {
		t.Errorf("dmarc=pass header.from=acme.test: entitlement %v", d["entitlement"])
	}

	// Item 4: automatic mail in its other spellings is never answered.
	for _, c := range []struct {
		name, reason string
		headers      []string
	}{
		{"precedence-auto-reply", "precedence", []string{"From: Pat <pat@partner.test>", "Precedence: auto_reply"}},
		// Comments first are legal (RFC 5322 CFWS); any automatic copy wins.
		{"auto-submitted-comment", "auto_submitted", []string{"From: Pat <pat@partner.test>", "Auto-Submitted: (vacation) auto-replied"}},
		{"auto-submitted-second", "auto_submitted", []string{"From: Pat <pat@partner.test>", "Auto-Submitted: no", "Auto-Submitted: auto-replied"}},
		{"precedence-comment", "precedence", []string{"From: Pat <pat@partner.test>", "Precedence: (c) junk"}},
		{"precedence-second", "precedence", []string{"From: Pat <pat@partner.test>", "Precedence: first-class", "Precedence: bulk"}},
		{"x-autoreply", "auto_submitted", []string{"From: Pat <pat@partner.test>", "X-Autoreply: yes"}},
		{"x-autorespond", "auto_submitted", []string{"From: Pat <pat@partner.test>", "X-Autorespond: yes"}},
		{"own-tagged", "own_address", []string{"From: Support <support+CS-000001@vendor.test>"}},
		{"mailer-daemon-underscore", "system_sender", []string{"From: Mail System <mailer_daemon@mx.partner.test>"}},
		{"no-dot-reply", "system_sender", []string{"From: Notifications <no.reply@partner.test>"}},
		{"return-path-mailer-daemon", "system_sender", []string{"From: Pat <pat@partner.test>", "Return-Path: <MAILER-DAEMON>"}},
	} {
		d := explain(c.name, c.headers...)
		if d["action"] != "suppress" || d["suppress_reason"] != c.reason || d["reply"] != nil {
			t.Errorf("%s: action %v reason %v reply %v, want suppress %s", c.name, d["action"], d["suppress_reason"], d["reply"], c.reason)
		}
	}

	// Item 3: an unknown sender's link is not echoed in the reply subject.
	d = explain("spam-subject", "From: Someone <someone@victim.test>", "Subject: Cheap watches http://spam.example/buy and cheap-pills.xyz")
	if s, _ := get(d, "reply", "subject").(string); s == "" || strings.Contains(s, "spam.example") || strings.Contains(s, "pills.xyz") || !strings.Contains(s, "[link removed]") {
		t.Errorf("reply subject to an unknown sender: %q", s)
	}
}
