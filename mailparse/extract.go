package mailparse

import (
	"iter"
	"strings"
)

// DefaultServerOSes are the supported web-server operating systems used when
// Options.ServerOSes is nil.
var DefaultServerOSes = []string{
	"Windows Server 2012",
	"Windows Server 2012 R2",
	"Windows Server 2016",
	"Windows Server 2019",
	"Windows Server 2022",
	"Windows Server 2025",
	"Windows 10",
	"Windows 11",
}

// maxFieldBytes bounds the body text searched for fields: what a customer
// states comes first, and a pasted log must not be scanned per field.
const maxFieldBytes = 64 << 10

// maxProseBytes bounds the text examined by the description and steps
// heuristics (the customer's own words come first).
const maxProseBytes = 32 << 10

// Extract fills the support fields of m from m.Subject and m.Text; Parse
// calls it, and it works on a Message built by hand.
func (ps *Parser) Extract(m *Message) {
	if m == nil {
		return
	}
	text := m.Text[:min(len(m.Text), maxFieldBytes)]
	orig := m.Subject + "\n" + text
	lower := asciiLower(orig)
	ns := len(m.Subject) + 1
	m.TicketID = ps.ticket.find(m.Subject, lower[:ns-1])
	if m.TicketID == "" {
		m.TicketID = ps.ticket.find(text, lower[ns:])
	}
	// The customer's data is read from their own text: what they quote
	// does not count (the ticket id does: a quoted id marks a follow-up).
	own, ownL := ownText(orig, lower, ns)
	m.Build, m.BuildsMentioned = findBuilds(ownL)
	m.ServerOS = ps.oses.find(ownL)
	m.Browser = findBrowser(own, ownL)
	lines := ownLines(own[ns:], ownL[ns:])
	m.HasDescription = hasDescription(lines)
	m.HasSteps = hasSteps(lines)
	m.Problems = normaliseProblems(m.Problems)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// asciiLower lower-cases ASCII letters only, so byte offsets are unchanged.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// indexes yields the position of each occurrence of sub in s, in order.
func indexes(s, sub string) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; i <= len(s); i++ {
			j := strings.Index(s[i:], sub)
			if j < 0 || !yield(i+j) {
				return
			}
			i += j
		}
	}
}

// window returns s[i:i+n] (bounded).
func window(s string, i, n int) string {
	if i+n > len(s) {
		return s[i:]
	}
	return s[i : i+n]
}

// linePrefix returns the text of the line of s before position i (at most n
// bytes), looking back no further than n bytes.
func linePrefix(s string, i, n int) string {
	start := max(i-n, 0)
	if k := strings.LastIndexByte(s[start:i], '\n'); k >= 0 {
		start += k + 1
	}
	return s[start:i]
}

// lineAt returns the line of s containing position i.
func lineAt(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return s[start:]
	}
	return s[start : i+end]
}
