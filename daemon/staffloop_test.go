package daemon_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"supportd/internal/config"
	"supportd/internal/testenv"
	"supportd/store"
)

// The staff loop of §10 against real Dovecot and Mailpit: a customer writes,
// staff get a copy whose Reply-To is the ticket's signed address, a staff
// member answers from a mail client (quoting the copy), and the customer
// receives only the staff text, threaded, exactly once.

const (
	queue    = "queue@vendor.test"
	engineer = "eng@staff.vendor.test"
)

// openTicket delivers a customer message and waits for the acknowledgement
// and the staff copy; it returns the ticket id and the staff copy.
func openTicket(t *testing.T, e *env, from, subject, msgID, body string, extra ...string) (string, *testenv.MailpitMessageDetail) {
	t.Helper()
	before := len(e.mailpit.Messages(t))
	e.deliverNow(msg(from, subject, msgID, body, extra...))
	var staffCopy *testenv.MailpitMessageDetail
	waitFor(t, 20*time.Second, "staff copy of "+msgID, func() bool {
		for _, m := range e.mailpit.Messages(t) {
			if addressedTo(m, queue) && strings.Contains(m.Subject, subject) {
				d := e.mailpit.Message(t, m.ID)
				if strings.Contains(string(d.Raw), "<"+msgID+">") {
					staffCopy = d
					return len(e.mailpit.Messages(t)) >= before+2
				}
			}
		}
		return false
	})
	return staffCopy.Header("X-Support-Ticket"), staffCopy
}

// deliverNow delivers raw with INTERNALDATE now (deadlines run in real time).
func (e *env) deliverNow(raw string) uint32 {
	e.t.Helper()
	return e.dovecot.AppendAt(e.t, "INBOX", crlf(raw), time.Now())
}

// messagesTo are the Mailpit messages addressed (To or Cc) to addr.
func messagesTo(t *testing.T, e *env, addr string) []*testenv.MailpitMessageDetail {
	t.Helper()
	var out []*testenv.MailpitMessageDetail
	for _, m := range e.mailpit.Messages(t) {
		hit := addressedTo(m, addr)
		for _, c := range m.Cc {
			hit = hit || strings.EqualFold(c.Address, addr)
		}
		if hit {
			out = append(out, e.mailpit.Message(t, m.ID))
		}
	}
	return out
}

// staffReply is what a mail client sends when a staff member presses Reply
// on the staff copy and writes text above the quote.
func staffReply(from, to string, copy *testenv.MailpitMessageDetail, msgID, text string, extra ...string) string {
	var quoted strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(copy.Text, "\r\n", "\n"), "\n") {
		quoted.WriteString("> " + l + "\n")
	}
	body := text + "\n\nOn Wed, 25 Nov 2026 at 10:01, Support <support@vendor.test> wrote:\n" + quoted.String()
	hdr := append([]string{"To: " + to, "In-Reply-To: " + copy.Header("Message-Id")}, extra...)
	return msg(from, "Re: "+copy.Header("Subject"), msgID, body, hdr...)
}

