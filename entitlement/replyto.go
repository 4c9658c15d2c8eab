package entitlement

import (
	"strings"

	"supportd/mailparse"
)

// ReplyTarget chooses where an automatic reply goes (docs/design.md §3). It returns the
// From address unless the message has a Reply-To that may be followed: any
// Reply-To for a verified sender, and for an unverified one only a Reply-To in
// the From address's own domain (otherwise anyone could forge From: a customer
// and Reply-To: themselves and read the contract details in our reply). The
// first acceptable Reply-To address wins and usedReplyTo is true. It returns
// "" when the message has no usable From address.
func ReplyTarget(m *mailparse.Message, verified bool) (addr string, usedReplyTo bool) {
	if m == nil || m.From == nil || !plausibleAddr(m.From.Addr) {
		return "", false
	}
	from := strings.TrimSpace(m.From.Addr)
	fromDomain := DomainOf(from)
	for _, rt := range m.ReplyTo {
		a := strings.TrimSpace(rt.Addr)
		if !plausibleAddr(a) {
			continue
		}
		if verified || DomainOf(a) == fromDomain {
			return a, true
		}
	}
	return from, false
}

// plausibleAddr accepts local@domain without spaces or control characters.
func plausibleAddr(a string) bool {
	a = strings.TrimSpace(a)
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return false
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' {
			return false
		}
	}
	return true
}
