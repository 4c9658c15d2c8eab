package daemon

import (
	"fmt"

	"strings"
	"time"

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
	// PhoneNumber and PhoneHours are priority phone support
	// (support.phone.number, and its hours in words), told to active
	// customers when a number is set.
	PhoneNumber, PhoneHours string
	// Company, Product and Signature are support.company, support.product
	// and support.signature, shown in every reply.
	Company, Product, Signature string
	// Staff are support.staff entries (addresses and "@domain"); OwnAddresses
	// support.addresses (the bases of the signed reply addresses).
	Staff []string
	// TicketIDFormat is tickets.id_format ("" for the default); ReopenDays
	// tickets.reopen_days: a customer message on a ticket closed longer ago
	// opens a new ticket naming it.
	TicketIDFormat string
	ReopenDays     int
	// WarnBefore is sla.warn_before: the SLA warning goes out this long before
	// a response is due.
	WarnBefore time.Duration
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
	// Ticket is the existing ticket the message belongs to (a copy; nil for a
	// new ticket or none).
	Ticket *store.Ticket
}

// TicketAllocator gives the id of a new ticket in a format (tickets.id_format).
// explain peeks, run allocates.
type TicketAllocator func(format string) (string, error)

// Assess decides what to do with msg, received (IMAP INTERNALDATE) at received,
// reading the store through tx. contentKey identifies the message when it has no
// Message-ID (sha256 of its bytes). reported are the Message-IDs a delivery
// report quotes of the message it reports on (ReportedIDs).
func (e *Engine) Assess(tx *store.Tx, msg *mailparse.Message, received time.Time, contentKey string, alloc TicketAllocator, reported []string) (*Assessment, error) {
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

	tk, err := e.resolveTicket(tx, msg, author, cust, verified, received, reported)
	if err != nil {
		return nil, err
	}
	ticket := tk.known
	if ticket == "" && tk.referenced == "" {
		ticket = msg.TicketID
	}
	replies, err := e.replyCounts(tx, msg, ent, ticket, received)
	if err != nil {
		return nil, err
	}
	in := triage.Input{
		Msg:              msg,
		Received:         received,
		Entitlement:      ent,
		SLA:              slaRes,
		Version:          ver,
		KnownTicket:      tk.known,
		Replies:          replies,
		ContentKey:       contentKey,
		ReferencedTicket: tk.referenced,
		Staff:            tk.staff,
		StaffAccepted:    tk.staffAccepted,
		OwnMessage:       tk.own,
		Bounce:           tk.bounce,
	}
	// A new ticket id only for a message that opens a ticket under an id of
	// ours: not for one that follows up, is suppressed, or quotes a new one.
	if in.KnownTicket == "" && (msg.TicketID == "" || in.ReferencedTicket != "") && !tk.staff && !tk.own &&
		!triage.Automatic(msg, e.Triage) {
		id, err := alloc(e.TicketIDFormat)
		if err != nil {
			return nil, fmt.Errorf("new ticket id: %w", err)
		}
		in.NewTicketID = id
	}
	d := triage.Decide(in, e.Triage)
	shown := slaRes
	// The unsupported-version reply answers the ticket: no SLA runs for it
	// (issue 10 item 4), nor for anything but an active customer's question.
	if ent.Status != entitlement.Active || d.Action == triage.Suppress || d.Action == triage.StaffReply ||
		d.Action == triage.UnsupportedVersion {
		shown.Deadline, shown.Target, shown.TargetDeadline = time.Time{}, 0, time.Time{}
	}
	return &Assessment{Msg: msg, Received: received, Input: in, Decision: d, SLA: shown, Ticket: tk.ticket}, nil
}

// ticketLink is how a message relates to the existing tickets.
type ticketLink struct {
	known      string        // the ticket it follows up (or, from staff, acts on)
	ticket     *store.Ticket // that ticket
	referenced string        // a ticket it named but may not follow up
	staff      bool          // the sender is staff
	// staffAccepted: addressed to the ticket's signed reply address, or
	// verified by a trusted Authentication-Results.
	staffAccepted bool
	own           bool // one of our own messages, come back
	bounce        bool // a delivery report of one of our messages
}

