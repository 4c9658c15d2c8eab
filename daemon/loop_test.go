package daemon_test

// Mail loops (issue 4 item 5): autoresponders and a second supportd answering
// our replies, bounces, read receipts, out-of-office replies, list mail and our
// own address. The property: at most limits.auto_replies_per_sender_per_day (3)
// replies to any one sender, then silence; automated mail is never answered
// but still routed to staff (Suppressed keyword, staff copy).

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/testenv"
)

const (
	staffAddr = "staff@vendor.test"
	// loopQuiet is how long nothing may move, once everything delivered is
	// handled and sent, before a loop counts as ended.
	loopQuiet = 1500 * time.Millisecond
	// loopCap stops the test's own responders after this many answers, so a
	// broken daemon makes the test fail rather than spin.
	loopCap = 12
)

// arrival gives strictly increasing INTERNALDATEs one minute apart from
// `received`, so every message of a loop falls in the same 24 h rate window.
type arrival struct {
	mu sync.Mutex
	n  int
}

func (a *arrival) next() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	return received.Add(time.Duration(a.n) * time.Minute)
}

// pump calls step (which moves mail and returns how many messages it moved)
// until nothing has moved for loopQuiet while settled holds (every delivered
// message done in the ledger, outboxes empty: nothing is in flight on a slow
// machine), and fails after timeout.
func pump(t *testing.T, timeout time.Duration, step func() int, settled func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := time.Now()
	for {
		if time.Now().After(deadline) {
			t.Fatalf("mail still moving after %v: the loop did not stop", timeout)
		}
		if step() > 0 || !settled() {
			last = time.Now()
		} else if time.Since(last) >= loopQuiet {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allDone reports whether every UID has a done ledger entry and the outbox is empty.
func allDone(t *testing.T, r *running, uv uint32, uids []uint32) bool {
	for _, uid := range uids {
		if l := r.ledger(t, uv, uid); l == nil || !l.Done() {
			return false
		}
	}
	return r.outboxPending(t) == 0
}

func addressedTo(m testenv.MailpitMessage, addr string) bool {
	for _, a := range m.To {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}

// responder is an autoresponder written in the test: it answers every message
// Mailpit receives for addr by delivering an answer into our INBOX.
type responder struct {
	name string
	// answer builds the autoresponder's message from our reply d (k = 1, 2, …).
	answer func(d *testenv.MailpitMessageDetail, k int) string
	// wantReplies is how many replies we may send to addr in total (the first
	// answers the human seed message); wantReason how the last answer of the
	// responder is handled ("suppress" reason, or "follow_up").
	wantReplies int
	wantAction  string
	wantReason  string
}

const oooAddr = "pat@partner.test"

func oooMsg(k int, subject string, headers ...string) string {
	return msg("Pat Partner <"+oooAddr+">", subject, fmt.Sprintf("ooo-%d@partner.test", k),
		"I am out of the office until Monday and will read your message then.\n", headers...)
}

func responders() []responder {
	return []responder{
		{name: "rfc3834_auto_submitted", wantReplies: 1, wantAction: "suppress", wantReason: "auto_submitted",
			answer: func(d *testenv.MailpitMessageDetail, k int) string {
				id := strings.TrimSpace(d.Header("Message-Id"))
				return oooMsg(k, "Automatic reply: "+d.Subject, "Auto-Submitted: auto-replied", "In-Reply-To: "+id, "References: "+id)
			}},
		{name: "microsoft_x_auto_response_suppress", wantReplies: 1, wantAction: "suppress", wantReason: "auto_response_suppress",
			answer: func(d *testenv.MailpitMessageDetail, k int) string {
				return oooMsg(k, "Automatic reply: away", "X-Auto-Response-Suppress: All")
			}},
		// No Auto-Submitted, but it threads (In-Reply-To and our subject with
		// the ticket id): a follow-up, which is never acknowledged.
		{name: "naive_threaded", wantReplies: 1, wantAction: "follow_up",
			answer: func(d *testenv.MailpitMessageDetail, k int) string {
				id := strings.TrimSpace(d.Header("Message-Id"))
				return oooMsg(k, "Re: "+d.Subject, "In-Reply-To: "+id)
			}},
		// No header, no threading, a subject that only says "Automatic reply"
		// (decision: the subject alone is not a loop signal — a customer may
		// write it, and Zammad/RT/osTicket do not use it either): only the rate
		// limit stops it, after 3 replies.
		{name: "naive_unthreaded_subject_only", wantReplies: 3, wantAction: "suppress", wantReason: "rate_limit",
			answer: func(d *testenv.MailpitMessageDetail, k int) string {
				return oooMsg(k, "Automatic reply: Out of office")
			}},
	}
}

// An autoresponder that answers everything we send gets at most 3 replies,
// fewer when it marks its answers (RFC 3834, X-Auto-Response-Suppress) or
// threads them; then both sides fall silent. Every answer is still routed to
// staff.
func TestLoopAutoresponder(t *testing.T) {
	for _, rs := range responders() {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var at arrival
			seed := e.dovecot.AppendAt(t, "INBOX", crlf(msg("Pat Partner <"+oooAddr+">", "Question about licences", "seed@partner.test",
				"How many licences do we need for 40 users?\n")), at.next())
			uv := e.dovecot.UIDValidity(t, "INBOX")
			r := e.start(runOpts{idle: true, staffQueue: staffAddr})
			defer r.stop(t)

			answered := map[string]bool{}
			var uids []uint32
			pump(t, 45*time.Second, func() int {
				moved := 0
				for _, m := range e.mailpit.Messages(t) {
					if answered[m.ID] || !addressedTo(m, oooAddr) {
						continue
					}
					answered[m.ID] = true
					if len(uids) >= loopCap {
						continue
					}
					raw := rs.answer(e.mailpit.Message(t, m.ID), len(uids)+1)
					uids = append(uids, e.dovecot.AppendAt(t, "INBOX", crlf(raw), at.next()))
					moved++
				}
				return moved
			}, func() bool { return allDone(t, r, uv, append([]uint32{seed}, uids...)) })
			waitFor(t, 20*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })

			msgs := e.mailpit.Messages(t)
			got := repliesTo(msgs, oooAddr)
			t.Logf("we replied %d times, the responder answered %d times", got, len(uids))
			if got != rs.wantReplies {
				t.Fatalf("we sent %d replies to the autoresponder, want %d", got, rs.wantReplies)
			}
			if len(uids) != rs.wantReplies {
				t.Fatalf("the autoresponder answered %d times, want %d (one per reply of ours)", len(uids), rs.wantReplies)
			}
			if l := r.ledger(t, uv, seed); l == nil || l.Action != "acknowledge" {
				t.Errorf("seed message ledger = %+v, want acknowledged", l)
			}
			for i, uid := range uids {
				l := r.ledger(t, uv, uid)
				if l == nil {
					t.Fatalf("answer %d (UID %d) not in the ledger", i+1, uid)
				}
				last := i == len(uids)-1
				if last && (l.Action != rs.wantAction || l.SuppressReason != rs.wantReason) {
					t.Errorf("last answer (UID %d): action %q reason %q, want %q %q", uid, l.Action, l.SuppressReason, rs.wantAction, rs.wantReason)
				}
				if !last && l.Action != "acknowledge" {
					t.Errorf("answer %d (UID %d): action %q, want acknowledge (under the limit)", i+1, uid, l.Action)
				}
			}
			// Still routed: tagged in Dovecot and a staff copy of every message.
			lastUID := uids[len(uids)-1]
			lastLedger := r.ledger(t, uv, lastUID)
			wantKW := "Suppressed"
			if rs.wantAction == "follow_up" {
				wantKW = "FollowUp"
			}
			waitFor(t, 10*time.Second, "keywords on the last answer", func() bool {
				kw := e.dovecot.Keywords(t, "INBOX", lastUID)
				return slices.Contains(kw, wantKW) && slices.Contains(kw, daemon.ProcessedKeyword)
			})
			if n := repliesTo(msgs, staffAddr); n != 1+len(uids) {
				t.Errorf("staff got %d copies, want %d (the seed and every answer)", n, 1+len(uids))
			}
			if rs.wantAction == "suppress" {
				sc := staffCopyOf(t, e, msgs, lastLedger.Ticket, fmt.Sprintf("ooo-%d@partner.test", len(uids)))
				if sc == nil {
					t.Fatalf("no staff copy for ticket %s", lastLedger.Ticket)
				}
				if got := sc.Header("X-Support-Suppressed"); got != rs.wantReason {
					t.Errorf("staff copy X-Support-Suppressed = %q, want %q", got, rs.wantReason)
				}
			}
		})
	}
}

// staffCopyOf returns the staff copy routed under ticket (subject tag
// [ticket]) that carries the incoming message messageID as its attachment.
func staffCopyOf(t *testing.T, e *env, msgs []testenv.MailpitMessage, ticket, messageID string) *testenv.MailpitMessageDetail {
	t.Helper()
	needle := "<" + strings.Trim(messageID, "<>") + ">"
	prefix := "[" + ticket + "]"
	if ticket == "" {
		prefix = "[P" // suppressed mail that names no ticket opens none
	}
	for _, m := range msgs {
		if addressedTo(m, staffAddr) && strings.HasPrefix(m.Subject, prefix) {
			if d := e.mailpit.Message(t, m.ID); strings.Contains(string(d.Raw), "Message-ID: "+needle) {
				return d
			}
		}
	}
	return nil
}

// relayMode is how mail crosses from one supportd to the other.
type relayMode struct {
	name string
	// transform turns the raw message Mailpit received into what the other
	// side's mailbox gets.
	transform func(raw []byte, k int) string
	// wantAB, wantBA: replies A sends to B and B to A before silence.
	wantAB, wantBA int
}

var loopHeaders = regexp.MustCompile(`(?i)^(auto-submitted|x-auto-response-suppress|precedence|x-loop|in-reply-to|references):`)

// stripHeaders removes loop and threading signals from the header block.
func stripHeaders(raw []byte) string {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	head, body, _ := strings.Cut(s, "\n\n")
	var out []string
	skipping := false
	for _, line := range strings.Split(head, "\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if !skipping {
				out = append(out, line)
			}
			continue
		}
		skipping = loopHeaders.MatchString(line)
		if !skipping {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n\n" + body
}

// Two supportd instances (vendor.test and other.test, each with its own
// Dovecot, Mailpit and store) reply to each other through a relay. The seed is
// a message from the other side's support address (someone wrote from the
// shared mailbox). Faithful relay: the other side sees Auto-Submitted and
// stays silent. A relay that strips the loop headers: threading (the ticket id
// in subject and body) stops it after one reply each way. A gateway that
// re-sends everything as fresh, unthreaded mail: only the rate limit is left,
// and it stops the ping-pong after 3 replies each way.
func TestLoopTwoDaemons(t *testing.T) {
	modes := []relayMode{
		{name: "faithful", wantAB: 1, wantBA: 0,
			transform: func(raw []byte, k int) string { return string(raw) }},
		{name: "strips_loop_headers", wantAB: 1, wantBA: 1,
			transform: func(raw []byte, k int) string { return stripHeaders(raw) }},
		{name: "gateway_fresh_mail", wantAB: 3, wantBA: 3,
			transform: func(raw []byte, k int) string {
				s := strings.ReplaceAll(string(raw), "\r\n", "\n")
				head, _, _ := strings.Cut(s, "\n\n")
				from := ""
				for _, l := range strings.Split(head, "\n") {
					if strings.HasPrefix(strings.ToLower(l), "from:") {
						from = strings.TrimSpace(l[5:])
					}
				}
				to := "support@other.test"
				if strings.Contains(from, "other.test") {
					to = "support@vendor.test"
				}
				return fmt.Sprintf("From: %s\nTo: %s\nSubject: Message from the partner portal\nDate: Wed, 25 Nov 2026 10:00:00 +1030\nMessage-ID: <gw-%d@gateway.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nA new message was posted for you on the partner portal.\n", from, to, k)
			}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			a, b := newEnv(t), newEnv(t)
			var at arrival
			seed := a.dovecot.AppendAt(t, "INBOX", crlf(msg("Other Helpdesk <support@other.test>", "Question about your API", "seed@other.test",
				"Does your API support SCIM provisioning?\n")), at.next())
			uvA := a.dovecot.UIDValidity(t, "INBOX")
			uids := map[*env][]uint32{a: {seed}}
			ra := a.start(runOpts{idle: true})
			defer ra.stop(t)
			rb := b.start(runOpts{idle: true, engine: func(eng *daemon.Engine) {
				eng.FromName, eng.FromAddr = "Other Support", "support@other.test"
				eng.Triage.OwnAddresses = []string{"support@other.test"}
				eng.Triage.SalesAddress = "sales@other.test"
			}})
			defer rb.stop(t)

			relayed := map[string]bool{}
			k := 0
			relay := func(from *env, to *env, addr string) int {
				moved := 0
				for _, m := range from.mailpit.Messages(t) {
					if relayed[m.ID] || !addressedTo(m, addr) {
						continue
					}
					relayed[m.ID] = true
					if k >= 2*loopCap {
						continue
					}
					k++
					uids[to] = append(uids[to], to.dovecot.AppendAt(t, "INBOX", crlf(mode.transform(from.mailpit.Raw(t, m.ID), k)), at.next()))
					moved++
				}
				return moved
			}
			var uvB uint32
			pump(t, 50*time.Second, func() int {
				return relay(a, b, "support@other.test") + relay(b, a, "support@vendor.test")
			}, func() bool {
				if len(uids[b]) > 0 && uvB == 0 {
					uvB = b.dovecot.UIDValidity(t, "INBOX")
				}
				return allDone(t, ra, uvA, uids[a]) && allDone(t, rb, uvB, uids[b])
			})
			ab := repliesTo(a.mailpit.Messages(t), "support@other.test")
			ba := repliesTo(b.mailpit.Messages(t), "support@vendor.test")
			t.Logf("replies A→B %d, B→A %d", ab, ba)
			if ab != mode.wantAB || ba != mode.wantBA {
				t.Errorf("replies A→B %d, B→A %d; want %d and %d", ab, ba, mode.wantAB, mode.wantBA)
			}
			if ab > 3 || ba > 3 {
				t.Errorf("more than auto_replies_per_sender_per_day = 3 replies one way")
			}
			if ra.outboxPending(t) != 0 || rb.outboxPending(t) != 0 {
				t.Errorf("outboxes not empty after the loop ended: %d and %d", ra.outboxPending(t), rb.outboxPending(t))
			}
		})
	}
}

