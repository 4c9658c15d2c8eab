package daemon

import (
	"fmt"

	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"golang.org/x/net/publicsuffix"

	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/sla"
	"supportd/store"
	"supportd/templates"
	"supportd/triage"
	"supportd/versions"
)

// Engine gathers what the pure packages need from the store and runs them: parse
// result + customer lookup + calendar + versions → triage.Decision. It holds no
// connection; the same Engine serves `explain` (read-only) and `run`.
type Engine struct {
	Policy   entitlement.Policy
	Calendar *sla.Calendar
	Majors   []versions.Major
	Triage   triage.Config
	Renderer *templates.Renderer
	// FromName and FromAddr are our sender (smtp.from).
	FromName, FromAddr string
	// SupportHours is the human text of support hours, for templates.
	SupportHours string
}

// Assessment is the decision for one message and everything it was based on.
type Assessment struct {
	Msg      *mailparse.Message
	Received time.Time
	Input    triage.Input
	Decision triage.Decision
	// SLA as reported: Deadline/Target zero when no SLA applies.
	SLA sla.Result
	// ReusedMessageID: an earlier, different message carried this Message-ID
	// (a replay); this one is handled as new and flagged to staff.
	ReusedMessageID bool
}

// TicketAllocator gives the id of a new ticket. explain peeks, run allocates.
type TicketAllocator func() (string, error)

// Assess decides what to do with msg, received (IMAP INTERNALDATE) at received,
// reading the store through tx. contentKey identifies the message when it has no
// Message-ID (sha256 of its bytes).
func (e *Engine) Assess(tx *store.Tx, msg *mailparse.Message, received time.Time, contentKey string, alloc TicketAllocator) (*Assessment, error) {
	// Entitlement only for a From that is one mailbox (the one DMARC
	// judges); an ambiguous From is status unknown.
	author := ""
	if a := msg.Author(); a != nil {
		author = strings.ToLower(a.Addr)
	}
	verified := entitlement.Verified(msg.AuthenticationResults, e.Policy.TrustedAuthservIDs, domainOf(author), publicsuffix.EffectiveTLDPlusOne)
	var cust *entitlement.Customer
	matchedBy := ""
	if author != "" {
		var err error
		cust, matchedBy, err = entitlement.Match(tx, author, e.Policy.PublicDomains)
		if err != nil {
			return nil, fmt.Errorf("customer lookup %s: %w", author, err)
		}
	}
	ent := entitlement.Evaluate(cust, matchedBy, verified, received, e.Policy)
	slaRes := e.Calendar.Compute(received)
	ver := versions.Check(e.Majors, msg.Build, received)

	known := ""
	if msg.TicketID != "" {
		if tx.TicketExists(msg.TicketID) {
			known = msg.TicketID
		}
	}
	if known == "" {
		refs := append(append([]string{}, msg.InReplyTo...), msg.References...)
		if len(refs) > 0 {
			id, err := tx.TicketByMessageID(refs...)
			if err != nil {
				return nil, fmt.Errorf("thread lookup: %w", err)
			}
			known = id
		}
	}
	ticket := known
	if ticket == "" {
		ticket = msg.TicketID
	}
	replies, err := e.replyCounts(tx, msg, ent, ticket, received)
	if err != nil {
		return nil, err
	}
	newID := ""
	if known == "" && msg.TicketID == "" {
		id, err := alloc()
		if err != nil {
			return nil, fmt.Errorf("new ticket id: %w", err)
		}
		newID = id
	}
	in := triage.Input{
		Msg:         msg,
		Received:    received,
		Entitlement: ent,
		SLA:         slaRes,
		Version:     ver,
		KnownTicket: known,
		NewTicketID: newID,
		Replies:     replies,
		ContentKey:  contentKey,
	}
	d := triage.Decide(in, e.Triage)
	shown := slaRes
	if ent.Status != entitlement.Active || d.Action == triage.Suppress {
		shown.Deadline, shown.Target, shown.TargetDeadline = time.Time{}, 0, time.Time{}
	}
	return &Assessment{Msg: msg, Received: received, Input: in, Decision: d, SLA: shown}, nil
}

