package security_test

import (
	"bytes"
	"encoding/base64"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"

	"supportd/daemon"
	"supportd/internal/testenv"
)

// headerBlock returns the raw header lines (unfolded) of a message source.
func headerBlock(raw []byte) []string {
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	head, _, _ := bytes.Cut(raw, []byte("\n\n"))
	var lines []string
	for _, l := range strings.Split(string(head), "\n") {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(lines) > 0 {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// headerNames counts the header fields of a raw header block by lower-case name.
func headerNames(lines []string) map[string]int {
	n := map[string]int{}
	for _, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok {
			n[strings.ToLower(strings.TrimSpace(k))]++
		}
	}
	return n
}

func addrList(t testing.TB, v string) []string {
	t.Helper()
	if strings.TrimSpace(v) == "" {
		return nil
	}
	as, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).ParseList(v)
	if err != nil {
		t.Errorf("address list %q does not parse: %v", v, err)
		return nil
	}
	var out []string
	for _, a := range as {
		out = append(out, strings.ToLower(a.Address))
	}
	return out
}

func b64word(s string) string {
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

// Encoded CR/LF in the subject, in display names and around a ticket id, a folded
// References line and a display name that looks like an address list: neither the
// reply nor the staff copy gets an injected header or recipient. Checked on the
// raw source Mailpit received and on the SMTP envelope.
func TestHeaderInjection(t *testing.T) {
	t.Parallel()
	const staff = "staff@vendor.test"
	w := startWorld(t, staff, nil)
	msgs := []struct {
		sender  string
		headers []string
	}{
		{"alice@acme.test", []string{"From: Alice <alice@acme.test>",
			"Subject: =?UTF-8?Q?Help=0D=0ABcc:_victim1@evil.test=0D=0AX-Injected:_1?="}},
		{"bob@acme.test", []string{"From: " + b64word("Bob\r\nBcc: victim2@evil.test\r\nX-Injected: 2") + " <bob@acme.test>",
			"Subject: Display name attack"}},
		{"carol@acme.test", []string{`From: "victim3@evil.test, Mallory <victim3b@evil.test>" <carol@acme.test>`,
			"Subject: Comma in the name"}},
		{"dave@acme.test", []string{"From: Dave <dave@acme.test>",
			"Subject: [CS-000042] =?UTF-8?Q?=0D=0ABcc:_victim4@evil.test=0D=0AX-Injected:_4?= [CS-000043=?UTF-8?Q?=0ATo:_victim4b@evil.test?=]"}},
		{"erin@acme.test", []string{"From: " + b64word("Erin\nTo: victim5@evil.test") + " <erin@acme.test>",
			"Subject: =?UTF-8?Q?LF_only=0ATo:_victim5b@evil.test?=",
			"References: <ref1@acme.test>\n Bcc: victim5c@evil.test"}},
	}
	for i, m := range msgs {
		h := append([]string{"To: support@vendor.test", "Date: Wed, 25 Nov 2026 10:00:00 +1030",
			"Message-ID: <inj" + string(rune('a'+i)) + "@acme.test>"}, m.headers...)
		w.deliver(t, rawMsg(h, "Build Number: 9653\nServer OS: Windows Server 2019\n"))
	}
	// One acknowledgement and one staff copy per message.
	got := w.settle(t, 2*len(msgs))

	allowedTo := []string{staff}
	for _, m := range msgs {
		allowedTo = append(allowedTo, m.sender)
	}
	replies := map[string]int{}
	for _, s := range got {
		d := w.mailpit.Message(t, s.ID)
		lines := headerBlock(d.Raw)
		names := headerNames(lines)
		for _, bad := range []string{"bcc", "x-injected"} {
			if names[bad] > 0 {
				t.Errorf("%q: injected header %s:\n%s", s.Subject, bad, strings.Join(lines, "\n"))
			}
		}
		if names["to"] != 1 || names["cc"] > 1 || names["subject"] != 1 || names["from"] != 1 {
			t.Errorf("%q: header counts To=%d Cc=%d Subject=%d From=%d, want one each (Cc at most one):\n%s",
				s.Subject, names["to"], names["cc"], names["subject"], names["from"], strings.Join(lines, "\n"))
		}
		to := addrList(t, d.Header("To"))
		cc := addrList(t, d.Header("Cc"))
		if len(to) != 1 || !slices.Contains(allowedTo, to[0]) {
			t.Errorf("%q: To %v, want exactly one of %v", s.Subject, to, allowedTo)
		}
		if len(cc) > 0 {
			t.Errorf("%q: Cc %v, want none", s.Subject, cc)
		}
		if len(s.Bcc) != 0 {
			t.Errorf("%q: blind envelope recipients %v", s.Subject, s.Bcc)
		}
		for _, a := range append(append([]testenv.MailpitAddress{}, s.To...), s.Cc...) {
			if strings.Contains(a.Address, "evil.test") {
				t.Errorf("%q: addressed to %s", s.Subject, a.Address)
			}
		}
		subj, err := (&mime.WordDecoder{}).DecodeHeader(d.Header("Subject"))
		if err != nil {
			t.Errorf("reply subject %q does not decode: %v", d.Header("Subject"), err)
		}
		if strings.ContainsAny(subj, "\r\n") {
			t.Errorf("decoded subject carries a line break: %q", subj)
		}
		if len(to) == 1 && to[0] != staff {
			replies[to[0]]++
		}
	}
	for _, m := range msgs {
		if replies[m.sender] != 1 {
			t.Errorf("%s got %d replies, want 1", m.sender, replies[m.sender])
		}
	}
}

// An unverified sender's Reply-To on another domain does not redirect the
// automatic reply: it goes to From, and the Reply-To address gets nothing.
func TestReplyToHijack(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "", nil)
	w.deliver(t, rawMsg([]string{"From: Alice <alice@acme.test>", "Reply-To: Mallory <mallory@evil.test>", "To: support@vendor.test",
		"Subject: Please send the licence file", "Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <rt1@acme.test>"}, "Build Number: 9653\n"))
	w.deliver(t, rawMsg([]string{"From: Sam <sam@newcorp.test>", "Reply-To: collector@evil.test, alice@acme.test", "To: support@vendor.test",
		"Subject: Licence question", "Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <rt2@newcorp.test>"}, "Hello\n"))
	got := w.settle(t, 2)
	want := map[string]bool{"alice@acme.test": false, "sam@newcorp.test": false}
	for _, s := range got {
		var rcpts []string
		for _, a := range append(append(append([]testenv.MailpitAddress{}, s.To...), s.Cc...), s.Bcc...) {
			rcpts = append(rcpts, strings.ToLower(a.Address))
		}
		if len(rcpts) != 1 {
			t.Errorf("%q went to %v, want exactly the sender", s.Subject, rcpts)
			continue
		}
		if _, ok := want[rcpts[0]]; !ok {
			t.Errorf("%q went to %s, not to the From address", s.Subject, rcpts[0])
			continue
		}
		want[rcpts[0]] = true
	}
	for addr, ok := range want {
		if !ok {
			t.Errorf("no reply to %s", addr)
		}
	}
}

var ticketRE = regexp.MustCompile(`CS-(?:\d{6}|M\d{5})`)

// With security.require_verified_sender on, a sender who only claims a customer's
// address (no Authentication-Results, one from an untrusted authserv-id, or a
// trusted dmarc=fail) gets exactly the reply an unknown sender gets: no company,
// no expiry date, no active/lapsed wording, no sales copy. The same address with
// a trusted dmarc=pass gets the customer's acknowledgement.
func TestSpoofedSenderLearnsNothing(t *testing.T) {
	t.Parallel()
	w := startWorld(t, "", func(e *daemon.Engine) { e.Policy.RequireVerifiedSender = true })
	type m struct {
		key, from string
		extra     []string
	}
	// Keys (in subjects and Message-IDs) avoid every word searched for below.
	msgs := []m{
		{"u0", "Sam <sam@newcorp.test>", nil},
		{"s1", "Alice <a1@acme.test>", nil},
		{"s2", "Gavin <gavin@hooli.test>", nil},
		{"s3", "Alice <a2@acme.test>", []string{"Authentication-Results: mx.evil.test; dmarc=pass header.from=acme.test"}},
		{"s4", "Alice <a3@acme.test>", []string{"Authentication-Results: mx.vendor.test; dmarc=fail header.from=acme.test"}},
		{"v1", "Alice <a4@acme.test>", []string{"Authentication-Results: mx.vendor.test; dmarc=pass header.from=acme.test"}},
	}
	for _, x := range msgs {
		h := append([]string{"From: " + x.from, "To: support@vendor.test", "Subject: Question " + x.key,
			"Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <" + x.key + "@test>"}, x.extra...)
		w.deliver(t, rawMsg(h, "Hello, the report page fails. Build Number: 9653\n"))
	}
	got := w.settle(t, len(msgs))
	bodies := map[string]string{}
	raws := map[string]string{}
	for _, s := range got {
		d := w.mailpit.Message(t, s.ID)
		key := s.Subject[strings.Index(s.Subject, "Question ")+len("Question "):]
		if len(s.Cc) > 0 || len(s.Bcc) > 0 {
			t.Errorf("%s: reply copied to %v %v", key, s.Cc, s.Bcc)
		}
		bodies[key] = ticketRE.ReplaceAllString(d.Text, "CS-XXXXXX")
		// What the recipient sees: the header block and the decoded text (the raw
		// body is quoted-printable, where a soft line break could split a word).
		raws[key] = strings.Join(headerBlock(d.Raw), "\n") + "\n\n" + d.Text
	}
	base, ok := bodies["u0"]
	if !ok {
		t.Fatal("no reply to the unknown sender")
	}
	leaks := []string{"Acme", "Hooli", "2027", "2026-08", "31 Aug", "30 Jun", "active", "lapsed", "Lapsed", "no longer",
		"expire", "Annual Support", "sales@vendor.test", "renew"}
	for _, x := range msgs {
		if !strings.HasPrefix(x.key, "s") {
			continue
		}
		b, ok := bodies[x.key]
		if !ok {
			t.Errorf("%s: no reply", x.key)
			continue
		}
		if b != base {
			t.Errorf("%s: reply differs from the unknown sender's:\n--- spoofed\n%s\n--- unknown\n%s", x.key, b, base)
		}
		for _, l := range leaks {
			if strings.Contains(raws[x.key], l) {
				t.Errorf("%s: reply reveals %q:\n%s", x.key, l, raws[x.key])
			}
		}
	}
	v := bodies["v1"]
	if !strings.Contains(v, "Acme Pty Ltd") || !strings.Contains(v, "is active") {
		t.Errorf("verified sender did not get the customer's acknowledgement:\n%s", v)
	}
}
