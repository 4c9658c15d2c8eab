package triage

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/sla"
	"supportd/versions"
)

var cfg = Config{
	OwnAddresses: []string{"support@vendor.test", "help@vendor.test"},
	SalesAddress: "sales@vendor.test",
}

// complete is a message that lacks nothing.
func complete() *mailparse.Message {
	return &mailparse.Message{
		From:           &mailparse.Address{Name: "Alice", Addr: "alice@acme.test"},
		To:             []mailparse.Address{{Addr: "support@vendor.test"}},
		Subject:        "Login page shows error 500",
		MessageID:      "<m1@acme.test>",
		Build:          9653,
		ServerOS:       "Windows Server 2019",
		Browser:        &mailparse.Browser{Name: "Edge", Version: "85.0.564.51"},
		Attachments:    []mailparse.Attachment{{Filename: "error.png", ContentType: "image/png", Screenshot: true}},
		HasDescription: true,
		HasSteps:       true,
	}
}

func ent(s entitlement.Status) entitlement.Result {
	r := entitlement.Result{Status: s, Priority: s.Priority(), VerifiedSender: true}
	if s != entitlement.Unknown {
		r.Customer = &entitlement.Customer{ID: "C1", Company: "Acme"}
		r.MatchedBy = "contact"
	}
	return r
}

func input(m *mailparse.Message, s entitlement.Status) Input {
	return Input{
		Msg:         m,
		Received:    time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Entitlement: ent(s),
		SLA:         sla.Result{InHours: true, Clock: sla.Elapsed},
		Version:     versions.Result{Known: true, Major: 9, Supported: true, SupportedMajors: []int{9, 8}},
		NewTicketID: "CS-000100",
	}
}