func TestStaffReplyRelayedToCustomer(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue})
	defer r.stop(t)

	ticket, copy := openTicket(t, e, "Alice <alice@acme.test>", "Reports page is blank", "c1@acme.test",
		"Since this morning the reports page is blank. Build Number: 9653\nSECRET-CUSTOMER-LINE\n", "Cc: carol@acme.test, support@vendor.test")
	if !strings.HasPrefix(ticket, "CS-M") {
		t.Fatalf("new ticket id %q is not in tickets.id_format (CS-M%%05d)", ticket)
	}
	replyTo := copy.Header("Reply-To")
	if !strings.Contains(replyTo, "support+"+strings.ToLower(ticket)+".") || !strings.HasSuffix(strings.Trim(replyTo, "<> "), "@vendor.test") {
		t.Fatalf("staff copy Reply-To = %q, want the ticket's signed support+ address", replyTo)
	}
	if !strings.HasPrefix(strings.TrimSpace(copy.Text), "-- reply above this line --") {
		t.Fatalf("staff copy does not begin with the reply marker:\n%s", copy.Text)
	}
	if got := len(messagesTo(t, e, "alice@acme.test")); got != 1 {
		t.Fatalf("customer got %d messages before the staff reply, want the acknowledgement only", got)
	}

	signed := strings.Trim(replyTo, "<> ")
	if i := strings.LastIndexByte(signed, '<'); i >= 0 {
		signed = strings.Trim(signed[i:], "<>")
	}
	e.deliver(staffReply("Erin Engineer <"+engineer+">", signed, copy, "s1@staff.vendor.test",
		"Hello Alice,\n\nplease clear the report cache under Administration > Reports.\n\nErin"))

	var relay *testenv.MailpitMessageDetail
	waitFor(t, 20*time.Second, "the relayed staff reply", func() bool {
		for _, d := range messagesTo(t, e, "alice@acme.test") {
			if d.Header("Auto-Submitted") == "" {
				relay = d
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second) // a second copy would arrive by now
	if got := messagesTo(t, e, "alice@acme.test"); len(got) != 2 {
		t.Fatalf("customer got %d messages, want acknowledgement + exactly one relay", len(got))
	}
	text := relay.Text
	if !strings.Contains(text, "please clear the report cache") {
		t.Errorf("relay lacks the staff text:\n%s", text)
	}
	for _, leak := range []string{"reply above this line", "Ticket:", "SECRET-CUSTOMER-LINE", "wrote:", "Respond by", "#note"} {
		if strings.Contains(text, leak) {
			t.Errorf("relay leaks %q (quote or preface):\n%s", leak, text)
		}
	}
	if want := "[" + ticket + "] Re: Reports page is blank"; relay.Subject != want {
		t.Errorf("relay subject %q, want %q", relay.Subject, want)
	}
	if got := relay.Header("In-Reply-To"); !strings.Contains(got, "<c1@acme.test>") {
		t.Errorf("relay In-Reply-To = %q, want the customer's message", got)
	}
	if relay.From == nil || relay.From.Address != "support@vendor.test" || relay.From.Name != "Support" {
		t.Errorf("relay From = %+v, want the support address with smtp.from's name (support.reply_name_from_staff is off by default)", relay.From)
	}
	var cc []string
	for _, c := range relay.Cc {
		cc = append(cc, c.Address)
	}
	if len(cc) != 1 || cc[0] != "carol@acme.test" {
		t.Errorf("relay Cc = %v, want the customer's Cc without our own address", cc)
	}
	tk := r.ticket(t, ticket)
	if tk.State != store.StateAnswered || tk.FirstResponseAt.IsZero() {
		t.Errorf("ticket after the relay: state %q first_response_at %v, want answered with a first response", tk.State, tk.FirstResponseAt)
	}
	kinds := map[string]int{}
	for _, m := range tk.Messages {
		kinds[m.Direction+"/"+m.MessageKind()]++
	}
	if kinds["in/staff"] != 1 || kinds["out/staff"] != 1 || kinds["out/auto"] != 1 || kinds["in/customer"] != 1 {
		t.Errorf("ticket messages by direction/kind = %v", kinds)
	}

	// The customer answers the relay: the ticket is open again, no new ticket.
	e.deliver(msg("Alice <alice@acme.test>", "Re: ["+ticket+"] Re: Reports page is blank", "c2@acme.test",
		"That did not help.\n", "In-Reply-To: "+relay.Header("Message-Id")))
	waitFor(t, 20*time.Second, "the follow-up reopening the ticket", func() bool {
		return r.ticket(t, ticket).State == store.StateOpen
	})
	if tk := r.ticket(t, ticket); tk.ResponseDue.IsZero() {
		t.Errorf("reopened active ticket has no response_due")
	}
}

// support.reply_name_from_staff: the relay's From display name carries the
// staff member's name before ours ("Erin Engineer via Support"); the address
// stays the support address. A staff From without a usable name (none, or
// an address as the name) leaves our From alone.
func TestStaffReplyNameFromStaff(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue, settings: func(c *config.Config) { c.Support.ReplyNameFromStaff = true }})
	defer r.stop(t)
	for i, c := range []struct{ staffFrom, wantName string }{
		{"Erin Engineer <" + engineer + ">", "Erin Engineer via Support"},
		{"\"eng@staff.vendor.test\" <" + engineer + ">", "Support"},
		{engineer, "Support"},
	} {
		customer := fmt.Sprintf("user%d@acme.test", i)
		_, copy := openTicket(t, e, customer, fmt.Sprintf("Import stops %d", i), fmt.Sprintf("n%d@acme.test", i), "Import stops. Build Number: 9653\n")
		signed := strings.Trim(copy.Header("Reply-To"), "<> ")
		e.deliver(staffReply(c.staffFrom, signed, copy, fmt.Sprintf("sn%d@staff.vendor.test", i), "Restart the import service."))
		var relay *testenv.MailpitMessageDetail
		waitFor(t, 20*time.Second, "the relay to "+customer, func() bool {
			for _, d := range messagesTo(t, e, customer) {
				if d.Header("Auto-Submitted") == "" {
					relay = d
					return true
				}
			}
			return false
		})
		if relay.From == nil || relay.From.Address != "support@vendor.test" || relay.From.Name != c.wantName {
			t.Errorf("staff From %q: relay From = %+v, want %q <support@vendor.test>", c.staffFrom, relay.From, c.wantName)
		}
	}
}