// Automated mail is never answered but still routed: each case is suppressed
// with its reason, tagged Suppressed in Dovecot and copied to staff with
// X-Support-Suppressed. A plain message and a subject-only "Automatic reply:"
// (see naive_unthreaded_subject_only) in the same batch are answered.
func TestLoopAutomatedMailNotAnswered(t *testing.T) {
	const bnd = "report-b"
	report := func(reportType, part string) string {
		return "--" + bnd + "\nContent-Type: text/plain\n\nHuman readable part.\n" +
			"--" + bnd + "\n" + part +
			"--" + bnd + "\nContent-Type: message/rfc822\n\nFrom: Support <support@vendor.test>\nTo: x@partner.test\nSubject: [CS-000001] Re: hi\nMessage-ID: <cs-000001.abc.reply@vendor.test>\n\nOur reply.\n" +
			"--" + bnd + "--\n"
	}
	raw := func(from, subject, id, contentType, body string, headers ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "From: %s\nTo: support@vendor.test\nSubject: %s\nDate: Wed, 25 Nov 2026 10:00:00 +1030\nMessage-ID: <%s>\n", from, subject, id)
		for _, h := range headers {
			b.WriteString(h + "\n")
		}
		fmt.Fprintf(&b, "MIME-Version: 1.0\nContent-Type: %s\n\n%s", contentType, body)
		return b.String()
	}
	dsnCT := `multipart/report; report-type=delivery-status; boundary="` + bnd + `"`
	mdnCT := `multipart/report; report-type=disposition-notification; boundary="` + bnd + `"`
	cases := []struct {
		name, raw, from string
		reason          string // "" = must be answered
	}{
		{"dsn_from_mailer_daemon", raw("Mail Delivery System <MAILER-DAEMON@mx.partner.test>", "Undelivered Mail Returned to Sender", "dsn1@mx.partner.test", dsnCT,
			report("delivery-status", "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.partner.test\n\nFinal-Recipient: rfc822; x@partner.test\nAction: failed\nStatus: 5.1.1\n\n"),
			"Return-Path: <>"), "mailer-daemon@mx.partner.test", "report"},
		{"bounce_null_return_path", raw("Postmaster <postmaster@partner.test>", "Undeliverable: your message", "dsn2@partner.test", "text/plain",
			"Your message could not be delivered.\n", "Return-Path: <>"), "postmaster@partner.test", "null_sender"},
		{"bounce_plain_from_mailer_daemon", raw("MAILER-DAEMON@relay.partner.test", "failure notice", "dsn3@relay.partner.test", "text/plain",
			"Sorry, we were unable to deliver your message.\n"), "mailer-daemon@relay.partner.test", "system_sender"},
		{"mdn_read_receipt", raw("Alice <alice@acme.test>", "Read: [CS-000001] Re: Login page error", "mdn1@acme.test", mdnCT,
			report("disposition-notification", "Content-Type: message/disposition-notification\n\nReporting-UA: mail.acme.test; Outlook\nFinal-Recipient: rfc822; alice@acme.test\nDisposition: automatic-action/MDN-sent-automatically; displayed\n\n")),
			"alice@acme.test", "report"},
		{"out_of_office_auto_submitted", raw("Bob <bob@acme.test>", "Out of office: Re: your request", "ooo1@acme.test", "text/plain",
			"Back on Monday.\n", "Auto-Submitted: auto-replied"), "bob@acme.test", "auto_submitted"},
		{"auto_generated_with_params", raw("Monitor <monitor@acme.test>", "Disk almost full", "mon1@acme.test", "text/plain",
			"Volume C: 95%.\n", "Auto-Submitted: Auto-Generated; owner-email=\"ops@acme.test\""), "monitor@acme.test", "auto_submitted"},
		{"microsoft_oof_x_auto_response_suppress", raw("Carol <carol@acme.test>", "Automatic reply: Your ticket", "ooo2@acme.test", "text/plain",
			"I am away.\n", "X-Auto-Response-Suppress: All", "X-MS-Exchange-Inbox-Rules-Loop: carol@acme.test"), "carol@acme.test", "auto_response_suppress"},
		{"mailing_list_id", raw("Dave <dave@partner.test>", "[users] Anyone seen this?", "list1@partner.test", "text/plain",
			"Question to the list.\n", "List-Id: Users <users.lists.partner.test>", "List-Post: <mailto:users@lists.partner.test>"), "dave@partner.test", "list"},
		{"list_unsubscribe_only", raw("News <news@partner.test>", "Our November news", "news1@partner.test", "text/plain",
			"News.\n", "List-Unsubscribe: <mailto:unsubscribe@partner.test>"), "news@partner.test", "list"},
		{"precedence_bulk", raw("Promo <promo@partner.test>", "Special offer", "bulk1@partner.test", "text/plain",
			"Buy now.\n", "Precedence: bulk"), "promo@partner.test", "precedence"},
		{"precedence_junk", raw("Spam <spam@partner.test>", "You won", "junk1@partner.test", "text/plain",
			"Claim.\n", "Precedence: junk"), "spam@partner.test", "precedence"},
		{"noreply_sender", raw("Notifications <no-reply@partner.test>", "Your invoice", "inv1@partner.test", "text/plain",
			"Invoice attached.\n"), "no-reply@partner.test", "system_sender"},
		{"own_address", raw("Support <support@vendor.test>", "[CS-000009] Re: something", "own1@vendor.test", "text/plain",
			"Our own reply came back.\n"), "support@vendor.test", "own_address"},
		{"own_address_other_case", raw("SUPPORT@Vendor.TEST", "Hello", "own2@vendor.test", "text/plain",
			"Case differs.\n"), "support@vendor.test", "own_address"},
		{"x_loop_names_us", raw("Erin <erin@acme.test>", "Forwarded by a rule", "loop1@acme.test", "text/plain",
			"Loop.\n", "X-Loop: support@vendor.test"), "erin@acme.test", "own_address"},
		{"subject_only_automatic_reply", raw("Frank <frank@acme.test>", "Automatic reply: Out of office", "auto3@acme.test", "text/plain",
			"Build 9653. Sorry, this is a real question: the login page fails.\n"), "frank@acme.test", ""},
		{"control_plain_message", raw("Grace <grace@acme.test>", "Login page error", "plain1@acme.test", "text/plain",
			"Build Number: 9653\n"), "grace@acme.test", ""},
	}
	e := newEnv(t)
	uids := make([]uint32, len(cases))
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = strings.SplitN(strings.SplitN(c.raw, "Message-ID: <", 2)[1], ">", 2)[0]
		uids[i] = e.deliver(c.raw)
	}
	uv := e.dovecot.UIDValidity(t, "INBOX")
	r := e.start(runOpts{idle: true, staffQueue: staffAddr})
	defer r.stop(t)

	answered := 0
	for _, c := range cases {
		if c.reason == "" {
			answered++
		}
	}
	// Every message gets a staff copy; the answered ones a reply too.
	e.mailpit.WaitMessages(t, len(cases)+answered, 30*time.Second)
	waitFor(t, 20*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
	time.Sleep(500 * time.Millisecond) // let a wrong extra reply show
	msgs := e.mailpit.Messages(t)
	if len(msgs) != len(cases)+answered {
		t.Errorf("Mailpit holds %d messages, want %d staff copies + %d replies", len(msgs), len(cases), answered)
	}
	flags := map[uint32][]string{}
	waitFor(t, 10*time.Second, "every message marked processed", func() bool {
		flags = e.dovecot.FetchFlags(t, "INBOX")
		for _, uid := range uids {
			if !slices.Contains(flags[uid], daemon.ProcessedKeyword) {
				return false
			}
		}
		return true
	})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := r.ledger(t, uv, uids[i])
			if l == nil {
				t.Fatal("not in the ledger")
			}
			replies := 0
			for _, m := range msgs {
				if !addressedTo(m, staffAddr) && addressedTo(m, c.from) {
					replies++
				}
			}
			if c.reason == "" {
				if l.Action != "acknowledge" || replies != 1 {
					t.Errorf("action %q (reason %q), %d replies; want acknowledged with 1 reply", l.Action, l.SuppressReason, replies)
				}
				return
			}
			if l.Action != "suppress" || l.SuppressReason != c.reason {
				t.Errorf("action %q reason %q, want suppress %q", l.Action, l.SuppressReason, c.reason)
			}
			if replies != 0 {
				t.Errorf("%d automatic replies sent to an automated message", replies)
			}
			if kw := flags[uids[i]]; !slices.Contains(kw, "Suppressed") {
				t.Errorf("keywords %v lack Suppressed", kw)
			}
			sc := staffCopyOf(t, e, msgs, l.Ticket, ids[i])
			if sc == nil {
				t.Fatalf("no staff copy for ticket %s", l.Ticket)
			}
			if got := sc.Header("X-Support-Suppressed"); got != c.reason {
				t.Errorf("staff copy X-Support-Suppressed = %q, want %q", got, c.reason)
			}
			if got := sc.Header("X-Support-Action"); got != "suppress" {
				t.Errorf("staff copy X-Support-Action = %q, want suppress", got)
			}
		})
	}
}
