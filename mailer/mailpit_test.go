package mailer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"supportd/internal/testenv"
)

// A composed reply delivered to a real Mailpit reads back with the
// auto-reply fields, the threading fields and the exact Message-ID, and no
// injected recipient.
func TestMailpitReceivesComposedReply(t *testing.T) {
	mp := testenv.Mailpit(t)
	m := newMailer(t, Config{Address: mp.SMTPAddr(), TLS: TLSNone, Username: "supportd", Password: "x"})

	r := sampleReply()
	r.Subject = "[CS-004211] Re: Login fails\r\nBcc: thief@evil.test"
	data, err := ComposeReply(r)
	if err != nil {
		t.Fatal(err)
	}
	e := Envelope{From: "support@vendor.test", To: []string{"alice@customer.test", "sales@vendor.test"}, Data: data, MessageID: r.MessageID}
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := mp.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("Mailpit holds %d messages", len(msgs))
	}
	d := mp.Message(t, msgs[0].ID)
	if d.MessageID != r.MessageID {
		t.Errorf("Message-ID = %q, want %q", d.MessageID, r.MessageID)
	}
	if got := d.Header("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if got := d.Header("X-Auto-Response-Suppress"); got != "All" {
		t.Errorf("X-Auto-Response-Suppress = %q", got)
	}
	if got := d.Header("In-Reply-To"); got != "<CAF=abc123@mail.customer.test>" {
		t.Errorf("In-Reply-To = %q", got)
	}
	if got := d.Header("References"); got != "<root@mail.customer.test> <CAF=abc123@mail.customer.test>" {
		t.Errorf("References = %q", got)
	}
	if d.Subject != "[CS-004211] Re: Login fails Bcc: thief@evil.test" {
		t.Errorf("Subject = %q", d.Subject)
	}
	if len(d.Bcc) != 0 || len(d.HeaderValues("Bcc")) != 0 {
		t.Errorf("Bcc = %v / %v", d.Bcc, d.HeaderValues("Bcc"))
	}
	if len(d.To) != 1 || d.To[0].Address != "alice@customer.test" || len(d.Cc) != 1 || d.Cc[0].Address != "sales@vendor.test" {
		t.Errorf("To = %v, Cc = %v", d.To, d.Cc)
	}
	if d.ReturnPath != "support@vendor.test" {
		t.Errorf("Return-Path = %q", d.ReturnPath)
	}
	if !strings.Contains(d.Text, "opened ticket CS-004211") {
		t.Errorf("Text = %q", d.Text)
	}
	if !bytes.HasSuffix(d.Raw, data) {
		t.Errorf("raw message changed in transit:\n%s", d.Raw)
	}
}

// A batch over one reused session and a staff copy with the original
// attached, both read back from Mailpit.
func TestMailpitBatchAndStaffCopy(t *testing.T) {
	mp := testenv.Mailpit(t)
	m := newMailer(t, Config{Address: mp.SMTPAddr(), TLS: TLSNone, MaxConns: 1})
	var es []Envelope
	for i := range 5 {
		r := sampleReply()
		r.MessageID = fmt.Sprintf("cs-00421%d.batch@vendor.test", i)
		data, err := ComposeReply(r)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, Envelope{From: "support@vendor.test", To: []string{"alice@customer.test"}, Data: data, MessageID: r.MessageID})
	}
	staff, err := StaffCopy{
		From: "supportd <support@vendor.test>", To: "staff@vendor.test",
		Subject: StaffSubject("Login fails", "CS-004211", "P1", "ASUP"), Headers: staffHeaders(),
		Preface: "Ticket CS-004211", MessageID: "staff.cs-004211@vendor.test", Date: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
	}.Compose(strings.NewReader(originalEML))
	if err != nil {
		t.Fatal(err)
	}
	es = append(es, Envelope{From: "support@vendor.test", To: []string{"staff@vendor.test"}, Data: staff, MessageID: "staff.cs-004211@vendor.test"})
	for i, err := range m.SendBatch(context.Background(), es) {
		if err != nil {
			t.Errorf("envelope %d: %v", i, err)
		}
	}
	msgs := mp.WaitMessages(t, len(es), 10*time.Second)
	ids := map[string]string{}
	for _, msg := range msgs {
		ids[msg.MessageID] = msg.ID
	}
	for _, e := range es {
		if ids[e.MessageID] == "" {
			t.Errorf("%s not in Mailpit", e.MessageID)
		}
	}
	d := mp.Message(t, ids["staff.cs-004211@vendor.test"])
	if d.Subject != "[CS-004211][P1][ASUP] Login fails" || d.Header("X-Support-Priority") != "P1" || d.Header("X-Support-SLA-Deadline") != "2026-11-26T12:30:00+10:30" {
		t.Errorf("staff copy: subject %q, headers %v", d.Subject, d.Headers)
	}
	// The attached original is intact inside the raw message.
	mr, err := mail.CreateReader(bytes.NewReader(d.Raw))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if h, ok := p.Header.(*mail.AttachmentHeader); ok && h.Get("Content-Type") == "message/rfc822" {
			var b bytes.Buffer
			b.ReadFrom(p.Body)
			found = b.String() == originalEML
		}
	}
	if !found {
		t.Error("original not attached unchanged")
	}
}
