package daemon_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/testenv"
)

// Each status gets exactly its reply at Mailpit; suppressed messages get none; all
// are tagged in Dovecot (docs/design.md §6, issue acceptance).
func TestEndToEndEachStatus(t *testing.T) {
	e := newEnv(t)
	type want struct {
		to, cc   []string
		keywords []string
		text     string // a phrase the reply body must contain ("" = no reply)
	}
	cases := []struct {
		name, raw string
		want      want
	}{
		{"active", msg("Alice <alice@acme.test>", "Error adding a password list", "a1@acme.test",
			"Build Number: 9653\nServer OS: Windows Server 2019\nWhen I add a list the page fails with an error for every user in the Finance folder since yesterday.\n"),
			want{to: []string{"alice@acme.test"}, keywords: []string{"P1", "ASUP"}, text: "12:00 ACDT (+10:30)"}},
		{"trial", msg("Peter <peter@initech.test>", "AD sync question", "t1@initech.test", "How do we schedule AD sync? Build 9640.\n"),
			want{to: []string{"peter@initech.test"}, keywords: []string{"P2", "Trial"}, text: "CS-"}},
		{"free", msg("Ada <ada@umbrella.test>", "SMTP test fails", "f1@umbrella.test", "Build 9653, emails time out.\n"),
			want{to: []string{"ada@umbrella.test"}, keywords: []string{"P3", "Free"}, text: "CS-"}},
		{"lapsed", msg("Gavin <gavin@hooli.test>", "Upgrade failed", "l1@hooli.test", "Build Number: 9540\n"),
			want{to: []string{"gavin@hooli.test"}, cc: []string{"sales@vendor.test"}, keywords: []string{"P4", "Lapsed"}, text: "sales@vendor.test"}},
		{"never_purchased", msg("Richard <richard@piedpiper.test>", "Compression plugin error", "n1@piedpiper.test", "Build Number: 9653\nThe plugin page shows an error.\n"),
			want{to: []string{"richard@piedpiper.test"}, cc: []string{"sales@vendor.test"}, keywords: []string{"P4", "Lapsed"}, text: "licence does not"}},
		{"unknown", msg("Sam <sam@newcorp.test>", "Reset emergency password", "u1@newcorp.test", "How do I reset it?\n"),
			want{to: []string{"sam@newcorp.test"}, keywords: []string{"P4", "Unknown"}, text: "CS-"}},
		{"unsupported", msg("Wile <wile@acme.test>", "Backups not running", "v1@acme.test", "Build Number: 7941\n"),
			want{to: []string{"wile@acme.test"}, keywords: []string{"P1", "ASUP", "Unsupported"}, text: "CS-"}},
		{"suppressed", msg("Mark <mark@acme.test>", "Automatic reply: out of office", "s1@acme.test", "Away.\n", "Auto-Submitted: auto-replied"),
			want{keywords: []string{"P1", "ASUP", "Suppressed"}}},
	}
	uids := map[string]uint32{}
	for _, c := range cases {
		uids[c.name] = e.deliver(c.raw)
	}
	r := e.start(runOpts{idle: true})
	defer r.stop(t)

	replies := 0
	for _, c := range cases {
		if c.want.text != "" {
			replies++
		}
	}
	// The lapsed and the never-purchased notices each bring one sales brief.
	const briefs = 2
	e.mailpit.WaitMessages(t, replies+briefs, 20*time.Second)
	// Give a wrong extra reply (e.g. to the suppressed message) a moment to show.
	time.Sleep(500 * time.Millisecond)
	msgs := e.mailpit.Messages(t)
	if len(msgs) != replies+briefs {
		t.Fatalf("Mailpit holds %d messages, want exactly %d replies and %d sales briefs", len(msgs), replies, briefs)
	}
	byInReplyTo := map[string]*testenv.MailpitMessageDetail{}
	briefsFor := map[string]*testenv.MailpitMessageDetail{}
	for _, m := range msgs {
		d := e.mailpit.Message(t, m.ID)
		if strings.Contains(d.Header("Subject"), "] Quote request: ") {
			briefsFor[d.Header("Subject")[strings.Index(d.Header("Subject"), "Quote request: ")+15:]] = d
			continue
		}
		byInReplyTo[strings.Trim(d.Header("In-Reply-To"), "<>")] = d
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := strings.SplitN(strings.SplitN(c.raw, "Message-ID: <", 2)[1], ">", 2)[0]
			d := byInReplyTo[id]
			if c.want.text == "" {
				if d != nil {
					t.Fatalf("suppressed message got a reply: %q", d.Header("Subject"))
				}
			} else {
				if d == nil {
					t.Fatalf("no reply with In-Reply-To <%s>", id)
				}
				if got := addrs(d.HeaderValues("To")); !slices.Equal(got, c.want.to) {
					t.Errorf("To = %v, want %v", got, c.want.to)
				}
				if got := addrs(d.HeaderValues("Cc")); !slices.Equal(got, c.want.cc) {
					t.Errorf("Cc = %v, want %v", got, c.want.cc)
				}
				if d.Header("Auto-Submitted") != "auto-replied" {
					t.Errorf("Auto-Submitted = %q", d.Header("Auto-Submitted"))
				}
				if !strings.Contains(d.Header("References"), "<"+id+">") {
					t.Errorf("References = %q, want it to contain <%s>", d.Header("References"), id)
				}
				subj := d.Header("Subject")
				if !strings.HasPrefix(subj, "[CS-") || !strings.Contains(subj, "Re:") {
					t.Errorf("Subject = %q, want [CS-…] Re: …", subj)
				}
				if !strings.Contains(d.Text, c.want.text) {
					t.Errorf("reply body lacks %q:\n%s", c.want.text, d.Text)
				}
			}
			kw := e.dovecot.Keywords(t, "INBOX", uids[c.name])
			for _, k := range append(c.want.keywords, "$SupportdProcessed") {
				if !slices.Contains(kw, k) {
					t.Errorf("keywords %v lack %s", kw, k)
				}
			}
		})
	}

	// Issue 10 items 3 and 6: never bought is not lapsed; sales get a brief
	// of each, addressed to sales only.
	for company, facts := range map[string][]string{
		"Hooli Ltd":  {"C500", "ASUP expiry:       2026-08-31", "Days since lapsed: 85", "Upgrade failed", "Build Number: 9540"},
		"Pied Piper": {"C600", "ASUP expiry:       never", "richard@piedpiper.test", "Compression plugin error", "The plugin page shows an error."},
	} {
		d := briefsFor[company]
		if d == nil {
			t.Errorf("no sales brief \"Quote request: %s\"", company)
			continue
		}
		if got := addrs(append(d.HeaderValues("To"), d.HeaderValues("Cc")...)); !slices.Equal(got, []string{"sales@vendor.test"}) {
			t.Errorf("brief for %s addressed to %v, want sales only", company, got)
		}
		if !strings.HasPrefix(d.Header("Subject"), "[CS-") {
			t.Errorf("brief subject %q lacks the ticket id", d.Header("Subject"))
		}
		for _, f := range facts {
			if !strings.Contains(d.Text, f) {
				t.Errorf("brief for %s lacks %q:\n%s", company, f, d.Text)
			}
		}
	}
	if d := byInReplyTo["l1@hooli.test"]; d != nil && (!strings.Contains(d.Text, "expired on 2026-08-31") || strings.Contains(d.Text, "licence does not")) {
		t.Errorf("lapsed notice does not give the expiry:\n%s", d.Text)
	}

	// The metrics count what happened, per action and status.
	for _, m := range []struct {
		action, status string
		want           float64
	}{
		{"acknowledge", "active", 1}, {"acknowledge", "trial", 1}, {"acknowledge", "free", 1}, {"acknowledge", "unknown", 1},
		{"lapsed_notice", "lapsed", 2}, {"unsupported_version", "active", 1}, {"suppress", "active", 1}, {"follow_up", "active", 0},
	} {
		if got := daemon.CounterValue(r.metrics.Messages.WithLabelValues(m.action, m.status, "INBOX")); got != m.want {
			t.Errorf("supportd_messages_total{action=%q,status=%q} = %v, want %v", m.action, m.status, got, m.want)
		}
	}
	waitFor(t, 10*time.Second, "replies_sent_total{kind=reply} to count every reply", func() bool {
		return daemon.CounterValue(r.metrics.RepliesSent.WithLabelValues("reply")) == float64(replies)
	})
	if got := daemon.CounterValue(r.metrics.RepliesFail.WithLabelValues("reply", "permanent")); got != 0 {
		t.Errorf("replies_failed_total{kind=reply,class=permanent} = %v, want 0", got)
	}
}

