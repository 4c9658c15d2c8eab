package triage

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/templates"
)

// Reply template kinds (Reply.Template, the explain JSON's "template").
const (
	KindAck    = "ack"
	KindLapsed = "lapsed"
	// KindNeverPurchased: a known customer that never held ASUP (docs/design.md §11).
	KindNeverPurchased = "never_purchased"
	KindUnsupported    = "unsupported"
)

// Decide chooses the one action for a message and derives the ticket, missing
// information, reply and routing from it. It never panics and never returns a
// header value with CR, LF or other control characters.
func Decide(in Input, cfg Config) Decision {
	msg := in.Msg
	if msg == nil {
		msg = &mailparse.Message{}
	}
	status := in.Entitlement.Status
	if status == "" {
		status = entitlement.Unknown
	}
	prio := in.Entitlement.Priority
	if prio < 1 || prio > 4 {
		prio = status.Priority()
	}
	known := sanitize(in.KnownTicket, 64)

	d := Decision{Missing: MissingFields(msg), ReferencedTicket: sanitize(in.ReferencedTicket, 64), Bounce: in.Bounce && known != ""}
	d.SuppressReason = automaticReason(msg, cfg)
	if in.OwnMessage {
		d.SuppressReason = ReasonOwnAddress
	}
	switch {
	case in.Staff && d.SuppressReason == "" && in.StaffAccepted && known != "":
		d.Action = StaffReply
	case in.Staff && d.SuppressReason == "":
		d.Action, d.SuppressReason, d.UnverifiedStaff = Suppress, ReasonUnverifiedStaff, true
	case d.SuppressReason != "":
		d.Action = Suppress
	case known != "":
		d.Action = FollowUp
	case status == entitlement.Lapsed:
		d.Action = LapsedNotice
	case in.Version.Known && !in.Version.Supported:
		d.Action = UnsupportedVersion
	default:
		d.Action = Acknowledge
	}
	// Rate limits stop loops and backscatter, not questions: only the reply
	// is withheld (follow-ups send none, so no limit applies to them).
	if d.Action != Suppress && d.Action != FollowUp && d.Action != StaffReply {
		if r := rateLimitReason(in, cfg, status == entitlement.Unknown); r != "" {
			d.Action, d.SuppressReason = Suppress, r
		}
	}
	d.NoReplyReason = NoReplyText(d.SuppressReason, cfg)

	// The ticket: known, else quoted by the customer (new to us), else fresh.
	// Suppressed mail that names no existing ticket opens none (a message over
	// a rate limit is a customer's question all the same: it does), nor does
	// mail that came from us.
	switch quoted := sanitize(msg.TicketID, 64); {
	case known != "" && !in.OwnMessage:
		d.TicketID, d.TicketNew = known, false
	case d.Action == Suppress && !IsRateLimit(d.SuppressReason):
	case quoted != "" && d.ReferencedTicket == "":
		d.TicketID, d.TicketNew = quoted, true
	default:
		d.TicketID, d.TicketNew = sanitize(in.NewTicketID, 64), true
	}

	if d.Action == Acknowledge || d.Action == LapsedNotice || d.Action == UnsupportedVersion {
		d.Reply = buildReply(msg, in, cfg, d, status)
	}
	d.Route = route(cfg, status, prio, d.Action)
	switch {
	case in.OwnMessage || d.Action == StaffReply:
		// Our own mail come back, and accepted staff replies, are not copied
		// to staff again (a staff queue that delivers back into the mailbox
		// would loop); the relay and notes are the staff's record.
		d.Route = Route{Keywords: []string{"Staff"}, ForwardTo: []string{}}
		if in.OwnMessage {
			d.Route.Keywords = []string{"Suppressed"}
		}
	case d.UnverifiedStaff:
		d.Route.Keywords = append(d.Route.Keywords, "UnverifiedStaff")
	case d.Bounce:
		d.Route.Keywords = append(d.Route.Keywords, "DeliveryFailed")
	}
	d.StaffSubject = StaffSubject(d.TicketID, prio, status.Keyword(), msg.Subject)
	return d
}

// MissingFields lists the missing-information tokens of m in MissingOrder order.
// A browser without a version counts as missing: the policy asks for both.
func MissingFields(m *mailparse.Message) []string {
	missing := make([]string, 0, len(MissingOrder))
	if m == nil {
		return append(missing, MissingOrder...)
	}
	if m.Build == 0 {
		missing = append(missing, "build")
	}
	if strings.TrimSpace(m.ServerOS) == "" {
		missing = append(missing, "server_os")
	}
	if m.Browser == nil || strings.TrimSpace(m.Browser.Name) == "" || strings.TrimSpace(m.Browser.Version) == "" {
		missing = append(missing, "browser")
	}
	if m.Screenshots() == 0 {
		missing = append(missing, "screenshots")
	}
	if !m.HasDescription {
		missing = append(missing, "description")
	}
	if !m.HasSteps {
		missing = append(missing, "steps_to_reproduce")
	}
	return missing
}