func TestSuppressReasons(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(m *mailparse.Message, in *Input)
		reason string
	}{
		{"auto-submitted auto-replied", func(m *mailparse.Message, _ *Input) { m.AutoSubmitted = "auto-replied" }, ReasonAutoSubmitted},
		{"auto-submitted auto-generated with params", func(m *mailparse.Message, _ *Input) { m.AutoSubmitted = "Auto-Generated; owner=x" }, ReasonAutoSubmitted},
		{"precedence bulk", func(m *mailparse.Message, _ *Input) { m.Precedence = "bulk" }, ReasonPrecedence},
		{"precedence junk", func(m *mailparse.Message, _ *Input) { m.Precedence = "Junk" }, ReasonPrecedence},
		{"precedence list", func(m *mailparse.Message, _ *Input) { m.Precedence = " list (comment)" }, ReasonPrecedence},
		{"list-id", func(m *mailparse.Message, _ *Input) { m.ListID = "<users.lists.example>" }, ReasonList},
		{"list-unsubscribe", func(m *mailparse.Message, _ *Input) { m.ListUnsubscribe = "<mailto:u@x>" }, ReasonList},
		{"IsReport", func(m *mailparse.Message, _ *Input) { m.IsReport = true }, ReasonReport},
		{"multipart/report", func(m *mailparse.Message, _ *Input) { m.ContentType = "multipart/report" }, ReasonReport},
		{"DSN report type", func(m *mailparse.Message, _ *Input) { m.ReportType = "delivery-status" }, ReasonReport},
		{"MDN report type", func(m *mailparse.Message, _ *Input) { m.ReportType = "disposition-notification" }, ReasonReport},
		{"null return-path", func(m *mailparse.Message, _ *Input) { m.HasReturnPath, m.ReturnPath = true, "" }, ReasonNullSender},
		{"no from", func(m *mailparse.Message, _ *Input) { m.From = nil }, ReasonNullSender},
		{"empty from", func(m *mailparse.Message, _ *Input) { m.From.Addr = "" }, ReasonNullSender},
		{"unusable from", func(m *mailparse.Message, _ *Input) { m.From.Addr = "alice@acme.test\r\nBcc: x@y.test" }, ReasonNullSender},
		{"mailer-daemon", func(m *mailparse.Message, _ *Input) { m.From.Addr = "MAILER-DAEMON@mx.acme.test" }, ReasonSystemSender},
		{"postmaster", func(m *mailparse.Message, _ *Input) { m.From.Addr = "postmaster@acme.test" }, ReasonSystemSender},
		{"no-reply", func(m *mailparse.Message, _ *Input) { m.From.Addr = "no-reply@acme.test" }, ReasonSystemSender},
		{"noreply", func(m *mailparse.Message, _ *Input) { m.From.Addr = "noreply@acme.test" }, ReasonSystemSender},
		{"noreply tagged", func(m *mailparse.Message, _ *Input) { m.From.Addr = "noreply-alerts@acme.test" }, ReasonSystemSender},
		{"do-not-reply", func(m *mailparse.Message, _ *Input) { m.From.Addr = "do-not-reply@acme.test" }, ReasonSystemSender},
		{"donotreply", func(m *mailparse.Message, _ *Input) { m.From.Addr = "DoNotReply@acme.test" }, ReasonSystemSender},
		{"bounce", func(m *mailparse.Message, _ *Input) { m.From.Addr = "bounce@acme.test" }, ReasonSystemSender},
		{"bounces return-path", func(m *mailparse.Message, _ *Input) {
			m.HasReturnPath, m.ReturnPath = true, "bounces+123@lists.acme.test"
		}, ReasonSystemSender},
		{"x-auto-response-suppress All", func(m *mailparse.Message, _ *Input) { m.XAutoResponseSuppress = "All" }, ReasonAutoResponseSuppress},
		{"x-auto-response-suppress list", func(m *mailparse.Message, _ *Input) { m.XAutoResponseSuppress = "DR, oof, AutoReply" }, ReasonAutoResponseSuppress},
		{"x-auto-response-suppress autoreply", func(m *mailparse.Message, _ *Input) { m.XAutoResponseSuppress = "autoreply" }, ReasonAutoResponseSuppress},
		{"own address", func(m *mailparse.Message, _ *Input) { m.From.Addr = "Support@Vendor.test" }, ReasonOwnAddress},
		{"own sender", func(m *mailparse.Message, _ *Input) { m.Sender = &mailparse.Address{Addr: "help@vendor.test"} }, ReasonOwnAddress},
		{"x-loop", func(m *mailparse.Message, _ *Input) { m.XLoop = []string{"SUPPORT@vendor.test"} }, ReasonOwnAddress},
		{"rate limit default 10", func(_ *mailparse.Message, in *Input) { in.Replies.Sender = 10 }, ReasonRateLimit},
		{"rate limit above", func(_ *mailparse.Message, in *Input) { in.Replies.Sender = 30 }, ReasonRateLimit},
		{"one reply per sender per ticket per day", func(_ *mailparse.Message, in *Input) { in.Replies.Ticket = 1 }, ReasonTicketRateLimit},
		// Issue 13 item 4: every auto-reply recognised (RFC 3834).
		{"precedence auto_reply", func(m *mailparse.Message, _ *Input) { m.Precedence = "auto_reply" }, ReasonPrecedence},
		{"precedence with a comment first", func(m *mailparse.Message, _ *Input) { m.Precedence = "(c) junk" }, ReasonPrecedence},
		{"auto-submitted with a comment first", func(m *mailparse.Message, _ *Input) { m.AutoSubmitted = "(vacation) auto-replied" }, ReasonAutoSubmitted},
		{"own address with a +tag", func(m *mailparse.Message, _ *Input) { m.From.Addr = "support+CS-000001@vendor.test" }, ReasonOwnAddress},
		{"x-loop with a +tag", func(m *mailparse.Message, _ *Input) { m.XLoop = []string{"<Support+CS-000001@vendor.test>"} }, ReasonOwnAddress},
		{"own address as return-path", func(m *mailparse.Message, _ *Input) {
			m.HasReturnPath, m.ReturnPath = true, "support+bounce@vendor.test"
		}, ReasonOwnAddress},
		{"mailer_daemon", func(m *mailparse.Message, _ *Input) { m.From.Addr = "mailer_daemon@mx.acme.test" }, ReasonSystemSender},
		{"mailer.daemon", func(m *mailparse.Message, _ *Input) { m.From.Addr = "Mailer.Daemon@mx.acme.test" }, ReasonSystemSender},
		{"no.reply", func(m *mailparse.Message, _ *Input) { m.From.Addr = "no.reply@acme.test" }, ReasonSystemSender},
		{"do.not.reply", func(m *mailparse.Message, _ *Input) { m.From.Addr = "do.not.reply@acme.test" }, ReasonSystemSender},
		{"post_master", func(m *mailparse.Message, _ *Input) { m.From.Addr = "post_master@acme.test" }, ReasonSystemSender},
		{"return-path <MAILER-DAEMON>", func(m *mailparse.Message, _ *Input) { m.HasReturnPath, m.ReturnPath = true, "mailer-daemon" }, ReasonSystemSender},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := complete()
			in := input(m, entitlement.Active)
			tt.mod(m, &in)
			d := Decide(in, cfg)
			if d.Action != Suppress || d.SuppressReason != tt.reason {
				t.Fatalf("action %s reason %q, want suppress %q", d.Action, d.SuppressReason, tt.reason)
			}
			if d.Reply != nil {
				t.Error("suppressed message has a reply")
			}
			if !contains(d.Route.Keywords, "Suppressed") {
				t.Errorf("keywords %v lack Suppressed", d.Route.Keywords)
			}
			// docs/design.md §10: suppressed mail that names no existing ticket opens
			// none; a customer over a rate limit still has a question (§11).
			if IsRateLimit(tt.reason) {
				if d.TicketID != "CS-000100" || !d.TicketNew {
					t.Errorf("rate-limited ticket = %q new %v, want a new ticket", d.TicketID, d.TicketNew)
				}
			} else if d.TicketID != "" || d.TicketNew {
				t.Errorf("suppressed ticket = %q new %v, want none", d.TicketID, d.TicketNew)
			}
		})
	}
}

