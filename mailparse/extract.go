package mailparse

import "strings"

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

// maxFieldBytes bounds the body text searched for the ticket id, build,
// server OS and browser: what a customer states comes in the first pages, and
// a pasted megabyte of log must not cost a megabyte of scanning per field.
const maxFieldBytes = 64 << 10

// maxProseBytes bounds the text examined by the description and steps
// heuristics (the customer's own words come first).
const maxProseBytes = 32 << 10

// Extract fills the support fields of m (TicketID, Build, BuildsMentioned,
// ServerOS, Browser, HasDescription, HasSteps) from m.Subject and m.Text. Parse calls it; it can
// also be used alone on a Message built by hand.
func (ps *Parser) Extract(m *Message) {
	if m == nil {
		return
	}
	text := m.Text
	if len(text) > maxFieldBytes {
		text = text[:maxFieldBytes]
	}
	orig := m.Subject + "\n" + text
	lower := asciiLower(orig)
	ns := len(m.Subject)
	m.TicketID = ps.ticket.find(m.Subject, lower[:ns])
	if m.TicketID == "" {
		m.TicketID = ps.ticket.find(text, lower[ns+1:])
	}
	// The customer's data is read from their own text: what they quote
	// does not count (the ticket id does: a quoted id marks a follow-up).
	ownBody, ownLower := ownText(text, lower[ns+1:])
	own, ownL := m.Subject+"\n"+ownBody, lower[:ns+1]+ownLower
	m.Build, m.BuildsMentioned = findBuilds(ownL)
	m.ServerOS = ps.oses.find(ownL)
	m.Browser = findBrowser(own, ownL)
	lines := ownLines(ownBody, ownLower)
	m.HasDescription = hasDescription(lines)
	m.HasSteps = hasSteps(lines)
	m.Problems = normaliseProblems(m.Problems)
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// hasDigit reports whether s holds an ASCII digit (what \d matches): a
// necessary condition of the expressions that read a build, year or version.
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