// resolveTicket finds the ticket a message belongs to and applies the
// binding rules of §10: a ticket id or thread reference makes a follow-up
// only from the ticket's customer (its customer id, or an address already on
// the ticket) or from staff, and a ticket closed more than ReopenDays ago is
// not reopened.
func (e *Engine) resolveTicket(tx *store.Tx, msg *mailparse.Message, from string, cust *entitlement.Customer, verified bool, received time.Time, reported []string) (ticketLink, error) {
	var l ticketLink
	l.own = msg.MessageID != "" && tx.OutboxHas(msg.MessageID)
	l.staff = from != "" && triage.IsStaff(from, e.Staff)
	cand := ""
	if l.staff {
		if secret := tx.Secret(); secret != nil {
			for _, a := range recipients(msg) {
				if id, ok := triage.TicketFromReplyAddress(secret, a, e.Triage.OwnAddresses); ok {
					cand, l.staffAccepted = e.findTicket(tx, id), true
					break
				}
			}
		}
		l.staffAccepted = l.staffAccepted || verified
	}
	if cand == "" && msg.TicketID != "" && tx.TicketExists(msg.TicketID) {
		cand = msg.TicketID
	}
	if cand == "" {
		refs := append(append([]string{}, msg.InReplyTo...), msg.References...)
		if triage.IsReport(msg) {
			refs = append(refs, reported...)
		}
		id, err := tx.TicketByMessageID(refs...)
		if err != nil {
			return l, fmt.Errorf("thread lookup: %w", err)
		}
		cand = id
	}
	if cand == "" {
		return l, nil
	}
	t, err := tx.Ticket(cand)
	if err != nil || t == nil {
		return l, err
	}
	l.bounce = triage.IsReport(msg) && !l.staff
	switch {
	case l.staff || l.bounce || l.own:
	case !(t.HasAddress(from) || (cust != nil && t.CustomerID != "" && cust.ID == t.CustomerID)):
		l.referenced = cand
		return l, nil
	case t.State == store.StateClosed && e.ReopenDays >= 0 && received.After(t.ClosedAt.AddDate(0, 0, e.reopenDays())):
		l.referenced = cand
		return l, nil
	}
	l.known, l.ticket = cand, t
	return l, nil
}

func (e *Engine) reopenDays() int {
	if e.ReopenDays <= 0 {
		return DefaultReopenDays
	}
	return e.ReopenDays
}

// DefaultReopenDays is tickets.reopen_days when not set.
const DefaultReopenDays = 14

// findTicket is the stored id of a ticket named in a signed reply address
// (which carries it lower-cased), "" if there is none.
func (e *Engine) findTicket(tx *store.Tx, id string) string {
	for _, c := range []string{id, strings.ToUpper(id)} {
		if tx.TicketExists(c) {
			return c
		}
	}
	return ""
}

// recipients are the addresses a message was sent to: To, Cc, and the
// topmost Delivered-To (added by the receiving server; a Bcc shows only
// there).
func recipients(m *mailparse.Message) []string {
	var rs []string
	for _, a := range m.To {
		rs = append(rs, a.Addr)
	}
	for _, a := range m.Cc {
		rs = append(rs, a.Addr)
	}
	if m.DeliveredTo != "" {
		rs = append(rs, m.DeliveredTo)
	}
	return rs
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
		Company:         e.Company,
		Product:         e.Product,
		Team:            e.Signature,
	}
	if ent.Customer != nil {
		data.CustomerName = ent.Customer.Company
		if !ent.Customer.ASUPExpires.IsZero() {
			data.ASUPExpires = ent.Customer.ASUPExpires.String()
		}
	}
	if ent.Status == entitlement.Active {
		data.PhoneNumber, data.PhoneHours = e.PhoneNumber, e.PhoneHours
		data.ZoneNote = ZoneNote(e.location(), a.Received)
	}
	if ent.Status == entitlement.Unknown {
		// A template override may echo the subject: never an unknown
		// sender's link (backscatter spam, issue 13 item 3).
		data.OriginalSubject = triage.StripLinks(data.OriginalSubject)
	}
	if !a.SLA.Deadline.IsZero() {
		data.Deadline = sla.FormatDeadline(a.SLA.Deadline)
		data.TargetText = humanDuration(a.SLA.Target)
		data.LocalDeadline = e.senderTime(a.SLA.Deadline, a.Msg.Date)
		if !a.SLA.TargetDeadline.IsZero() {
			data.TargetDeadline = sla.FormatDeadline(a.SLA.TargetDeadline)
			data.LocalTargetDeadline = e.senderTime(a.SLA.TargetDeadline, a.Msg.Date)
		}
	}
	return e.Renderer.Render(d.Reply.TemplateFile, data)
}