func addrs(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if i := strings.IndexByte(a, '<'); i >= 0 {
				a = strings.TrimSuffix(a[i+1:], ">")
			}
			if a != "" {
				out = append(out, strings.ToLower(a))
			}
		}
	}
	return out
}

// A customer's reply to our acknowledgement joins the same ticket with no second
// acknowledgement; staff get the routed copy.
func TestEndToEndFollowUp(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: "staff@vendor.test", cfg: func(c *daemon.Config) { c.RawRetention = time.Hour }})
	defer r.stop(t)
	uid1 := e.deliver(msg("Alice <alice@acme.test>", "Login page error", "first@acme.test", "Build Number: 9653\n"))
	got := e.mailpit.WaitMessages(t, 2, 20*time.Second) // ack + staff copy
	var ack *testenv.MailpitMessageDetail
	for _, m := range got {
		d := e.mailpit.Message(t, m.ID)
		if d.Header("X-Support-Ticket") == "" {
			ack = d
		}
	}
	if ack == nil {
		t.Fatal("no acknowledgement")
	}
	ackID := strings.TrimSpace(ack.Header("Message-Id"))
	ticket := strings.Trim(strings.Fields(ack.Header("Subject"))[0], "[]")

	// The customer answers the acknowledgement without the ticket id in the subject.
	uid2 := e.deliver(msg("Alice <alice@acme.test>", "Re: your email", "second@acme.test",
		"More detail: it fails only on Mondays.\n", "In-Reply-To: "+ackID, "References: <first@acme.test> "+ackID))
	e.mailpit.WaitMessages(t, 3, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	all := e.mailpit.Messages(t)
	if len(all) != 3 {
		t.Fatalf("want ack + 2 staff copies = 3 messages, got %d", len(all))
	}
	var staffFollow *testenv.MailpitMessageDetail
	for _, m := range all {
		d := e.mailpit.Message(t, m.ID)
		if d.Header("X-Support-Action") == "follow_up" {
			staffFollow = d
		}
	}
	if staffFollow == nil {
		t.Fatal("staff were not notified of the follow-up")
	}
	if staffFollow.Header("X-Support-Ticket") != ticket {
		t.Errorf("follow-up routed under %q, want %q", staffFollow.Header("X-Support-Ticket"), ticket)
	}
	uv := e.dovecot.UIDValidity(t, "INBOX")
	l2 := r.ledger(t, uv, uid2)
	if l2 == nil || l2.Action != "follow_up" || l2.Ticket != ticket {
		t.Fatalf("ledger of follow-up = %+v, want follow_up on %s", l2, ticket)
	}
	tk := r.ticket(t, ticket)
	if tk == nil || len(tk.Messages) < 3 {
		t.Fatalf("ticket %s = %+v, want the first message, our ack and the follow-up", ticket, tk)
	}
	if !slices.Contains(e.dovecot.Keywords(t, "INBOX", uid2), "FollowUp") {
		t.Errorf("follow-up not tagged FollowUp: %v", e.dovecot.Keywords(t, "INBOX", uid2))
	}
	// The raw bytes are kept for audit under mailbox/UIDVALIDITY/UID.
	f, err := r.db.OpenRaw(daemon.RawKey("INBOX", uv, uid1))
	if err != nil {
		t.Fatalf("raw audit copy of uid %d: %v", uid1, err)
	}
	raw, _ := io.ReadAll(f)
	f.Close()
	if !strings.Contains(string(raw), "<first@acme.test>") {
		t.Errorf("raw audit copy is not the message: %.200q", raw)
	}
}