func TestNotSuppressed(t *testing.T) {
	tests := []struct {
		name string
		mod  func(m *mailparse.Message, in *Input)
	}{
		{"auto-submitted no", func(m *mailparse.Message, _ *Input) { m.AutoSubmitted = "no" }},
		{"precedence first-class", func(m *mailparse.Message, _ *Input) { m.Precedence = "first-class" }},
		{"x-auto-response-suppress DR only", func(m *mailparse.Message, _ *Input) { m.XAutoResponseSuppress = "DR, NDR" }},
		{"x-auto-response-suppress None", func(m *mailparse.Message, _ *Input) { m.XAutoResponseSuppress = "None" }},
		{"reply-looking local part", func(m *mailparse.Message, _ *Input) { m.From.Addr = "noreplyguy@acme.test" }},
		{"x-loop of someone else", func(m *mailparse.Message, _ *Input) { m.XLoop = []string{"helpdesk@acme.test"} }},
		{"return-path set", func(m *mailparse.Message, _ *Input) { m.HasReturnPath, m.ReturnPath = true, "alice@acme.test" }},
		{"nine replies today", func(_ *mailparse.Message, in *Input) { in.Replies.Sender = 9 }},
		{"a customer is not under the unknown-sender caps", func(_ *mailparse.Message, in *Input) { in.Replies.Domain, in.Replies.Unknown = 1000, 1000 }},
		{"auto-submitted no with a comment", func(m *mailparse.Message, _ *Input) { m.AutoSubmitted = "no (written by a person)" }},
		{"someone else's address with our local part", func(m *mailparse.Message, _ *Input) { m.From.Addr = "support+x@acme.test" }},
		{"noreply-looking words", func(m *mailparse.Message, _ *Input) { m.From.Addr = "no.replyguy@acme.test" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := complete()
			in := input(m, entitlement.Active)
			tt.mod(m, &in)
			if d := Decide(in, cfg); d.Action != Acknowledge {
				t.Fatalf("action %s (%s), want acknowledge", d.Action, d.SuppressReason)
			}
		})
	}
}

func TestRateLimitConfigured(t *testing.T) {
	in := input(complete(), entitlement.Active)
	in.Replies.Sender = 3
	c := cfg
	c.RepliesPerDay = 5
	if d := Decide(in, c); d.Action != Acknowledge {
		t.Fatalf("limit 5, 3 sent: %s", d.Action)
	}
	in.Replies.Sender = 5
	if d := Decide(in, c); d.SuppressReason != ReasonRateLimit {
		t.Fatalf("limit 5, 5 sent: %s %s", d.Action, d.SuppressReason)
	}
	// A follow-up sends nothing, so the limit does not turn it into a suppress.
	in.KnownTicket = "CS-000007"
	if d := Decide(in, c); d.Action != FollowUp {
		t.Fatalf("rate-limited follow-up: %s", d.Action)
	}
}