// replyCounts reads the reply counters a reply to msg would be recorded
// under (triage.CounterKeys), each over its window ending at received.
func (e *Engine) replyCounts(tx *store.Tx, msg *mailparse.Message, ent entitlement.Result, ticket string, received time.Time) (triage.ReplyCounts, error) {
	var c triage.ReplyCounts
	target := triage.ReplyTarget(msg, ent.VerifiedSender, e.Triage)
	if target == "" {
		return c, nil
	}
	customerID := ""
	if ent.Customer != nil {
		customerID = ent.Customer.ID
	}
	keys := triage.CounterKeys(target, ticket, customerID, ent.Status == entitlement.Unknown)
	for _, k := range []struct {
		key    string
		window time.Duration
		n      *int
	}{
		{keys.Sender, triage.SenderWindow, &c.Sender},
		{keys.Ticket, triage.SenderWindow, &c.Ticket},
		{keys.Domain, triage.UnknownWindow, &c.Domain},
		{keys.Unknown, triage.UnknownWindow, &c.Unknown},
	} {
		if k.key == "" {
			continue
		}
		n, err := tx.RepliesInWindow(k.key, received, k.window)
		if err != nil {
			return c, fmt.Errorf("reply counter %s: %w", k.key, err)
		}
		*k.n = n
	}
	if keys.Sales != "" {
		n, err := tx.RepliesInWindow(keys.Sales, received, triage.SenderWindow)
		if err != nil {
			return c, fmt.Errorf("reply counter %s: %w", keys.Sales, err)
		}
		c.Sales = n > 0
	}
	return c, nil
}

// RenderReply renders the body of the automatic reply of a.
func (e *Engine) RenderReply(a *Assessment) (string, error) {
	d := a.Decision
	if d.Reply == nil {
		return "", nil
	}
	ent := a.Input.Entitlement
	data := templates.Data{
		TicketID:        d.TicketID,
		Status:          string(ent.Status),
		Priority:        ent.Priority,
		InHours:         a.SLA.InHours,
		Missing:         d.Missing,
		SupportHours:    e.SupportHours,
		SupportedMajors: a.Input.Version.SupportedMajors,
		Build:           a.Msg.Build,
		Major:           a.Input.Version.Major,
		ExtendedSupport: ent.ExtendedSupport,
		OriginalSubject: a.Msg.Subject,
		SalesAddress:    e.Triage.SalesAddress,
	}
	if ent.Customer != nil {
		data.CustomerName = ent.Customer.Company
	}
	if ent.Status == entitlement.Unknown {
		// A template override may echo the subject: never an unknown
		// sender's link (backscatter spam, issue 13 item 3).
		data.OriginalSubject = triage.StripLinks(data.OriginalSubject)
	}
	if !a.SLA.Deadline.IsZero() {
		data.Deadline = sla.FormatDeadline(a.SLA.Deadline)
		data.TargetText = humanDuration(a.SLA.Target)
		if !a.SLA.TargetDeadline.IsZero() {
			data.TargetDeadline = sla.FormatDeadline(a.SLA.TargetDeadline)
		}
	}
	return e.Renderer.Render(d.Reply.TemplateFile, data)
}

func (e *Engine) from() mail.Address { return mail.Address{Name: e.FromName, Address: e.FromAddr} }

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// humanDuration writes 2h as "2 hours", 90m as "1 hour 30 minutes".
func humanDuration(d time.Duration) string {
	h, m := int(d/time.Hour), int((d%time.Hour)/time.Minute)
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case h > 0 && m > 0:
		return unit(h, "hour") + " " + unit(m, "minute")
	case h > 0:
		return unit(h, "hour")
	}
	return unit(m, "minute")
}