// With IDLE, a new message is answered well before the poll interval.
func TestEndToEndIdleIsPrompt(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, pollInterval: time.Minute})
	defer r.stop(t)
	waitFor(t, 10*time.Second, "poller connected", func() bool { return r.Poller.Stats().Connected })
	time.Sleep(300 * time.Millisecond) // let it enter IDLE
	start := time.Now()
	e.deliver(msg("Alice <alice@acme.test>", "Quick question", "idle@acme.test", "Build 9653\n"))
	e.mailpit.WaitMessages(t, 1, 20*time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("answered after %v with IDLE on and a 1m poll interval; want well under the interval", took)
	} else {
		t.Logf("answered %v after APPEND", took)
	}
}

// Dovecot restarted under the daemon: it reconnects and processes what arrived
// during the outage. Mailpit stopped: replies wait in the outbox, then go out.
func TestEndToEndOutages(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true})
	defer r.stop(t)
	e.deliver(msg("Alice <alice@acme.test>", "Before outage", "before@acme.test", "Build 9653\n"))
	e.mailpit.WaitMessages(t, 1, 20*time.Second)

	e.dovecot.Stop()
	time.Sleep(500 * time.Millisecond)
	e.dovecot.Start(t)
	e.deliver(msg("Bob <bob@acme.test>", "During outage", "during@acme.test", "Build 9653\n"))
	e.mailpit.WaitMessages(t, 2, 30*time.Second)
	if r.Poller.Stats().Reconnects < 1 {
		t.Errorf("poller reports %d reconnects after a Dovecot restart", r.Poller.Stats().Reconnects)
	}

	e.mailpit.Stop()
	e.deliver(msg("Carol <carol@acme.test>", "While SMTP is down", "smtpdown@acme.test", "Build 9653\n"))
	waitFor(t, 20*time.Second, "reply queued in the outbox", func() bool { return r.outboxPending(t) == 1 })
	time.Sleep(time.Second) // a few failed attempts
	if n := r.outboxPending(t); n != 1 {
		t.Fatalf("outbox holds %d, want the 1 waiting reply", n)
	}
	e.mailpit.Start(t)
	msgs := e.mailpit.WaitMessages(t, 3, 30*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("got %d replies, want 3", len(msgs))
	}
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
}
