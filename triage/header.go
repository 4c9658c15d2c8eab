package triage

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"supportd/internal/mailtext"
)

// MaxHeaderRunes bounds a header text built from the incoming message (a reply
// or staff subject, a display name).
const MaxHeaderRunes = 200

// maxReferences is how many References a reply keeps (the most recent).
const maxReferences = 20

// SanitizeHeader makes untrusted text safe for an unstructured header field
// (RFC 5322 §2.2.1): invalid UTF-8 is replaced, CR, LF and every other control
// or line-separator character becomes a space, invisible format characters
// (bidi overrides and isolates, zero-width spaces and joiners, BOM) go, runs of white space collapse to
// one space, the result is trimmed and cut to MaxHeaderRunes runes (ending in
// "…" when cut). Encoding for the wire (RFC 2047) is the writer's job.
func SanitizeHeader(s string) string {
	return mailtext.Sanitize(s, MaxHeaderRunes)
}

func sanitize(s string, limit int) string { return mailtext.Sanitize(s, limit) }

func truncate(s string, limit int) string { return mailtext.Truncate(s, limit) }

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
	if id, ok := mailtext.MsgID(id); ok {
		return "<" + id + ">"
	}
	return ""
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
	prefix := "[P" + strconv.Itoa(priority) + "][" + sanitize(statusKeyword, 20) + "] "
	if ticket != "" {
		prefix = "[" + ticket + "]" + prefix
	}
	s := strings.Join(strings.Fields(bracketTag.ReplaceAllString(SanitizeHeader(subject), " ")), " ")
	if s == "" {
		s = "(no subject)"
	}
	return prefix + truncate(s, MaxHeaderRunes-utf8.RuneCountInString(prefix))
}