// senderTime is t in the UTC offset of the sender's Date header, "" when
// there is no Date or its offset is the support zone's at t (docs/design.md §11).
func (e *Engine) senderTime(t, date time.Time) string {
	if date.IsZero() {
		return ""
	}
	_, theirs := date.Zone()
	if _, ours := t.In(e.location()).Zone(); ours == theirs {
		return ""
	}
	return t.In(time.FixedZone("", theirs)).Format("Monday 2 January 2006, 15:04 (UTC-07:00)")
}

// ZoneNote explains the support time zone at t: its standard offset and,
// where it keeps daylight saving, the summer one ("Adelaide time is
// UTC+09:30, and UTC+10:30 during daylight saving, as now").
func ZoneNote(loc *time.Location, t time.Time) string {
	name := loc.String()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ReplaceAll(name, "_", " ")
	offset := func(at time.Time) (string, int) {
		_, s := at.In(loc).Zone()
		return at.In(time.FixedZone("", s)).Format("UTC-07:00"), s
	}
	jan, janOff := offset(time.Date(t.Year(), time.January, 1, 12, 0, 0, 0, time.UTC))
	jul, julOff := offset(time.Date(t.Year(), time.July, 1, 12, 0, 0, 0, time.UTC))
	if janOff == julOff {
		return name + " time is " + jan
	}
	std, dst, dstOff := jan, jul, julOff
	if janOff > julOff {
		std, dst, dstOff = jul, jan, janOff
	}
	note := name + " time is " + std + ", and " + dst + " during daylight saving"
	if _, now := offset(t); now == dstOff {
		note += ", as now"
	}
	return note
}

// RenderSalesBrief renders the internal brief to sales that goes with a
// lapsed or never-purchased notice (docs/design.md §11); "" when none is due.
func (e *Engine) RenderSalesBrief(a *Assessment) (string, error) {
	d, ent := a.Decision, a.Input.Entitlement
	if d.Reply == nil || !d.Reply.SalesBrief || ent.Customer == nil {
		return "", nil
	}
	c := ent.Customer
	data := templates.Data{
		TicketID: d.TicketID, CustomerName: c.Company, Status: string(ent.Status), Priority: ent.Priority,
		CustomerID: c.ID, License: c.License, ExtendedSupport: c.ExtendedSupport, Contacts: c.Contacts,
		OriginalSubject: a.Msg.Subject, SalesAddress: e.Triage.SalesAddress, Company: e.Company, Product: e.Product,
		Team: e.Signature, Action: string(d.Action), FirstLines: firstLines(a.Msg.Text, 5),
	}
	if a.Msg.From != nil {
		data.From = a.Msg.From.Addr
	}
	if !c.ASUPExpires.IsZero() {
		data.ASUPExpires = c.ASUPExpires.String()
		data.DaysLapsed = max(0, int(a.Received.Sub(c.ASUPExpires.End(e.location()))/(24*time.Hour)))
	}
	if c.ResetPortal {
		data.Subscriptions = append(data.Subscriptions, "reset_portal")
	}
	if c.RemoteSites {
		data.Subscriptions = append(data.Subscriptions, "remote_sites")
	}
	return e.Renderer.Render(templates.SalesBrief, data)
}

// SalesBriefSubject is the subject of the brief: "[CS-000123] Quote
// request: Hooli".
func SalesBriefSubject(ticket, company string) string {
	return "[" + ticket + "] Quote request: " + company
}

// firstLines are the first n non-empty lines of the customer's own text
// (quoted lines and what follows an attribution line left out), each at
// most 300 characters.
func firstLines(text string, n int) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case len(out) == n:
			return out
		case l == "" || strings.HasPrefix(l, ">"):
			continue
		case strings.HasPrefix(l, "On ") && strings.HasSuffix(l, "wrote:"), strings.HasPrefix(l, "-----Original Message"):
			return out
		}
		if r := []rune(l); len(r) > 300 {
			l = string(r[:300]) + "…"
		}
		out = append(out, l)
	}
	return out
}

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

// location is the support time zone (UTC when none is configured).
func (e *Engine) location() *time.Location {
	if e.Policy.Location != nil {
		return e.Policy.Location
	}
	return time.UTC
}
