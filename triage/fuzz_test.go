package triage

import (
	"strings"
	"testing"
	"unicode"

	"supportd/entitlement"
	"supportd/mailparse"
)

func FuzzDecide(f *testing.F) {
	f.Add("x\r\nBcc: a@b", "Eve\r\nBcc: x", "alice@acme.test", "thief@evil.test", "<m1@acme.test>", "<r@x>", "CS-004211", "", "", false, 0)
	f.Add("Re: RE: [CS-004211] AW: hi", "", "a@b.test", "", "", "", "", "auto-replied", "bulk", true, 3)
	f.Add("\xff\xfe\x00", "\u2028", "x@y\n", "z@y.test\r", "<a\r\nb>", "<\x00>", "CS-0\r\n", "no", "", true, 1)
	f.Fuzz(func(t *testing.T, subject, name, from, replyTo, msgID, ref, ticket, autoSub, prec string, verified bool, sent int) {
		m := &mailparse.Message{
			From:          &mailparse.Address{Name: name, Addr: from},
			ReplyTo:       []mailparse.Address{{Name: name, Addr: replyTo}},
			Subject:       subject,
			MessageID:     msgID,
			References:    []string{ref, msgID},
			InReplyTo:     []string{ref},
			TicketID:      ticket,
			AutoSubmitted: autoSub,
			Precedence:    prec,
			XLoop:         []string{ref},
		}
		for _, st := range []entitlement.Status{entitlement.Active, entitlement.Lapsed, entitlement.Unknown} {
			in := input(m, st)
			in.Entitlement.VerifiedSender = verified
			in.Replies.Sender = sent
			in.ContentKey = subject
			c := cfg
			c.StaffQueue = replyTo
			c.SalesAddress = from
			d := Decide(in, c)
			check := func(what, s string) {
				if strings.ContainsAny(s, "\r\n") {
					t.Fatalf("CR/LF in %s: %q", what, s)
				}
				for _, r := range s {
					if unicode.IsControl(r) {
						t.Fatalf("control %U in %s: %q", r, what, s)
					}
				}
			}
			check("ticket", d.TicketID)
			check("staff subject", d.StaffSubject)
			for _, a := range d.Route.ForwardTo {
				check("forward", a)
			}
			if d.Reply != nil {
				check("subject", d.Reply.Subject)
				check("message-id", d.Reply.MessageID)
				check("in-reply-to", d.Reply.InReplyTo)
				for _, a := range append(append(d.Reply.To, d.Reply.Cc...), d.Reply.References...) {
					check("address or reference", a)
					if strings.ContainsAny(a, " \t,;") {
						t.Fatalf("unsafe header value %q", a)
					}
				}
				if len(d.Reply.To) != 1 || d.Reply.To[0] == "" {
					t.Fatalf("reply without a recipient: %+v", d.Reply)
				}
				if n := len([]rune(d.Reply.Subject)); n > MaxHeaderRunes+80 {
					t.Fatalf("subject of %d runes", n)
				}
				if strings.Count(strings.ToLower(d.Reply.Subject), " re: ") > 1 && !strings.Contains(strings.ToLower(subject), "re:") {
					t.Fatalf("doubled Re: %q", d.Reply.Subject)
				}
			}
			if d.Action == Suppress && (d.Reply != nil || d.SuppressReason == "") {
				t.Fatalf("suppress with reply or no reason: %+v", d)
			}
			// Determinism.
			if e := Decide(in, c); e.Reply != nil && e.Reply.MessageID != d.Reply.MessageID {
				t.Fatal("non-deterministic Message-ID")
			}
		}
	})
}
