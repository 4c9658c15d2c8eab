package entitlement

import (
	"fmt"
	"strings"
)

// Match kinds reported by Match and Result.MatchedBy.
const (
	ByContact = "contact"
	ByDomain  = "domain"
)

// Match finds the customer of a sender address: an exact (lower-cased) contact
// address first, then the address's domain against customer domains. A domain in
// publicDomains (gmail.com, …) never matches by domain, only by contact. It
// returns the customer and the match kind ("contact", "domain"), or nil and ""
// when nothing matches. Errors come from the Finder only.
func Match(f Finder, addr string, publicDomains []string) (*Customer, string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if f == nil || at <= 0 || at == len(addr)-1 {
		return nil, "", nil
	}
	c, err := f.CustomerByContact(addr)
	if err != nil {
		return nil, "", fmt.Errorf("match contact %q: %w", addr, err)
	}
	if c != nil {
		return c, ByContact, nil
	}
	domain := strings.TrimSuffix(addr[at+1:], ".")
	if IsPublicDomain(domain, publicDomains) {
		return nil, "", nil
	}
	c, err = f.CustomerByDomain(domain)
	if err != nil {
		return nil, "", fmt.Errorf("match domain %q: %w", domain, err)
	}
	if c != nil {
		return c, ByDomain, nil
	}
	return nil, "", nil
}

// IsPublicDomain reports whether domain is one of publicDomains (case-insensitive).
func IsPublicDomain(domain string, publicDomains []string) bool {
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	for _, p := range publicDomains {
		if strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".") == domain {
			return true
		}
	}
	return false
}

// DomainOf returns the lower-cased domain of an address ("" when there is none).
func DomainOf(addr string) string {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
}
