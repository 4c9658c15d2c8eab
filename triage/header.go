package triage

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxHeaderRunes bounds a header text built from the incoming message (a reply
// or staff subject, a display name).
const MaxHeaderRunes = 200

// maxMsgIDLen bounds a message id copied into In-Reply-To/References.
const maxMsgIDLen = 250

// maxReferences is how many References a reply keeps (the most recent).
const maxReferences = 20

// SanitizeHeader makes untrusted text safe for an unstructured header field
// (RFC 5322 §2.2.1): invalid UTF-8 is replaced, CR, LF and every other control
// or line-separator character becomes a space, invisible format characters
// (bidi overrides and isolates, zero-width spaces and joiners, BOM) go, runs of white space collapse to
// one space, the result is trimmed and cut to MaxHeaderRunes runes (ending in
// "…" when cut). Encoding for the wire (RFC 2047) is the writer's job.
func SanitizeHeader(s string) string {
	return sanitize(s, MaxHeaderRunes)
}

func sanitize(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085':
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1 // invisible format characters: bidi overrides, zero-width, BOM
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, limit)
}

// truncate cuts s to at most limit runes, the last being "…" when cut.
func truncate(s string, limit int) string {
	if limit <= 0 || utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:limit-1]), unicode.IsSpace) + "…"
}

// cleanAddr returns a bare address (local@domain) fit for an address header, or
// "" when a fragment could break the header: white space, controls, or any of
// the specials that would start another address or a comment.
func cleanAddr(a string) string {
	a = strings.TrimSpace(a)
	if a == "" || len(a) > 320 || !utf8.ValidString(a) {
		return ""
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f || unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune(`<>,;:"()[]\`, r) {
			return ""
		}
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.Count(a, "@") != 1 {
		return ""
	}
	return a
}

// cleanMsgID returns a message id in angle brackets fit for In-Reply-To and
// References, or "" when it is empty or could break the header.
func cleanMsgID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" || len(id) > maxMsgIDLen {
		return ""
	}
	if !strings.HasPrefix(id, "<") {
		id = "<" + id
	}
	if !strings.HasSuffix(id, ">") {
		id += ">"
	}
	inner := id[1 : len(id)-1]
	if inner == "" {
		return ""
	}
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		// Outside RFC 5322 §3.6.4's id-left/id-right: a comma or semicolon
		// would read as a list separator to lenient parsers.
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`<>,;()"\`, c) >= 0 {
			return ""
		}
	}
	return id
}

// replyPrefix matches one leading reply marker: "Re:", "RE :", "AW:", "Sv:",
// "Re[2]:", "Antw:", "Odp:", "Vs:".
var replyPrefix = regexp.MustCompile(`(?i)^(re|aw|sv|antw|odp|vs)\s*(\[\d+\]|\(\d+\))?\s*:\s*`)

// stripTicketTag removes every "[ticket]" tag (case-insensitive) from s.
func stripTicketTag(s, ticket string) string {
	if ticket == "" {
		return s
	}
	tag := "[" + ticket + "]"
	var b strings.Builder
	for i := 0; i < len(s); {
		if i+len(tag) <= len(s) && strings.EqualFold(s[i:i+len(tag)], tag) {
			b.WriteByte(' ')
			i += len(tag)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	s = b.String()
	return strings.Join(strings.Fields(s), " ")
}

// ReplySubject is the subject of an automatic reply: "[CS-004211] Re: <subject>"
// with the original subject sanitised, its reply markers ("Re:", "AW:", …) and
// ticket tags removed so that neither is doubled, and the whole bounded by
// MaxHeaderRunes.
func ReplySubject(ticket, subject string) string {
	ticket = sanitize(ticket, 64)
	s := stripTicketTag(SanitizeHeader(subject), ticket)
	for {
		t := replyPrefix.ReplaceAllString(s, "")
		t = strings.TrimSpace(stripLeadingTag(t, ticket))
		if t == s {
			break
		}
		s = t
	}
	if s == "" {
		s = "(no subject)"
	}
	prefix := "Re: "
	if ticket != "" {
		prefix = "[" + ticket + "] Re: "
	}
	return prefix + truncate(s, MaxHeaderRunes-utf8.RuneCountInString(prefix))
}

func stripLeadingTag(s, ticket string) string {
	if ticket != "" && len(s) >= len(ticket)+2 && strings.EqualFold(s[:len(ticket)+2], "["+ticket+"]") {
		return s[len(ticket)+2:]
	}
	return s
}

// bracketTag matches one bracketed tag of a subject, "[P1]", "[ASUP]",
// "[CS-000900]", "[EXTERNAL]", in ASCII, fullwidth or lenticular brackets.
var bracketTag = regexp.MustCompile(`[\[［【][^\[\]［］【】]{0,64}[\]］】]`)

// StaffSubject is the subject of the staff copy: "[CS-004211][P1][ASUP] <subject>",
// the original subject sanitised and bounded. Every bracketed tag of the
// customer's text is removed: the tags staff read and filter on are ours
// alone, so "[P1][ASUP] Server down" from an unknown sender cannot pass for
// a P1 customer's message (issue 13 item 7).
func StaffSubject(ticket string, priority int, statusKeyword, subject string) string {
	ticket = sanitize(ticket, 64)
	prefix := "[" + ticket + "][P" + strconv.Itoa(priority) + "][" + sanitize(statusKeyword, 20) + "] "
	s := strings.Join(strings.Fields(bracketTag.ReplaceAllString(SanitizeHeader(subject), " ")), " ")
	if s == "" {
		s = "(no subject)"
	}
	return prefix + truncate(s, MaxHeaderRunes-utf8.RuneCountInString(prefix))
}
