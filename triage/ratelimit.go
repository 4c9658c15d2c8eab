package triage

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"supportd/entitlement"
	"supportd/mailparse"
)

// Defaults of the rate limits (docs/design.md §11, §13), used when the Config field is 0.
const (
	DefaultRepliesPerDay                  = 10
	DefaultUnknownRepliesPerDomainPerHour = 5
	DefaultUnknownRepliesPerHour          = 50
)

// The windows the reply counters are read over.
const (
	SenderWindow  = 24 * time.Hour // replies per sender, per sender and ticket, sales copies per customer
	UnknownWindow = time.Hour      // replies to senders that are not known customers
)

// ReplyCounts are the automatic replies already recorded under the counters of
// a message (Counters), each over its window. Engine gathers them before Decide.
type ReplyCounts struct {
	Sender  int  // to the normalised reply target, last 24 h
	Ticket  int  // to the reply target on the message's ticket, last 24 h
	Domain  int  // to not-customer senders of the target's domain, last hour
	Unknown int  // to not-customer senders at all, last hour
	Sales   bool // sales were copied about the customer in the last 24 h
}

// Counters are the keys of the reply counters (the store's replies bucket) of
// a reply to target; "" for a counter that does not apply.
type Counters struct {
	Sender, Ticket, Domain, Unknown, Sales string
}

// CounterKeys names the counters of an automatic reply to target on ticket.
// The per-domain and global caps count replies to senders that are not known
// customers (unknown); customerID names the sales copy counter ("" none).
func CounterKeys(target, ticket, customerID string, unknown bool) Counters {
	var c Counters
	k := RateKey(target)
	if k == "" {
		return c
	}
	c.Sender = k
	if ticket = strings.ToLower(sanitize(ticket, 64)); ticket != "" {
		c.Ticket = "ticket:" + ticket + ":" + k
	}
	if unknown {
		c.Domain = "unknown-domain:" + k[strings.LastIndexByte(k, '@')+1:]
		c.Unknown = "unknown:*"
	}
	if customerID != "" {
		c.Sales = "sales:" + strings.ToLower(customerID)
	}
	return c
}

// gmailDomains are the domains whose mailboxes ignore dots in the local part,
// googlemail.com being gmail.com.
var gmailDomains = map[string]bool{"gmail.com": true, "googlemail.com": true}

// RateKey is the form of an address the rate limits count by (docs/design.md §13):
// lower case, without a "+tag"; for Gmail dots in the local part removed and
// googlemail.com folded into gmail.com — so target+1@gmail.com,
// t.arget@gmail.com and target@googlemail.com share one quota. "" for
// something that is not an address.
func RateKey(addr string) string {
	local, domain, ok := splitAddr(cleanAddr(addr))
	if !ok {
		return ""
	}
	local = untag(local)
	if gmailDomains[domain] {
		local, domain = strings.ReplaceAll(local, ".", ""), "gmail.com"
	}
	if local == "" {
		return ""
	}
	return local + "@" + domain
}

// ReplyTarget is where an automatic reply to m goes: the From address, or the
// Reply-To entitlement.ReplyTarget accepts (never one of our own addresses);
// "" when m has no usable From address.
func ReplyTarget(m *mailparse.Message, verified bool, cfg Config) string {
	if m == nil || m.From == nil {
		return ""
	}
	to := cleanAddr(m.From.Addr)
	if to == "" {
		return ""
	}
	if t, _ := entitlement.ReplyTarget(m, verified); t != "" {
		if t = cleanAddr(t); t != "" && !IsOwn(t, cfg.OwnAddresses) {
			to = t
		}
	}
	return to
}

// rateLimitReason returns the limit an automatic reply would exceed, or "".
func rateLimitReason(in Input, cfg Config, unknown bool) string {
	switch c := in.Replies; {
	case c.Ticket >= 1:
		return ReasonTicketRateLimit
	case c.Sender >= orDefault(cfg.RepliesPerDay, DefaultRepliesPerDay):
		return ReasonRateLimit
	case unknown && c.Domain >= orDefault(cfg.UnknownRepliesPerDomainPerHour, DefaultUnknownRepliesPerDomainPerHour):
		return ReasonDomainRateLimit
	case unknown && c.Unknown >= orDefault(cfg.UnknownRepliesPerHour, DefaultUnknownRepliesPerHour):
		return ReasonUnknownRateLimit
	}
	return ""
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// IsRateLimit reports whether a suppress reason is a rate limit: the message
// is a customer's question like any other (a ticket, routed), only its
// automatic reply was withheld.
func IsRateLimit(reason string) bool {
	switch reason {
	case ReasonRateLimit, ReasonTicketRateLimit, ReasonDomainRateLimit, ReasonUnknownRateLimit:
		return true
	}
	return false
}

// NoReplyText explains to staff why no automatic reply went out (the staff
// copy's X-Support-No-Reply-Reason), naming the limit and its setting.
func NoReplyText(reason string, cfg Config) string {
	switch reason {
	case "":
		return ""
	case ReasonRateLimit:
		return fmt.Sprintf("rate limit: this sender already got %d automatic replies in 24 h (limits.auto_replies_per_sender_per_day); answer by hand", orDefault(cfg.RepliesPerDay, DefaultRepliesPerDay))
	case ReasonTicketRateLimit:
		return "rate limit: this sender already got an automatic reply on this ticket in the last 24 h"
	case ReasonDomainRateLimit:
		return fmt.Sprintf("rate limit: %d automatic replies to unknown senders of this domain in the last hour (limits.unknown_replies_per_domain_per_hour)", orDefault(cfg.UnknownRepliesPerDomainPerHour, DefaultUnknownRepliesPerDomainPerHour))
	case ReasonUnknownRateLimit:
		return fmt.Sprintf("rate limit: %d automatic replies to unknown senders in the last hour (limits.unknown_replies_per_hour)", orDefault(cfg.UnknownRepliesPerHour, DefaultUnknownRepliesPerHour))
	case ReasonAutoSubmitted, ReasonPrecedence, ReasonList, ReasonReport, ReasonAutoResponseSuppress:
		return "automatic mail (" + reason + "): never answered automatically (RFC 3834)"
	case ReasonNullSender, ReasonSystemSender:
		return "sent by a mail system, not a person (" + reason + ")"
	case ReasonOwnAddress:
		return "sent by one of our own addresses (mail loop)"
	}
	return reason
}

// linkRe matches what a mail client would show as a link: a URL with a
// scheme, "www." names, and bare host names ending in an alphabetic top-level
// label, with any path (so "ASP.NET" counts too: a false positive costs an
// unknown sender a word of the echoed subject, a miss carries a spammer's link). Spammers put their link in the subject of a message
// from a forged sender so that our acknowledgement carries it to the victim.
var linkRe = regexp.MustCompile(`(?i)(?:\b[a-z][a-z0-9+.\-]{1,20}://[^\s<>"]+|\bmailto:[^\s<>"]+|\bwww\.[^\s<>"]+|\b(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,24}|xn--[a-z0-9\-]{1,59})\b(?:[/:?#][^\s<>"]*)?)`)

// StripLinks replaces every link of s with "[link removed]" (the subject of
// a reply to a sender that is not a known customer never echoes one).
func StripLinks(s string) string {
	return linkRe.ReplaceAllString(s, "[link removed]")
}