func TestActionPerStatus(t *testing.T) {
	tests := []struct {
		status   entitlement.Status
		action   Action
		kind     string
		file     string
		keywords []string
		cc       []string
	}{
		{entitlement.Active, Acknowledge, "ack", "ack_active", []string{"P1", "ASUP"}, []string{}},
		{entitlement.Trial, Acknowledge, "ack", "ack_trial", []string{"P2", "Trial"}, []string{}},
		{entitlement.Free, Acknowledge, "ack", "ack_free", []string{"P3", "Free"}, []string{}},
		{entitlement.Unknown, Acknowledge, "ack", "ack_unknown", []string{"P4", "Unknown"}, []string{}},
		{entitlement.Lapsed, LapsedNotice, "lapsed", "lapsed", []string{"P4", "Lapsed"}, []string{"sales@vendor.test"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			d := Decide(input(complete(), tt.status), cfg)
			if d.Action != tt.action || d.Reply == nil {
				t.Fatalf("action %s reply %v", d.Action, d.Reply)
			}
			if d.Reply.Template != tt.kind || d.Reply.TemplateFile != tt.file {
				t.Errorf("template %q/%q, want %q/%q", d.Reply.Template, d.Reply.TemplateFile, tt.kind, tt.file)
			}
			if !reflect.DeepEqual(d.Route.Keywords, tt.keywords) {
				t.Errorf("keywords %v, want %v", d.Route.Keywords, tt.keywords)
			}
			if !reflect.DeepEqual(d.Reply.Cc, tt.cc) {
				t.Errorf("cc %v, want %v", d.Reply.Cc, tt.cc)
			}
			if !reflect.DeepEqual(d.Reply.To, []string{"alice@acme.test"}) {
				t.Errorf("to %v", d.Reply.To)
			}
			if d.TicketID != "CS-000100" || !d.TicketNew {
				t.Errorf("ticket %q new %v", d.TicketID, d.TicketNew)
			}
			if len(d.Missing) != 0 {
				t.Errorf("missing %v for a complete message", d.Missing)
			}
		})
	}
}

func TestUnsupportedAndMissingBuild(t *testing.T) {
	in := input(complete(), entitlement.Active)
	in.Version = versions.Result{Known: true, Major: 7, Supported: false, SupportedMajors: []int{9, 8}}
	d := Decide(in, cfg)
	if d.Action != UnsupportedVersion || d.Reply == nil || d.Reply.Template != "unsupported" || d.Reply.TemplateFile != "unsupported" {
		t.Fatalf("got %s %+v", d.Action, d.Reply)
	}
	if !reflect.DeepEqual(d.Route.Keywords, []string{"P1", "ASUP", "Unsupported"}) {
		t.Errorf("keywords %v", d.Route.Keywords)
	}
	// Unsupported and lapsed: lapsed_notice wins.
	in.Entitlement = ent(entitlement.Lapsed)
	if d := Decide(in, cfg); d.Action != LapsedNotice {
		t.Errorf("unsupported + lapsed: %s", d.Action)
	}
	// A build in no configured range is not "unsupported".
	in = input(complete(), entitlement.Trial)
	in.Version = versions.Result{Known: false}
	if d := Decide(in, cfg); d.Action != Acknowledge {
		t.Errorf("unknown build: %s", d.Action)
	}
	// Missing build: acknowledged, build asked for.
	m := complete()
	m.Build = 0
	in = input(m, entitlement.Active)
	in.Version = versions.Result{}
	if d := Decide(in, cfg); d.Action != Acknowledge || !reflect.DeepEqual(d.Missing, []string{"build"}) {
		t.Errorf("missing build: %s %v", d.Action, d.Missing)
	}
}

