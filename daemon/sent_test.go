package daemon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"supportd/store"
)

// Responses sent from the support mailbox itself (§10, issue 15) against a
// real Dovecot whose "Sent" folder carries the \Sent special-use attribute:
// imap.sent_mailbox keeps its default, the folder is found by the attribute.

// sentMsg is what a mail client saves in Sent when staff answer from the
// support account: From the support address, To the customer.
func sentMsg(to, subject, msgID string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Support <support@vendor.test>\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s>\n",
		to, subject, time.Now().Format(time.RFC1123Z), msgID)
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello,\n\nplease restart the export service.\n\nSupport\n")
	return b.String()
}

// sendFromMailbox appends raw to Sent, saved now.
func (e *env) sendFromMailbox(raw string) uint32 {
	e.t.Helper()
	return e.dovecot.AppendAt(e.t, "Sent", crlf(raw), time.Now())
}

// sentSeen waits until the daemon logged its decision on the Sent message
// msgID with reason (a debug line).
func sentSeen(t *testing.T, e *env, msgID, reason string) {
	t.Helper()
	waitFor(t, 20*time.Second, "the Sent folder's "+msgID+" ("+reason+")", func() bool {
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, "<"+msgID+">") && strings.Contains(l, "reason="+reason) {
				return true
			}
		}
		return false
	})
}

// sentResponses counts the ticket's staff responses from the Sent folder.
func sentResponses(tk *store.Ticket, msgID string) int {
	n := 0
	for _, m := range tk.Messages {
		if m.Direction == store.DirectionOut && m.MessageKind() == store.MsgStaff && m.MessageID == msgID {
			n++
		}
	}
	return n
}

func TestSentFolderReplyIsTheResponse(t *testing.T) {
	e := newEnv(t)
	e.dovecot.CreateMailbox(t, "Sent")
	r := e.start(runOpts{idle: true, staffQueue: queue, engine: fastSLA(12*time.Second, 5*time.Second), cfg: realClock})
	defer r.stop(t)
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Export fails", "c1@acme.test", "Export fails. Build Number: 9653\n")
	acks := messagesTo(t, e, "alice@acme.test")
	if len(acks) != 1 || acks[0].Header("Auto-Submitted") == "" {
		t.Fatalf("customer got %d messages, want the acknowledgement", len(acks))
	}
	ackID := strings.Trim(acks[0].Header("Message-Id"), "<> ")

	// The acknowledgement saved in Sent (Gmail, Microsoft 365) is ours: no response.
	e.sendFromMailbox(string(acks[0].Raw))
	// Mail that names no ticket, and a reply threaded to the ticket but not to its customer.
	e.sendFromMailbox(sentMsg("Dana <dana@elsewhere.test>", "Lunch", "x1@vendor.test"))
	e.sendFromMailbox(sentMsg("Vendor Dev <dev@partner.test>", "Fwd: ["+ticket+"] Export fails", "x2@vendor.test", "In-Reply-To: <c1@acme.test>"))
	sentSeen(t, e, ackID, "own_message")
	sentSeen(t, e, "x1@vendor.test", "no_ticket")
	sentSeen(t, e, "x2@vendor.test", "not_to_customer")
	if tk := r.ticket(t, ticket); tk.State != store.StateOpen || !tk.FirstResponseAt.IsZero() {
		t.Fatalf("ticket after the acknowledgement and unrelated mail in Sent: state %s first_response_at %v, want open, none", tk.State, tk.FirstResponseAt)
	}

	// Staff answer from the mailbox itself, threaded to the customer's message.
	e.sendFromMailbox(sentMsg("Alice <alice@acme.test>", "Re: Export fails", "r1@vendor.test", "In-Reply-To: <c1@acme.test>", "References: <c1@acme.test>"))
	waitFor(t, 10*time.Second, "the response from Sent", func() bool { return !r.ticket(t, ticket).FirstResponseAt.IsZero() })
	tk := r.ticket(t, ticket)
	if tk.State != store.StateAnswered || !tk.FirstResponseMet || sentResponses(tk, "r1@vendor.test") != 1 {
		t.Fatalf("ticket after the Sent reply: state %s met %v responses %d, want answered, met, 1", tk.State, tk.FirstResponseMet, sentResponses(tk, "r1@vendor.test"))
	}
	time.Sleep(14 * time.Second) // past the warning time and the deadline
	if w, b := slaNotices(t, e, ticket); w != 0 || b != 0 {
		t.Errorf("warnings %d breaches %d after a response from the Sent folder", w, b)
	}
	tk = r.ticket(t, ticket)
	if tk.Breaches != 0 || tk.State != store.StateAnswered || !tk.ResponseDue.IsZero() {
		t.Errorf("ticket: breaches %d state %s response_due %v", tk.Breaches, tk.State, tk.ResponseDue)
	}
	// supportd sent nothing for it and changed nothing in Sent.
	if got := len(messagesTo(t, e, "alice@acme.test")); got != 1 {
		t.Errorf("customer got %d messages, want only the acknowledgement", got)
	}
	for uid, flags := range e.dovecot.FetchFlags(t, "Sent") {
		if len(flags) != 0 {
			t.Errorf("Sent uid %d has flags %v: supportd changed the Sent folder", uid, flags)
		}
	}
	if n := len(e.dovecot.Messages(t, "Sent")); n != 4 {
		t.Errorf("Sent holds %d messages, want the 4 appended", n)
	}
}

