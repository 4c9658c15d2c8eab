package entitlement

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// maxAuthResults bounds how many Authentication-Results values are examined; a
// message carrying more is odd and the rest are ignored.
const maxAuthResults = 50

// maxAuthResultLen bounds one header value; longer values are ignored.
const maxAuthResultLen = 16 << 10

// Verified reports whether a trusted server vouched for the From domain
// (docs/design.md §3). authResults are the raw Authentication-Results values, top to
// bottom; trustedIDs the authserv-ids of our own servers (case-insensitive).
//
// The sender is verified when a counted header shows dmarc=pass whose
// header.from equals fromDomain, or dkim=pass whose header.d (or the domain
// of header.i) aligns with fromDomain: the same organizational domain
// (relaxed alignment, RFC 7489 §3.1.1). orgDomain gives a domain's
// organizational domain (the public suffix plus one label, e.g.
// publicsuffix.EffectiveTLDPlusOne: the list lives at the edge, its package
// imports net/http); nil means the same domain, or one a subdomain of the other
// whose shorter side contains a dot. A result
// that names no domain never verifies: "dmarc=pass" alone says nothing about
// which From was judged (docs/design.md §13).
//
// Only the topmost header of each trusted authserv-id counts: our MTA prepends
// its header above anything the sender wrote, so a forged header bearing our id
// lower down is ignored (RFC 7601 §5 expects the MTA to remove those; we do not
// rely on it). A header that does not parse is ignored, but if it carries a
// trusted id it still takes that id's turn (fail closed).
func Verified(authResults []string, trustedIDs []string, fromDomain string, orgDomain func(string) (string, error)) bool {
	fromDomain = normDomain(fromDomain)
	if fromDomain == "" {
		return false
	}
	seen := make(map[string]bool)
	for i, v := range authResults {
		if i >= maxAuthResults {
			break
		}
		if len(v) > maxAuthResultLen {
			continue
		}
		id, results, err := authres.Parse(StripComments(v))
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" || !trusted(id, trustedIDs) || seen[id] {
			continue
		}
		seen[id] = true
		if err != nil {
			continue
		}
		if passes(results, fromDomain, orgDomain) {
			return true
		}
	}
	return false
}

func trusted(id string, trustedIDs []string) bool {
	for _, t := range trustedIDs {
		if strings.EqualFold(strings.TrimSpace(t), id) {
			return true
		}
	}
	return false
}

func passes(results []authres.Result, fromDomain string, orgDomain func(string) (string, error)) bool {
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DMARCResult:
			if r.Value != authres.ResultPass {
				continue
			}
			if normDomain(r.From) == fromDomain {
				return true
			}
		case *authres.DKIMResult:
			if r.Value != authres.ResultPass {
				continue
			}
			d := normDomain(r.Domain)
			if d == "" {
				d = DomainOf(r.Identifier)
			}
			if aligned(d, fromDomain, orgDomain) {
				return true
			}
		}
	}
	return false
}

// aligned is relaxed alignment (RFC 7489 §3.1.1): both domains have the same
// organizational domain. With the public-suffix list a public suffix itself
// ("com", "co.uk") aligns with nothing, and neither do two customers under
// one public suffix ("a.co.uk", "b.co.uk").
func aligned(a, b string, orgDomain func(string) (string, error)) bool {
	if a == "" || b == "" {
		return false
	}
	if orgDomain != nil {
		oa, err := orgDomain(a)
		if err != nil {
			return false
		}
		ob, err := orgDomain(b)
		return err == nil && oa == ob
	}
	if a == b {
		return true
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	return strings.Contains(a, ".") && strings.HasSuffix(b, "."+a)
}

func normDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.Trim(d, `"`)
	d = strings.TrimPrefix(d, "@")
	return strings.TrimSuffix(d, ".")
}

// StripComments removes RFC 5322 comments "(…)" (nested, with quoted-pairs)
// outside quoted strings: authres.Parse does not understand them, and real
// headers carry them ("mx.example.com (Postfix); dkim=pass (2048-bit key) …").
func StripComments(s string) string {
	var b strings.Builder
	depth := 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || inQuote):
			if depth == 0 {
				b.WriteByte(c)
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					b.WriteByte(' ')
				}
			}
		case c == '"':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '(' && !inQuote:
			depth = 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