func TestPrecedenceOrder(t *testing.T) {
	// A lapsed customer's auto-reply → suppress.
	m := complete()
	m.AutoSubmitted = "auto-replied"
	in := input(m, entitlement.Lapsed)
	if d := Decide(in, cfg); d.Action != Suppress {
		t.Errorf("lapsed auto-reply: %s", d.Action)
	}
	// A lapsed customer's follow-up → follow_up, no reply, known ticket.
	in = input(complete(), entitlement.Lapsed)
	in.KnownTicket = "CS-004211"
	in.NewTicketID = ""
	d := Decide(in, cfg)
	if d.Action != FollowUp || d.Reply != nil || d.TicketID != "CS-004211" || d.TicketNew {
		t.Errorf("lapsed follow-up: %s reply %v ticket %s new %v", d.Action, d.Reply, d.TicketID, d.TicketNew)
	}
	if !reflect.DeepEqual(d.Route.Keywords, []string{"P4", "Lapsed", "FollowUp"}) {
		t.Errorf("keywords %v", d.Route.Keywords)
	}
	// An unsupported follow-up → follow_up.
	in.Entitlement = ent(entitlement.Active)
	in.Version.Supported = false
	if d := Decide(in, cfg); d.Action != FollowUp {
		t.Errorf("unsupported follow-up: %s", d.Action)
	}
	// A suppressed message of a known ticket stays on it.
	m = complete()
	m.Precedence = "bulk"
	in = input(m, entitlement.Active)
	in.KnownTicket = "CS-004211"
	if d := Decide(in, cfg); d.Action != Suppress || d.TicketID != "CS-004211" || d.TicketNew {
		t.Errorf("suppressed follow-up: %s %s %v", d.Action, d.TicketID, d.TicketNew)
	}
}

func TestTicketAssignment(t *testing.T) {
	// Quoted id new to us opens a ticket under that id.
	m := complete()
	m.TicketID = "CS-004211"
	d := Decide(input(m, entitlement.Active), cfg)
	if d.TicketID != "CS-004211" || !d.TicketNew || d.Action != Acknowledge {
		t.Errorf("quoted new: %s %v %s", d.TicketID, d.TicketNew, d.Action)
	}
	if d.Reply.Subject != "[CS-004211] Re: Login page shows error 500" {
		t.Errorf("subject %q", d.Reply.Subject)
	}
	// Nothing quoted: the fresh id.
	d = Decide(input(complete(), entitlement.Active), cfg)
	if d.TicketID != "CS-000100" || !d.TicketNew {
		t.Errorf("fresh: %s %v", d.TicketID, d.TicketNew)
	}
}

func TestHiddenUnverifiedIsUnknown(t *testing.T) {
	in := input(complete(), entitlement.Unknown)
	in.Entitlement.Hidden = true
	in.Entitlement.VerifiedSender = false
	d := Decide(in, cfg)
	if d.Action != Acknowledge || d.Reply.TemplateFile != "ack_unknown" || !reflect.DeepEqual(d.Route.Keywords, []string{"P4", "Unknown"}) {
		t.Fatalf("got %s %+v %v", d.Action, d.Reply, d.Route.Keywords)
	}
}

func TestMissingOrder(t *testing.T) {
	m := &mailparse.Message{From: &mailparse.Address{Addr: "a@acme.test"}}
	want := []string{"build", "server_os", "browser", "screenshots", "description", "steps_to_reproduce"}
	if got := MissingFields(m); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(want, MissingOrder) {
		t.Fatalf("missing %v", got)
	}
	tests := []struct {
		mod  func(m *mailparse.Message)
		want []string
	}{
		{func(m *mailparse.Message) { m.Build = 0 }, []string{"build"}},
		{func(m *mailparse.Message) { m.ServerOS = "" }, []string{"server_os"}},
		{func(m *mailparse.Message) { m.Browser = nil }, []string{"browser"}},
		{func(m *mailparse.Message) { m.Browser.Version = "" }, []string{"browser"}},
		{func(m *mailparse.Message) { m.Attachments[0].Screenshot = false }, []string{"screenshots"}},
		{func(m *mailparse.Message) { m.Attachments = nil }, []string{"screenshots"}},
		{func(m *mailparse.Message) { m.HasDescription = false }, []string{"description"}},
		{func(m *mailparse.Message) { m.HasSteps = false }, []string{"steps_to_reproduce"}},
		{func(m *mailparse.Message) { m.HasSteps, m.Build = false, 0 }, []string{"build", "steps_to_reproduce"}},
		{func(m *mailparse.Message) { m.HasSteps, m.Browser = false, nil }, []string{"browser", "steps_to_reproduce"}},
	}
	for i, tt := range tests {
		m := complete()
		tt.mod(m)
		if got := MissingFields(m); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%d: missing %v, want %v", i, got, tt.want)
		}
	}
	// Computed for every action, also for suppress and follow-up.
	m = complete()
	m.Build, m.Precedence = 0, "bulk"
	if d := Decide(input(m, entitlement.Active), cfg); d.Action != Suppress || !reflect.DeepEqual(d.Missing, []string{"build"}) {
		t.Errorf("suppress missing %v", d.Missing)
	}
	if got := MissingFields(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("nil message: %v", got)
	}
}

