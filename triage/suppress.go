package triage

import (
	"regexp"
	"strings"

	"supportd/entitlement"
	"supportd/mailparse"
)

// Suppress reasons (stable tokens, docs/design.md §6, §11, §13 and RFC 3834 §2).
const (
	ReasonAutoSubmitted        = "auto_submitted"
	ReasonPrecedence           = "precedence"
	ReasonList                 = "list"
	ReasonReport               = "report"
	ReasonNullSender           = "null_sender"
	ReasonSystemSender         = "system_sender"
	ReasonAutoResponseSuppress = "auto_response_suppress"
	ReasonOwnAddress           = "own_address"
	ReasonUnverifiedStaff      = "unverified_staff" // staff From, neither signed nor verified (§10)
	// The rate limits (ratelimit.go): the message is still a ticket and still
	// routed, only the automatic reply is withheld.
	ReasonRateLimit        = "rate_limit"         // limits.auto_replies_per_sender_per_day
	ReasonTicketRateLimit  = "ticket_rate_limit"  // one automatic reply per sender per ticket per 24 h
	ReasonDomainRateLimit  = "domain_rate_limit"  // limits.unknown_replies_per_domain_per_hour
	ReasonUnknownRateLimit = "unknown_rate_limit" // limits.unknown_replies_per_hour
)

// systemLocal matches the local part of an address that never reads replies:
// mailer-daemon, postmaster, no-reply, do-not-reply, bounce(s), each with any
// of "-", "_", "." or nothing between its words (mailer_daemon, no.reply),
// optionally followed by a tag ("bounces+123", "noreply-alerts").
var systemLocal = regexp.MustCompile(`(?i)^(mailer[-_.]?daemon|post[-_.]?master|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?)([+\-_.=].*)?$`)

// automaticReason returns why m is automatic mail that must never be answered
// (RFC 3834 §2, docs/design.md §6), or "" when it reads as written by a person.
func automaticReason(m *mailparse.Message, cfg Config) string {
	if m == nil {
		return ReasonNullSender
	}
	// Every copy counts, comments and all (mailparse keeps them); the
	// single lower-cased token is a fallback for a Message built by hand.
	// X-Autoreply and X-Autorespond are older vacation programs' marks.
	if AutoSubmitted(append(append([]string{m.AutoSubmitted}, m.AutoSubmittedAll...), m.XAutoreply...)...) {
		return ReasonAutoSubmitted
	}
	if BulkPrecedence(append([]string{m.Precedence}, m.PrecedenceAll...)...) {
		return ReasonPrecedence
	}
	if strings.TrimSpace(m.ListID) != "" || strings.TrimSpace(m.ListUnsubscribe) != "" {
		return ReasonList
	}
	if IsReport(m) {
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
	if IsOwn(from, cfg.OwnAddresses) || (m.Sender != nil && IsOwn(m.Sender.Addr, cfg.OwnAddresses)) ||
		IsOwn(m.ReturnPath, cfg.OwnAddresses) || loops(m.XLoop, cfg.OwnAddresses) {
		return ReasonOwnAddress
	}
	return ""
}

// AutoSubmitted reports whether any of the Auto-Submitted values (every copy
// of the header, in any order) marks the message as automatic: a first token
// other than "no", comments and parameters ignored (RFC 3834 §5, RFC 5322
// CFWS: "(vacation) auto-replied" is auto-replied). Several copies are
// already odd: any automatic one wins.
func AutoSubmitted(values ...string) bool {
	for _, v := range values {
		if t := headerToken(v); t != "" && t != "no" {
			return true
		}
	}
	return false
}

// BulkPrecedence reports whether any of the Precedence values is bulk, junk,
// list or auto_reply (comments ignored).
func BulkPrecedence(values ...string) bool {
	for _, v := range values {
		switch headerToken(v) {
		case "bulk", "junk", "list", "auto_reply", "auto-reply":
			return true
		}
	}
	return false
}

// headerToken is the first token of a structured header value, lower-cased,
// without comments (anywhere, nested) or parameters:
// "(c) Auto-Replied; x=1 (c)" → "auto-replied".
func headerToken(v string) string {
	v = entitlement.StripComments(v)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

// IsReport reports whether m is a delivery, read or feedback report.
func IsReport(m *mailparse.Message) bool {
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

// isSystem reports whether addr belongs to a mail system, not a person. A
// value without "@" is a bare local part, as in "Return-Path: <MAILER-DAEMON>".
func isSystem(addr string) bool {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	if addr == "" {
		return false
	}
	local := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local = addr[:at]
	}
	return local != "" && systemLocal.MatchString(local)
}

// IsOwn reports whether addr is one of our own addresses, also with a
// "+tag" (support+CS-000001@vendor.test reaches the same mailbox).
func IsOwn(addr string, own []string) bool {
	local, domain, ok := splitAddr(addr)
	if !ok {
		return false
	}
	local = untag(local)
	for _, o := range own {
		ol, od, ok := splitAddr(o)
		if ok && untag(ol) == local && od == domain {
			return true
		}
	}
	return false
}

// splitAddr splits a bare address into its lower-cased local part and domain.
func splitAddr(addr string) (local, domain string, ok bool) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	return addr[:at], strings.TrimSuffix(addr[at+1:], "."), true
}

// untag removes a "+tag" (sub-address) from a local part.
func untag(local string) string {
	if i := strings.IndexByte(local, '+'); i > 0 {
		return local[:i]
	}
	return local
}

// loops reports whether an X-Loop value names one of our addresses, also
// with a "+tag".
func loops(xloop, own []string) bool {
	for _, v := range xloop {
		lv := strings.ToLower(v)
		for _, o := range own {
			if o = strings.ToLower(strings.TrimSpace(o)); o != "" && strings.Contains(lv, o) {
				return true
			}
		}
		for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" \t<>,;\"()", r) }) {
			if IsOwn(tok, own) {
				return true
			}
		}
	}
	return false
}

// Automatic reports whether m is automatic mail that never gets an
// automatic reply (RFC 3834: auto-submitted, bulk, lists, reports, system
// and null senders, our own addresses).
func Automatic(m *mailparse.Message, cfg Config) bool { return automaticReason(m, cfg) != "" }