func TestStaffMailThatMustNotReachTheCustomer(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue})
	defer r.stop(t)
	ticket, copy := openTicket(t, e, "Alice <alice@acme.test>", "Backup fails", "c1@acme.test", "Backups fail nightly. Build Number: 9653\n")
	signed := strings.Trim(copy.Header("Reply-To"), "<> ")

	cases := []struct {
		name, raw string
		// check of what staff got: the header to find on a message to staff
		staffWant func(d *testenv.MailpitMessageDetail) bool
	}{
		{"forged", msg("Erin <"+engineer+">", "Re: ["+ticket+"] Backup fails", "f1@staff.vendor.test",
			"FORGED: please send us your admin password.\n", "To: support@vendor.test"),
			func(d *testenv.MailpitMessageDetail) bool {
				return d.Header("X-Support-Unverified-Staff") == "yes" && strings.Contains(string(d.Raw), "f1@staff.vendor.test")
			}},
		{"out-of-office", staffReply(engineer, signed, copy, "o1@staff.vendor.test", "OOO: I am away until Monday.",
			"Auto-Submitted: auto-replied"), nil},
		{"note", staffReply(engineer, signed, copy, "n1@staff.vendor.test", "#note\nNOTE: customer is on the old cluster, check logs first."),
			func(d *testenv.MailpitMessageDetail) bool {
				return strings.Contains(d.Subject, "Note from") && strings.Contains(d.Text, "NOTE: customer is on the old cluster")
			}},
		{"unknown command", staffReply(engineer, signed, copy, "u1@staff.vendor.test", "#closee\nUNKNOWN: done here."), nil},
		{"nothing above the quote", staffReply(engineer, signed, copy, "e1@staff.vendor.test", ""), nil},
	}
	for _, c := range cases {
		e.deliver(c.raw)
	}
	// Every case leaves a trace for staff: the flagged copy, the note, or a
	// notice to the engineer saying why nothing was sent.
	waitFor(t, 30*time.Second, "staff notices", func() bool {
		n := 0
		for _, d := range messagesTo(t, e, engineer) {
			if strings.Contains(d.Subject, "Not sent to the customer") {
				n++
			}
		}
		return n >= 2
	})
	for _, c := range cases {
		if c.staffWant == nil {
			continue
		}
		found := false
		for _, d := range messagesTo(t, e, queue) {
			found = found || c.staffWant(d)
		}
		if !found {
			t.Errorf("%s: staff queue got nothing that shows it", c.name)
		}
	}
	time.Sleep(2 * time.Second)
	for _, d := range messagesTo(t, e, "alice@acme.test") {
		for _, leak := range []string{"FORGED", "OOO:", "NOTE:", "UNKNOWN:"} {
			if strings.Contains(d.Text, leak) {
				t.Errorf("customer received %q: %s", leak, d.Subject)
			}
		}
	}
	if got := len(messagesTo(t, e, "alice@acme.test")); got != 1 {
		t.Errorf("customer got %d messages, want the acknowledgement only", got)
	}
	var notices []string
	for _, d := range messagesTo(t, e, engineer) {
		notices = append(notices, d.Subject)
	}
	if !strings.Contains(strings.Join(notices, "\n"), "unknown command #closee") {
		t.Errorf("no notice about the unknown command; engineer got %q", notices)
	}
	tk := r.ticket(t, ticket)
	if tk.State != store.StateOpen || !tk.FirstResponseAt.IsZero() {
		t.Errorf("ticket state %q first response %v: nothing was a response", tk.State, tk.FirstResponseAt)
	}
	notes := 0
	for _, m := range tk.Messages {
		if m.MessageKind() == store.MsgNote {
			notes++
		}
	}
	if notes < 3 { // the note and the two refused replies
		t.Errorf("ticket records %d notes, want the note and the refused replies", notes)
	}
}

