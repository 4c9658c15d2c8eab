package triage

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"

	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/templates"
)

// Suppress reasons (stable tokens, SPEC §6 and RFC 3834 §2).
const (
	ReasonAutoSubmitted        = "auto_submitted"
	ReasonPrecedence           = "precedence"
	ReasonList                 = "list"
	ReasonReport               = "report"
	ReasonNullSender           = "null_sender"
	ReasonSystemSender         = "system_sender"
	ReasonAutoResponseSuppress = "auto_response_suppress"
	ReasonOwnAddress           = "own_address"
	ReasonRateLimit            = "rate_limit"
)

// DefaultRepliesPerDay is the automatic-reply limit per sender per 24 h when
// Config.RepliesPerDay is 0 (or negative).
const DefaultRepliesPerDay = 3

// Reply template kinds (Reply.Template, the explain JSON's "template").
const (
	KindAck         = "ack"
	KindLapsed      = "lapsed"
	KindUnsupported = "unsupported"
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

	d := Decision{Missing: MissingFields(msg)}
	d.SuppressReason = SuppressReason(msg, known, in.RepliesToSender, cfg)
	switch {
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

	// The ticket: known, else quoted by the customer (new to us), else fresh.
	switch quoted := sanitize(msg.TicketID, 64); {
	case known != "":
		d.TicketID, d.TicketNew = known, false
	case quoted != "":
		d.TicketID, d.TicketNew = quoted, true
	default:
		d.TicketID, d.TicketNew = sanitize(in.NewTicketID, 64), true
	}

	if d.Action == Acknowledge || d.Action == LapsedNotice || d.Action == UnsupportedVersion {
		d.Reply = buildReply(msg, in, cfg, d, status)
	}
	d.Route = route(cfg, status, prio, d.Action)
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

// systemLocal matches the local part of an address that never reads replies:
// mailer-daemon, postmaster, no-reply/noreply/no_reply, do-not-reply/donotreply,
// bounce/bounces, optionally followed by a tag ("bounces+123", "noreply-alerts").
var systemLocal = regexp.MustCompile(`(?i)^(mailer-daemon|postmaster|no[-_]?reply|do[-_]?not[-_]?reply|bounces?)([+\-_.=].*)?$`)

// SuppressReason returns why no automatic reply may be sent to m, or "" when
// one may. knownTicket is the ticket the message belongs to ("" if none):
// follow-ups send no reply, so the rate limit does not apply to them.
func SuppressReason(m *mailparse.Message, knownTicket string, repliesToSender int, cfg Config) string {
	if m == nil {
		return ReasonNullSender
	}
	// RFC 3834 §5: Auto-Submitted other than "no" (parameters and comments ignored).
	if v := headerToken(m.AutoSubmitted); v != "" && v != "no" {
		return ReasonAutoSubmitted
	}
	switch headerToken(m.Precedence) {
	case "bulk", "junk", "list":
		return ReasonPrecedence
	}
	if strings.TrimSpace(m.ListID) != "" || strings.TrimSpace(m.ListUnsubscribe) != "" {
		return ReasonList
	}
	if isReport(m) {
		return ReasonReport
	}
	from := ""
	if m.From != nil {
		from = cleanAddr(m.From.Addr)
	}
	if from == "" || (m.HasReturnPath && strings.Trim(m.ReturnPath, "<> \t") == "") {
		return ReasonNullSender
	}
	if isSystem(from) || isSystem(m.ReturnPath) {
		return ReasonSystemSender
	}
	for _, tok := range strings.FieldsFunc(m.XAutoResponseSuppress, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' }) {
		if strings.EqualFold(tok, "All") || strings.EqualFold(tok, "AutoReply") || strings.EqualFold(tok, "OOF") {
			return ReasonAutoResponseSuppress
		}
	}
	if isOwn(from, cfg.OwnAddresses) || (m.Sender != nil && isOwn(m.Sender.Addr, cfg.OwnAddresses)) || loops(m.XLoop, cfg.OwnAddresses) {
		return ReasonOwnAddress
	}
	limit := cfg.RepliesPerDay
	if limit <= 0 {
		limit = DefaultRepliesPerDay
	}
	if knownTicket == "" && repliesToSender >= limit {
		return ReasonRateLimit
	}
	return ""
}

// headerToken is the first token of a structured header value, lower-cased,
// without comments or parameters: "Auto-Replied; x=1 (c)" → "auto-replied".
func headerToken(v string) string {
	if i := strings.IndexAny(v, ";("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

func isReport(m *mailparse.Message) bool {
	if m.IsReport {
		return true
	}
	switch headerToken(m.ContentType) {
	case "multipart/report", "message/delivery-status", "message/disposition-notification", "message/feedback-report":
		return true
	}
	switch headerToken(m.ReportType) {
	case "delivery-status", "disposition-notification", "feedback-report":
		return true
	}
	return false
}

func isSystem(addr string) bool {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return false
	}
	return systemLocal.MatchString(addr[:at])
}

func isOwn(addr string, own []string) bool {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return false
	}
	for _, o := range own {
		if strings.EqualFold(strings.TrimSpace(o), addr) {
			return true
		}
	}
	return false
}

// loops reports whether an X-Loop value names one of our addresses.
func loops(xloop, own []string) bool {
	for _, v := range xloop {
		v = strings.ToLower(v)
		for _, o := range own {
			if o = strings.ToLower(strings.TrimSpace(o)); o != "" && strings.Contains(v, o) {
				return true
			}
		}
	}
	return false
}

func buildReply(m *mailparse.Message, in Input, cfg Config, d Decision, status entitlement.Status) *Reply {
	from := cleanAddr(m.From.Addr) // non-empty: otherwise suppressed as null_sender
	to := from
	if t, _ := entitlement.ReplyTarget(m, in.Entitlement.VerifiedSender); t != "" {
		if t = cleanAddr(t); t != "" && !isOwn(t, cfg.OwnAddresses) {
			to = t
		}
	}
	r := &Reply{
		To:           []string{to},
		Cc:           []string{},
		Subject:      ReplySubject(d.TicketID, m.Subject),
		TemplateFile: templates.TemplateName(string(d.Action), string(status)),
		InReplyTo:    cleanMsgID(m.MessageID),
		References:   references(m),
		MessageID:    ReplyMessageID(d.TicketID, m.MessageID, in.ContentKey, cfg.OwnAddresses),
	}
	switch d.Action {
	case LapsedNotice:
		r.Template = KindLapsed
		if s := cleanAddr(cfg.SalesAddress); s != "" && !strings.EqualFold(s, to) {
			r.Cc = append(r.Cc, s)
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