func TestReplyTo(t *testing.T) {
	tests := []struct {
		name     string
		replyTo  string
		verified bool
		want     string
	}{
		{"hijack, unverified", "thief@evil.test", false, "alice@acme.test"},
		{"other domain, verified", "helpdesk@partner.test", true, "helpdesk@partner.test"},
		{"same domain, unverified", "it-team@acme.test", false, "it-team@acme.test"},
		{"our own address, verified", "support@vendor.test", true, "alice@acme.test"},
		{"injection attempt", "x@acme.test>\r\nBcc: all@evil.test", true, "alice@acme.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := complete()
			m.ReplyTo = []mailparse.Address{{Addr: tt.replyTo}}
			in := input(m, entitlement.Active)
			in.Entitlement.VerifiedSender = tt.verified
			d := Decide(in, cfg)
			if !reflect.DeepEqual(d.Reply.To, []string{tt.want}) {
				t.Fatalf("to %v, want %s", d.Reply.To, tt.want)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	tests := []struct {
		subject, want string
	}{
		{"Help", "[CS-004211] Re: Help"},
		{"Re: Help", "[CS-004211] Re: Help"},
		{"RE: RE: Help", "[CS-004211] Re: Help"},
		{"AW: Sv: Re[2]: Help", "[CS-004211] Re: Help"},
		{"[CS-004211] Help", "[CS-004211] Re: Help"},
		{"Re: [CS-004211] Help", "[CS-004211] Re: Help"},
		{"Re: [cs-004211] Re: Help", "[CS-004211] Re: Help"},
		{"Help with [CS-004211] please", "[CS-004211] Re: Help with please"},
		{"Fwd: Help", "[CS-004211] Re: Fwd: Help"},
		{"Recovery fails", "[CS-004211] Re: Recovery fails"},
		{"", "[CS-004211] Re: (no subject)"},
		{"   \t ", "[CS-004211] Re: (no subject)"},
		{"x\r\nBcc: a@b", "[CS-004211] Re: x Bcc: a@b"},
		{"tab\there\x00nul\u2028sep", "[CS-004211] Re: tab here nul sep"},
		{"bad \xff utf8", "[CS-004211] Re: bad \uFFFD utf8"},
	}
	for _, tt := range tests {
		if got := ReplySubject("CS-004211", tt.subject); got != tt.want {
			t.Errorf("ReplySubject(%q) = %q, want %q", tt.subject, got, tt.want)
		}
	}
	long := ReplySubject("CS-004211", strings.Repeat("é", 1000))
	if n := len([]rune(long)); n > MaxHeaderRunes || !strings.HasSuffix(long, "…") {
		t.Errorf("long subject: %d runes", n)
	}
	if got := StaffSubject("CS-004211", 1, "ASUP", "Re: [CS-004211] Help\r\n"); got != "[CS-004211][P1][ASUP] Re: Help" {
		t.Errorf("StaffSubject = %q", got)
	}
}

func TestHeaderInjectionSubject(t *testing.T) {
	m := complete()
	m.Subject = "x\r\nBcc: a@b" // =?utf-8?q?x=0D=0ABcc:_a@b?= decoded
	m.From.Name = "Eve\r\nBcc: a@b"
	d := Decide(input(m, entitlement.Active), cfg)
	for _, s := range []string{d.Reply.Subject, d.StaffSubject} {
		if strings.ContainsAny(s, "\r\n") {
			t.Errorf("CR/LF in %q", s)
		}
	}
	if d.Reply.Subject != "[CS-000100] Re: x Bcc: a@b" {
		t.Errorf("subject %q", d.Reply.Subject)
	}
	if SanitizeHeader("Eve\r\nBcc: a@b") != "Eve Bcc: a@b" {
		t.Error("SanitizeHeader left CR/LF")
	}
}

func TestMessageIDAndThreading(t *testing.T) {
	m := complete()
	m.References = []string{"<r0@x>", "bad id with spaces", "<r1@x>"}
	in := input(m, entitlement.Active)
	a, b := Decide(in, cfg), Decide(in, cfg)
	if a.Reply.MessageID != b.Reply.MessageID {
		t.Fatalf("not deterministic: %s %s", a.Reply.MessageID, b.Reply.MessageID)
	}
	if !strings.HasPrefix(a.Reply.MessageID, "<cs-000100.") || !strings.HasSuffix(a.Reply.MessageID, ".reply@vendor.test>") || len(a.Reply.MessageID) != len("<cs-000100.0123456789abcdef.reply@vendor.test>") {
		t.Errorf("message id %q", a.Reply.MessageID)
	}
	in.NewTicketID = "CS-000101"
	if c := Decide(in, cfg); c.Reply.MessageID == a.Reply.MessageID {
		t.Error("different ticket, same id")
	}
	in = input(complete(), entitlement.Active)
	in.Msg.MessageID = "<other@acme.test>"
	if c := Decide(in, cfg); c.Reply.MessageID == a.Reply.MessageID {
		t.Error("different message, same id")
	}
	if a.Reply.InReplyTo != "<m1@acme.test>" {
		t.Errorf("in-reply-to %q", a.Reply.InReplyTo)
	}
	if !reflect.DeepEqual(a.Reply.References, []string{"<r0@x>", "<r1@x>", "<m1@acme.test>"}) {
		t.Errorf("references %v", a.Reply.References)
	}
	// No Message-ID: the content key decides.
	m = complete()
	m.MessageID = ""
	in = input(m, entitlement.Active)
	in.ContentKey = "sha256:aaaa"
	x := Decide(in, cfg).Reply
	in.ContentKey = "sha256:bbbb"
	y := Decide(in, cfg).Reply
	if x.MessageID == y.MessageID || x.InReplyTo != "" {
		t.Errorf("content key ignored: %s %s in-reply-to %q", x.MessageID, y.MessageID, x.InReplyTo)
	}
	// References bounded.
	m = complete()
	for i := 0; i < 50; i++ {
		m.References = append(m.References, "<r"+strings.Repeat("x", i)+"@x>")
	}
	refs := Decide(input(m, entitlement.Active), cfg).Reply.References
	if len(refs) != 20 || refs[19] != "<m1@acme.test>" {
		t.Errorf("references: %d, last %s", len(refs), refs[len(refs)-1])
	}
}

func TestRouting(t *testing.T) {
	c := cfg
	c.StaffQueue = "queue@vendor.test"
	c.Rules = []Rule{
		{Name: "no folder, forward P1", Priority: []int{1}, ForwardTo: []string{"oncall@vendor.test"}},
		{Name: "asup", Statuses: []string{"active"}, Folder: "Support/ASUP"},
		{Name: "lapsed", Statuses: []string{"LAPSED"}, Folder: "Support/Lapsed", ForwardTo: []string{"sales@vendor.test"}},
		{Name: "second folder ignored", Statuses: []string{"active"}, Folder: "Support/Other", ForwardTo: []string{"queue@vendor.test"}},
		{Name: "suppressed", Actions: []string{"suppress"}, Folder: "Support/Suppressed"},
	}
	tests := []struct {
		name    string
		status  entitlement.Status
		mod     func(m *mailparse.Message)
		folder  string
		forward []string
	}{
		{"active", entitlement.Active, nil, "Support/ASUP", []string{"oncall@vendor.test", "queue@vendor.test"}},
		{"lapsed", entitlement.Lapsed, nil, "Support/Lapsed", []string{"sales@vendor.test", "queue@vendor.test"}},
		{"trial: no rule", entitlement.Trial, nil, "", []string{"queue@vendor.test"}},
		{"suppressed trial", entitlement.Trial, func(m *mailparse.Message) { m.Precedence = "bulk" }, "Support/Suppressed", []string{"queue@vendor.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := complete()
			if tt.mod != nil {
				tt.mod(m)
			}
			r := Decide(input(m, tt.status), c).Route
			folder := ""
			if r.Folder != nil {
				folder = *r.Folder
			}
			if folder != tt.folder || !reflect.DeepEqual(r.ForwardTo, tt.forward) {
				t.Errorf("folder %q forward %v, want %q %v", folder, r.ForwardTo, tt.folder, tt.forward)
			}
		})
	}
	// No rules, no queue: folder nil, forward_to empty (not nil).
	r := Decide(input(complete(), entitlement.Active), cfg).Route
	if r.Folder != nil || r.ForwardTo == nil || len(r.ForwardTo) != 0 {
		t.Errorf("empty route %+v", r)
	}
}

func TestStaffSubjectInDecision(t *testing.T) {
	m := complete()
	m.Subject = "Re: [CS-004211] Still broken"
	in := input(m, entitlement.Active)
	in.KnownTicket = "CS-004211"
	if d := Decide(in, cfg); d.StaffSubject != "[CS-004211][P1][ASUP] Re: Still broken" {
		t.Errorf("staff subject %q", d.StaffSubject)
	}
	in = input(complete(), entitlement.Unknown)
	if d := Decide(in, cfg); d.StaffSubject != "[CS-000100][P4][Unknown] Login page shows error 500" {
		t.Errorf("staff subject %q", d.StaffSubject)
	}
}

func TestNilMessage(t *testing.T) {
	d := Decide(Input{NewTicketID: "CS-000001"}, cfg)
	if d.Action != Suppress || d.SuppressReason != ReasonNullSender || d.TicketID != "" {
		t.Fatalf("nil message: %+v", d)
	}
	if !reflect.DeepEqual(d.Route.Keywords, []string{"P4", "Unknown", "Suppressed"}) {
		t.Errorf("keywords %v", d.Route.Keywords)
	}
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// Issue 10 items 3 and 6: a never-purchased customer gets its own notice;
// both notices CC sales and bring the sales brief (support.sales_brief), once
// per customer per day.
func TestNeverPurchasedAndSalesBrief(t *testing.T) {
	withBrief := cfg
	withBrief.SalesBrief = true
	never := input(complete(), entitlement.Lapsed)
	never.Entitlement.NeverPurchased = true
	lapsed := input(complete(), entitlement.Lapsed)
	salesToday := input(complete(), entitlement.Lapsed)
	salesToday.Replies.Sales = true
	for _, c := range []struct {
		name       string
		in         Input
		cfg        Config
		kind, file string
		cc         []string
		brief      bool
	}{
		{"never purchased", never, withBrief, KindNeverPurchased, "never_purchased", []string{"sales@vendor.test"}, true},
		{"lapsed", lapsed, withBrief, KindLapsed, "lapsed", []string{"sales@vendor.test"}, true},
		{"brief off", lapsed, cfg, KindLapsed, "lapsed", []string{"sales@vendor.test"}, false},
		{"sales already told today", salesToday, withBrief, KindLapsed, "lapsed", []string{}, false},
	} {
		d := Decide(c.in, c.cfg)
		if d.Action != LapsedNotice || d.Reply == nil {
			t.Fatalf("%s: action %s reply %v", c.name, d.Action, d.Reply)
		}
		if d.Reply.Template != c.kind || d.Reply.TemplateFile != c.file || !reflect.DeepEqual(d.Reply.Cc, c.cc) || d.Reply.SalesBrief != c.brief {
			t.Errorf("%s: template %q/%q cc %v brief %v, want %q/%q %v %v", c.name, d.Reply.Template, d.Reply.TemplateFile, d.Reply.Cc, d.Reply.SalesBrief, c.kind, c.file, c.cc, c.brief)
		}
	}
}