func TestStaffCommandsCloseAndReopen(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue})
	defer r.stop(t)
	ticket, copy := openTicket(t, e, "Alice <alice@acme.test>", "Licence question", "c1@acme.test", "How many users? Build Number: 9653\n")
	signed := strings.Trim(copy.Header("Reply-To"), "<> ")
	// An attachment goes with the relay.
	att := base64.StdEncoding.EncodeToString([]byte("step 1: restart\n"))
	body := "#close\nYou have 100 users. See the attached notes.\n\nOn Wed, 25 Nov 2026, Support wrote:\n> -- reply above this line --\n"
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Re: [%s]\r\nMessage-ID: <a1@staff.vendor.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--b1\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--b1--\r\n",
		engineer, signed, ticket, strings.ReplaceAll(body, "\n", "\r\n"), att)
	e.deliver(raw)
	waitFor(t, 20*time.Second, "the relay and the close", func() bool {
		return r.ticket(t, ticket).State == store.StateClosed && len(messagesTo(t, e, "alice@acme.test")) == 2
	})
	var relay *testenv.MailpitMessageDetail
	for _, d := range messagesTo(t, e, "alice@acme.test") {
		if d.Header("Auto-Submitted") == "" {
			relay = d
		}
	}
	if relay == nil || !strings.Contains(relay.Text, "You have 100 users") || strings.Contains(relay.Text, "#close") {
		t.Fatalf("relay of a #close reply = %+v", relay)
	}
	if !strings.Contains(string(relay.Raw), "filename=notes.txt") || !strings.Contains(string(relay.Raw), att) {
		t.Errorf("relay lost the attachment:\n%s", relay.Raw)
	}
	// #open by staff reopens it.
	e.deliver(staffReply(engineer, signed, copy, "o2@staff.vendor.test", "#open"))
	waitFor(t, 20*time.Second, "#open", func() bool { return r.ticket(t, ticket).State == store.StateOpen })
	if got := len(messagesTo(t, e, "alice@acme.test")); got != 2 {
		t.Errorf("customer got %d messages after a bare #open, want no new one", got)
	}
}

func TestTicketBoundToItsCustomer(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue})
	defer r.stop(t)
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Server down", "c1@acme.test", "Site down. Build Number: 9653\n")
	before := r.ticket(t, ticket)

	// A lapsed customer (Hooli) names Acme's ticket: its own ticket, its own
	// lapsed notice with sales in Cc, and Acme's ticket is unchanged.
	e.deliver(msg("Gavin <gavin@hooli.test>", "Re: ["+ticket+"] similar problem", "h1@hooli.test", "Same here. Build Number: 9653\n"))
	var notice *testenv.MailpitMessageDetail
	waitFor(t, 20*time.Second, "the other customer's reply", func() bool {
		got := messagesTo(t, e, "gavin@hooli.test")
		if len(got) > 0 {
			notice = got[0]
		}
		return notice != nil
	})
	other := strings.Trim(strings.Fields(notice.Subject)[0], "[]")
	if other == ticket {
		t.Fatalf("the other customer was filed into %s", ticket)
	}
	var cc []string
	for _, c := range notice.Cc {
		cc = append(cc, c.Address)
	}
	if len(cc) != 1 || cc[0] != "sales@vendor.test" {
		t.Errorf("lapsed notice Cc = %v, want sales", cc)
	}
	tk := r.ticket(t, other)
	if tk == nil || tk.ReferencedTicket != ticket || tk.CustomerID != "C500" {
		t.Errorf("new ticket = %+v, want C500 referencing %s", tk, ticket)
	}
	after := r.ticket(t, ticket)
	if len(after.Messages) != len(before.Messages) || after.State != before.State {
		t.Errorf("%s changed: %d→%d messages, %s→%s", ticket, len(before.Messages), len(after.Messages), before.State, after.State)
	}
	for _, d := range messagesTo(t, e, queue) {
		if strings.Contains(string(d.Raw), "<h1@hooli.test>") && d.Header("X-Support-Referenced-Ticket") != ticket {
			t.Errorf("staff copy of the other customer's mail: X-Support-Referenced-Ticket = %q", d.Header("X-Support-Referenced-Ticket"))
		}
	}
	// Another address of Acme's domain follows up the ticket.
	e.deliver(msg("Bob <bob@acme.test>", "Re: ["+ticket+"] Server down", "c2@acme.test", "Any news?\n"))
	waitFor(t, 20*time.Second, "the colleague's follow-up", func() bool { return len(r.ticket(t, ticket).Messages) > len(before.Messages) })
}

// A staff queue that is an alias delivering back into the support mailbox:
// the copy that comes back is recognised and never routed again.
func TestStaffQueueAliasDoesNotLoop(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue})
	defer r.stop(t)
	_, copy := openTicket(t, e, "Alice <alice@acme.test>", "Loop check", "c1@acme.test", "Build Number: 9653\n")
	for i := 0; i < 3; i++ {
		e.deliver(string(copy.Raw)) // the alias delivers the copy back, three times
	}
	time.Sleep(3 * time.Second)
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
	if got := len(messagesTo(t, e, queue)); got != 1 {
		t.Errorf("staff queue got %d copies, want 1 (the copy coming back is not routed again)", got)
	}
}