func buildReply(m *mailparse.Message, in Input, cfg Config, d Decision, status entitlement.Status) *Reply {
	to := ReplyTarget(m, in.Entitlement.VerifiedSender, cfg) // non-empty: otherwise suppressed as null_sender
	subject := m.Subject
	if status == entitlement.Unknown {
		subject = StripLinks(subject)
	}
	customerID := ""
	if in.Entitlement.Customer != nil {
		customerID = in.Entitlement.Customer.ID
	}
	keys := CounterKeys(to, d.TicketID, customerID, status == entitlement.Unknown)
	r := &Reply{
		To:           []string{to},
		Cc:           []string{},
		Subject:      ReplySubject(d.TicketID, subject),
		TemplateFile: templates.TemplateName(string(d.Action), string(status)),
		InReplyTo:    cleanMsgID(m.MessageID),
		References:   references(m),
		MessageID:    ReplyMessageID(d.TicketID, m.MessageID, in.ContentKey, cfg.OwnAddresses),
	}
	for _, k := range []string{keys.Sender, keys.Ticket, keys.Domain, keys.Unknown} {
		if k != "" {
			r.Counters = append(r.Counters, k)
		}
	}
	switch d.Action {
	case LapsedNotice:
		r.Template = KindLapsed
		if in.Entitlement.NeverPurchased {
			r.Template, r.TemplateFile = KindNeverPurchased, templates.NeverPurchased
		}
		// Sales hear of a customer once a day, however many notices (and
		// however many forged senders) there are (docs/design.md §13): the CC
		// and the sales brief (support.sales_brief) go together.
		if s := cleanAddr(cfg.SalesAddress); s != "" && !strings.EqualFold(s, to) && !in.Replies.Sales {
			r.Cc = append(r.Cc, s)
			r.SalesBrief = cfg.SalesBrief
			if keys.Sales != "" {
				r.Counters = append(r.Counters, keys.Sales)
			}
		}
	case UnsupportedVersion:
		r.Template = KindUnsupported
	default:
		r.Template = KindAck
	}
	return r
}

// references is the incoming References plus its Message-ID (RFC 5322 §3.6.4),
// invalid ids dropped, the most recent maxReferences kept.
func references(m *mailparse.Message) []string {
	var refs []string
	seen := make(map[string]bool)
	add := func(id string) {
		if id = cleanMsgID(id); id != "" && !seen[id] {
			seen[id] = true
			refs = append(refs, id)
		}
	}
	for _, id := range m.References {
		add(id)
	}
	if len(m.References) == 0 && len(m.InReplyTo) == 1 {
		add(m.InReplyTo[0]) // RFC 5322 §3.6.4: no References, one In-Reply-To
	}
	add(m.MessageID)
	if len(refs) > maxReferences {
		refs = refs[len(refs)-maxReferences:]
	}
	if refs == nil {
		refs = []string{}
	}
	return refs
}

// ReplyMessageID is the deterministic Message-ID of the reply to a message:
// "<ticket.HASH.reply@domain>" where HASH is the first 16 hex digits of the
// sha256 of the incoming Message-ID (or of contentKey when it has none) and
// domain that of the first own address. The same inputs always give the same id,
// so a reply sent twice is recognisable.
func ReplyMessageID(ticket, incomingID, contentKey string, own []string) string {
	key := cleanMsgID(incomingID)
	if key == "" {
		key = "content:" + contentKey
	}
	sum := sha256.Sum256([]byte(key))
	domain := ""
	if len(own) > 0 {
		domain = idPart(entitlement.DomainOf(own[0]))
	}
	if domain == "" {
		domain = "supportd.invalid"
	}
	local := idPart(strings.ToLower(ticket))
	if local == "" {
		local = "ticket"
	}
	return "<" + local + "." + hex.EncodeToString(sum[:8]) + ".reply@" + domain + ">"
}

// idPart keeps the characters of a dot-atom that are safe in a message id.
func idPart(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		case r == '.':
			return r
		}
		return '-'
	}, s)
	s = strings.Trim(s, ".-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func route(cfg Config, status entitlement.Status, prio int, a Action) Route {
	r := Route{Keywords: []string{"P" + strconv.Itoa(prio), status.Keyword()}, ForwardTo: []string{}}
	switch a {
	case UnsupportedVersion:
		r.Keywords = append(r.Keywords, "Unsupported")
	case FollowUp:
		r.Keywords = append(r.Keywords, "FollowUp")
	case Suppress:
		r.Keywords = append(r.Keywords, "Suppressed")
	}
	seen := make(map[string]bool)
	forward := func(addr string) {
		if addr = cleanAddr(addr); addr != "" && !seen[strings.ToLower(addr)] {
			seen[strings.ToLower(addr)] = true
			r.ForwardTo = append(r.ForwardTo, addr)
		}
	}
	for _, rule := range cfg.Rules {
		if !ruleMatches(rule, status, prio, a) {
			continue
		}
		if f := strings.TrimSpace(rule.Folder); f != "" && r.Folder == nil {
			r.Folder = &f
		}
		for _, addr := range rule.ForwardTo {
			forward(addr)
		}
	}
	forward(cfg.StaffQueue)
	return r
}

func ruleMatches(rule Rule, status entitlement.Status, prio int, a Action) bool {
	if len(rule.Statuses) > 0 && !containsFold(rule.Statuses, string(status)) {
		return false
	}
	if len(rule.Actions) > 0 && !containsFold(rule.Actions, string(a)) {
		return false
	}
	if len(rule.Priority) > 0 {
		ok := false
		for _, p := range rule.Priority {
			ok = ok || p == prio
		}
		if !ok {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}
