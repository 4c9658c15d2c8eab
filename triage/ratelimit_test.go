package triage

import (
	"slices"
	"strings"
	"testing"

	"supportd/entitlement"
	"supportd/mailparse"
)

// Issue 13 item 3: one quota per mailbox, however the address is spelled.
func TestRateKey(t *testing.T) {
	for in, want := range map[string]string{
		"Target@Example.test":           "target@example.test",
		"target+1@example.test":         "target@example.test",
		"target+a+b@example.test":       "target@example.test",
		"t.arget@gmail.com":             "target@gmail.com",
		"T.A.R.G.E.T+x@GMail.com":       "target@gmail.com",
		"target@googlemail.com":         "target@gmail.com",
		"t.arget@example.test":          "t.arget@example.test", // dots matter elsewhere
		"":                              "",
		"not an address":                "",
		"+tag@example.test":             "+tag@example.test", // a local part of only a tag is kept
		"a@b@example.test":              "",
		"alice@acme.test\r\nBcc: x@y.z": "",
	} {
		if got := RateKey(in); got != want {
			t.Errorf("RateKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCounterKeys(t *testing.T) {
	c := CounterKeys("T.Arget+7@googlemail.com", "CS-000042", "C100", true)
	want := Counters{Sender: "target@gmail.com", Ticket: "ticket:cs-000042:target@gmail.com",
		Domain: "unknown-domain:gmail.com", Unknown: "unknown:*", Sales: "sales:c100"}
	if c != want {
		t.Fatalf("CounterKeys = %+v, want %+v", c, want)
	}
	if c := CounterKeys("alice@acme.test", "", "", false); c != (Counters{Sender: "alice@acme.test"}) {
		t.Fatalf("customer without ticket: %+v", c)
	}
	if c := CounterKeys("", "CS-1", "C1", true); c != (Counters{}) {
		t.Fatalf("no target: %+v", c)
	}
}

// The reply is recorded under the counters of its normalised target: the
// Reply-To it goes to, not the From (issue 13 item 3: eight forged senders
// with one Reply-To were eight quotas).
func TestReplyCountersFollowTheTarget(t *testing.T) {
	m := complete()
	m.From = &mailparse.Address{Addr: "r7@victim.test"}
	m.ReplyTo = []mailparse.Address{{Addr: "CEO+x@victim.test"}}
	m.Subject = "Cheap watches at http://spam.example/buy now"
	in := input(m, entitlement.Unknown)
	d := Decide(in, cfg)
	if d.Action != Acknowledge || d.Reply == nil {
		t.Fatalf("action %s", d.Action)
	}
	if d.Reply.To[0] != "CEO+x@victim.test" {
		t.Fatalf("reply to %v", d.Reply.To)
	}
	want := []string{"ceo@victim.test", "ticket:cs-000100:ceo@victim.test", "unknown-domain:victim.test", "unknown:*"}
	if !slices.Equal(d.Reply.Counters, want) {
		t.Fatalf("counters %q, want %q", d.Reply.Counters, want)
	}
	if ReplyTarget(m, false, cfg) != "CEO+x@victim.test" {
		t.Fatal("ReplyTarget differs from the reply's recipient")
	}
}

// Hourly caps on replies to senders that are not known customers, per domain
// and overall; a customer is never under them.
func TestUnknownSenderCaps(t *testing.T) {
	c := cfg
	for _, tt := range []struct {
		name           string
		domain, all    int
		perDom, global int
		want           string
	}{
		{"under both defaults", 4, 49, 0, 0, ""},
		{"domain default 5", 5, 5, 0, 0, ReasonDomainRateLimit},
		{"global default 50", 0, 50, 0, 0, ReasonUnknownRateLimit},
		{"domain configured", 2, 2, 2, 0, ReasonDomainRateLimit},
		{"global configured", 1, 3, 0, 3, ReasonUnknownRateLimit},
		{"configured higher", 7, 70, 8, 80, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.UnknownRepliesPerDomainPerHour, c.UnknownRepliesPerHour = tt.perDom, tt.global
			in := input(complete(), entitlement.Unknown)
			in.Replies.Domain, in.Replies.Unknown = tt.domain, tt.all
			d := Decide(in, c)
			if d.SuppressReason != tt.want {
				t.Fatalf("reason %q, want %q", d.SuppressReason, tt.want)
			}
			if tt.want != "" && (d.Reply != nil || !strings.Contains(d.NoReplyReason, "limits.unknown_replies_per")) {
				t.Fatalf("over a cap: reply %v, no-reply reason %q", d.Reply, d.NoReplyReason)
			}
			// The same counts for an active customer change nothing.
			in = input(complete(), entitlement.Active)
			in.Replies.Domain, in.Replies.Unknown = tt.domain, tt.all
			if d := Decide(in, c); d.Action != Acknowledge {
				t.Fatalf("customer: %s %s", d.Action, d.SuppressReason)
			}
		})
	}
}

// Issue 10 item 5: over a limit the message is still a ticket, still routed,
// and staff are told in words why no reply went out.
func TestRateLimitedStillTicketAndExplained(t *testing.T) {
	c := cfg
	c.StaffQueue = "staff@vendor.test"
	in := input(complete(), entitlement.Active)
	in.Replies.Sender = DefaultRepliesPerDay
	d := Decide(in, c)
	if d.Action != Suppress || d.SuppressReason != ReasonRateLimit || !IsRateLimit(d.SuppressReason) {
		t.Fatalf("%s %s", d.Action, d.SuppressReason)
	}
	if d.TicketID != "CS-000100" || !d.TicketNew || !slices.Equal(d.Route.ForwardTo, []string{"staff@vendor.test"}) {
		t.Fatalf("ticket %q new %v forward %v", d.TicketID, d.TicketNew, d.Route.ForwardTo)
	}
	if !strings.Contains(d.NoReplyReason, "limits.auto_replies_per_sender_per_day") || !strings.Contains(d.NoReplyReason, "10") {
		t.Fatalf("no-reply reason %q", d.NoReplyReason)
	}
	if !slices.Contains(d.Route.Keywords, "P1") || !slices.Contains(d.Route.Keywords, "Suppressed") {
		t.Fatalf("keywords %v", d.Route.Keywords)
	}
	for _, r := range []string{ReasonAutoSubmitted, ReasonOwnAddress, ReasonNullSender} {
		if IsRateLimit(r) {
			t.Errorf("%s counted as a rate limit", r)
		}
	}
	in.Replies.Sender = 0
	if d := Decide(in, c); d.NoReplyReason != "" {
		t.Fatalf("a reply went out, yet no-reply reason %q", d.NoReplyReason)
	}
}

// Issue 13 item 3: sales hear of a lapsed customer once a day, however many
// notices go out.
func TestSalesCopiedOncePerCustomerPerDay(t *testing.T) {
	in := input(complete(), entitlement.Lapsed)
	d := Decide(in, cfg)
	if d.Reply == nil || !slices.Equal(d.Reply.Cc, []string{"sales@vendor.test"}) || !slices.Contains(d.Reply.Counters, "sales:c1") {
		t.Fatalf("first notice: %+v", d.Reply)
	}
	in.Replies.Sales = true
	d = Decide(in, cfg)
	if d.Action != LapsedNotice || d.Reply == nil || len(d.Reply.Cc) != 0 || slices.Contains(d.Reply.Counters, "sales:c1") {
		t.Fatalf("second notice the same day: %s %+v", d.Action, d.Reply)
	}
}

// Issue 13 item 3: a reply to an unknown sender never carries a link from
// its subject; a customer's subject is echoed as written.
func TestUnknownSubjectLinksRemoved(t *testing.T) {
	for subject, want := range map[string]string{
		"Cheap watches http://spam.example/buy?x=1 now": "[CS-000100] Re: Cheap watches [link removed] now",
		"Visit WWW.SPAM.EXAMPLE today":                  "[CS-000100] Re: Visit [link removed] today",
		"win at cheap-pills.xyz/claim":                  "[CS-000100] Re: win at [link removed]",
		"mail me: mailto:x@spam.example":                "[CS-000100] Re: mail me: [link removed]",
		"hxxps://evil.example.com/a":                    "[CS-000100] Re: [link removed]",
		"Re:Login fails with error 500 on build 9.6":    "[CS-000100] Re: Login fails with error 500 on build 9.6",
	} {
		m := complete()
		m.Subject = subject
		d := Decide(input(m, entitlement.Unknown), cfg)
		if d.Reply == nil || d.Reply.Subject != want {
			t.Errorf("unknown %q: reply subject %q, want %q", subject, d.Reply.Subject, want)
		}
	}
	m := complete()
	m.Subject = "see https://acme.test/status"
	if d := Decide(input(m, entitlement.Active), cfg); d.Reply.Subject != "[CS-000100] Re: see https://acme.test/status" {
		t.Errorf("customer subject changed: %q", d.Reply.Subject)
	}
}

// Issue 13 item 4: comments anywhere (RFC 5322 CFWS) and any automatic copy
// among several copies of a header.
func TestAutomaticHeaderValues(t *testing.T) {
	auto := [][]string{
		{"auto-replied"}, {"(vacation) auto-replied"}, {"Auto-Generated; owner-email=x@y"},
		{"no", "auto-replied"}, {"auto-replied", "no"}, {"(a (nested) comment) auto-notified"},
	}
	for _, v := range auto {
		if !AutoSubmitted(v...) {
			t.Errorf("AutoSubmitted(%q) = false", v)
		}
	}
	for _, v := range [][]string{{}, {""}, {"no"}, {"No (a person)"}, {"(only a comment)"}, {"no", "no"}} {
		if AutoSubmitted(v...) {
			t.Errorf("AutoSubmitted(%q) = true", v)
		}
	}
	for _, v := range [][]string{{"bulk"}, {"(c) junk"}, {"first-class", "bulk"}, {"auto_reply"}, {"LIST (x)"}} {
		if !BulkPrecedence(v...) {
			t.Errorf("BulkPrecedence(%q) = false", v)
		}
	}
	for _, v := range [][]string{{}, {"first-class"}, {"normal", "urgent"}, {"(bulk)"}} {
		if BulkPrecedence(v...) {
			t.Errorf("BulkPrecedence(%q) = true", v)
		}
	}
}

// Issue 13 item 7: customer text in a staff subject carries no tags of its
// own and no invisible characters.
func TestStaffSubjectHygiene(t *testing.T) {
	for subject, want := range map[string]string{
		"[CS-000900][P1][ASUP] Server down":              "[CS-000900][P4][Unknown] Server down",
		"Re: [P1] [ASUP]Server down [EXTERNAL]":          "[CS-000900][P4][Unknown] Re: Server down",
		"［P1］【ASUP】 Server down":                         "[CS-000900][P4][Unknown] Server down",
		"Server \u202edown\u202c\u200b now\u2066x\u2069": "[CS-000900][P4][Unknown] Server down nowx",
		"\ufeff[P1]":      "[CS-000900][P4][Unknown] (no subject)",
		"Error [unclosed": "[CS-000900][P4][Unknown] Error [unclosed",
	} {
		if got := StaffSubject("CS-000900", 4, "Unknown", subject); got != want {
			t.Errorf("StaffSubject(%q) = %q, want %q", subject, got, want)
		}
	}
	// The reply subject loses the invisible characters too.
	m := complete()
	m.Subject = "Server \u202edown"
	if d := Decide(input(m, entitlement.Active), cfg); d.Reply.Subject != "[CS-000100] Re: Server down" {
		t.Errorf("reply subject %q", d.Reply.Subject)
	}
}