// A bounce of one of our replies attaches to that reply's ticket and is
// flagged to staff; it opens no ticket and gets no reply.
func TestBounceOfOurReplyAttachesToItsTicket(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue})
	defer r.stop(t)
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Printer page", "c1@acme.test", "Build Number: 9653\n")
	var ackID string
	for _, d := range messagesTo(t, e, "alice@acme.test") {
		ackID = d.Header("Message-Id")
	}
	dsn := "Return-Path: <>\nFrom: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\nTo: support@vendor.test\n" +
		"Subject: Undelivered Mail Returned to Sender\nDate: Wed, 25 Nov 2026 10:05:00 +1030\nMessage-ID: <dsn1@mx.acme.test>\n" +
		"Auto-Submitted: auto-replied\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n" +
		"--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n" +
		"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.test\n\nFinal-Recipient: rfc822; alice@acme.test\nAction: failed\nStatus: 5.1.1\n\n" +
		"--b\nContent-Type: text/rfc822-headers\n\nFrom: Support <support@vendor.test>\nTo: alice@acme.test\nSubject: [" + ticket + "] Re: Printer page\nMessage-ID: " + ackID + "\n\n--b--\n"
	before := len(r.ticket(t, ticket).Messages)
	e.deliver(dsn)
	waitFor(t, 20*time.Second, "the bounce on the ticket", func() bool { return len(r.ticket(t, ticket).Messages) > before })
	tk := r.ticket(t, ticket)
	if last := tk.Messages[len(tk.Messages)-1]; last.Kind != store.MsgAuto || last.Direction != store.DirectionIn || last.MessageID != "dsn1@mx.acme.test" {
		t.Errorf("last message of %s = %+v, want the bounce", ticket, last)
	}
	waitFor(t, 20*time.Second, "the flagged staff copy", func() bool {
		for _, d := range messagesTo(t, e, queue) {
			if strings.Contains(string(d.Raw), "<dsn1@mx.acme.test>") {
				return d.Header("X-Support-Delivery-Failed") == "yes" && d.Header("X-Support-Ticket") == ticket
			}
		}
		return false
	})
	if got := len(messagesTo(t, e, "alice@acme.test")); got != 1 {
		t.Errorf("customer got %d messages, want the acknowledgement only", got)
	}
	if strings.Contains(fmt.Sprint(r.ticket(t, ticket).State), "closed") {
		t.Error("a bounce closed the ticket")
	}
}

// The staff copy of a follow-up shows what the whole ticket still lacks and
// the ticket's deadline, not the follow-up's own.
func TestFollowUpStaffCopyShowsTheTicket(t *testing.T) {
	e := newEnv(t)
	defer e.start(runOpts{idle: true, staffQueue: queue}).stop(t)
	ticket, first := openTicket(t, e, "Alice <alice@acme.test>", "Search broken", "c1@acme.test",
		"Search is broken since yesterday. Build Number: 9653\nServer OS: Windows Server 2019\n")
	if m := first.Header("X-Support-Missing"); !strings.Contains(m, "browser") || strings.Contains(m, "build") {
		t.Fatalf("first staff copy X-Support-Missing = %q", m)
	}
	deadline := first.Header("X-Support-Sla-Deadline")
	if deadline == "" {
		t.Fatal("first staff copy has no SLA deadline")
	}
	e.deliver(msg("Alice <alice@acme.test>", "Re: ["+ticket+"] Search broken", "c2@acme.test", "We use Chrome 118.0.5993.88.\n"))
	var follow *testenv.MailpitMessageDetail
	waitFor(t, 20*time.Second, "the follow-up's staff copy", func() bool {
		for _, d := range messagesTo(t, e, queue) {
			if strings.Contains(string(d.Raw), "<c2@acme.test>") {
				follow = d
				return true
			}
		}
		return false
	})
	m := follow.Header("X-Support-Missing")
	for _, given := range []string{"build", "server_os", "browser"} {
		if strings.Contains(m, given) {
			t.Errorf("follow-up copy says %q is missing though the ticket has it: %q", given, m)
		}
	}
	if !strings.Contains(m, "screenshots") {
		t.Errorf("follow-up copy X-Support-Missing = %q, want the ticket's remaining gaps", m)
	}
	if got := follow.Header("X-Support-Sla-Deadline"); got != deadline {
		t.Errorf("follow-up copy deadline %q, want the ticket's %q", got, deadline)
	}
}