// Restarting does not count a Sent message twice, and a UIDVALIDITY change
// of Sent reads nothing again: the old messages are history.
func TestSentFolderRestartAndUIDValidityChange(t *testing.T) {
	e := newEnv(t)
	e.dovecot.CreateMailbox(t, "Sent")
	// History: in Sent before supportd first reads it. It answers a message
	// the customer has yet to send; were it ever read, that ticket would
	// count as answered.
	e.sendFromMailbox(sentMsg("Bob <bob@acme.test>", "Re: Licence", "old@vendor.test", "In-Reply-To: <c2@acme.test>"))
	opts := runOpts{idle: true, staffQueue: queue}
	r := e.start(opts)
	t1, _ := openTicket(t, e, "Alice <alice@acme.test>", "Export fails", "c1@acme.test", "Export fails. Build Number: 9653\n")
	t2, _ := openTicket(t, e, "Bob <bob@acme.test>", "Licence", "c2@acme.test", "How many users? Build Number: 9653\n")
	e.sendFromMailbox(sentMsg("Alice <alice@acme.test>", "Re: ["+t1+"] Export fails", "r1@vendor.test"))
	waitFor(t, 20*time.Second, "the response to "+t1, func() bool { return sentResponses(r.ticket(t, t1), "r1@vendor.test") == 1 })
	if tk := r.ticket(t, t2); tk.State != store.StateOpen || !tk.FirstResponseAt.IsZero() {
		t.Fatalf("%s answered by Sent history: state %s first_response_at %v", t2, tk.State, tk.FirstResponseAt)
	}
	firstAt := r.ticket(t, t1).FirstResponseAt
	r.stop(t)

	r = e.start(opts)
	e.sendFromMailbox(sentMsg("Dana <dana@elsewhere.test>", "Lunch", "m1@vendor.test"))
	sentSeen(t, e, "m1@vendor.test", "no_ticket") // read past the checkpoint
	if strings.Contains(e.logs.String(), "already_counted") {
		t.Error("a Sent message was read again after the restart")
	}
	if tk := r.ticket(t, t1); sentResponses(tk, "r1@vendor.test") != 1 || !tk.FirstResponseAt.Equal(firstAt) {
		t.Errorf("%s after the restart: %d responses r1, first response %v (was %v)", t1, sentResponses(tk, "r1@vendor.test"), tk.FirstResponseAt, firstAt)
	}
	r.stop(t)

	// The server rebuilds Sent: new UIDVALIDITY, the same messages under new UIDs.
	uvBefore := e.dovecot.UIDValidity(t, "Sent")
	if uv := e.dovecot.RecreateMailbox(t, "Sent"); uv == uvBefore {
		t.Fatal("UIDVALIDITY of Sent did not change")
	}
	r = e.start(opts)
	defer r.stop(t)
	// Reading starts again at UIDNEXT: what is sent from then on counts.
	waitFor(t, 20*time.Second, "the new start point of Sent", func() bool {
		return strings.Count(e.logs.String(), "Sent folder: reading starts with the next message sent") == 2
	})
	e.sendFromMailbox(sentMsg("Dana <dana@elsewhere.test>", "Lunch again", "m2@vendor.test"))
	sentSeen(t, e, "m2@vendor.test", "no_ticket")
	if strings.Contains(e.logs.String(), "already_counted") {
		t.Error("a Sent message was read again after the UIDVALIDITY change")
	}
	if tk := r.ticket(t, t2); tk.State != store.StateOpen || !tk.FirstResponseAt.IsZero() {
		t.Errorf("%s answered by the history re-read after the UIDVALIDITY change: state %s", t2, tk.State)
	}
	if tk := r.ticket(t, t1); sentResponses(tk, "r1@vendor.test") != 1 {
		t.Errorf("%s counts r1 %d times after the UIDVALIDITY change", t1, sentResponses(tk, "r1@vendor.test"))
	}
	// Sent keeps working under the new UIDVALIDITY.
	e.sendFromMailbox(sentMsg("Bob <bob@acme.test>", "Re: Licence", "r2@vendor.test", "In-Reply-To: <c2@acme.test>"))
	waitFor(t, 20*time.Second, "the response to "+t2, func() bool { return r.ticket(t, t2).State == store.StateAnswered })
}
