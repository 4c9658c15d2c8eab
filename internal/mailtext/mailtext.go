// Package mailtext makes untrusted text safe for the headers supportd writes:
// one header sanitiser and one Message-ID cleaner for the decision (triage)
// and the composition (mailer) of every outgoing message. It is pure: no I/O.
package mailtext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMsgIDLen bounds a message id (without its angle brackets) copied into
// In-Reply-To or References.
const MaxMsgIDLen = 250

// Sanitize makes untrusted text safe for an unstructured header field (RFC
// 5322 §2.2.1): invalid UTF-8 is replaced, CR, LF and every other control or
// line-separator character becomes a space, invisible format characters (bidi
// overrides and isolates, zero-width spaces and joiners, BOM) go, runs of white
// space collapse to one space, the result is trimmed and cut to limit runes
// (ending in "…" when cut; limit <= 0: no cut). Encoding for the wire (RFC
// 2047) is the writer's job.
func Sanitize(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085':
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	return Truncate(strings.Join(strings.Fields(s), " "), limit)
}

// Truncate cuts s to at most limit runes, the last being "…" when cut.
func Truncate(s string, limit int) string {
	if limit <= 0 || utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return strings.TrimRightFunc(string(r[:limit-1]), unicode.IsSpace) + "…"
}

// MsgID returns the message id without its angle brackets, and whether it is
// fit for In-Reply-To and References: not empty, at most MaxMsgIDLen bytes,
// printable ASCII without white space or any of <>,;()"\ (outside RFC 5322
// §3.6.4's id-left/id-right; a comma or semicolon would read as a list
// separator to lenient parsers).
func MsgID(id string) (string, bool) {
	id = strings.TrimSpace(id)
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if id == "" || len(id) > MaxMsgIDLen {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`<>,;()"\`, c) >= 0 {
			return "", false
		}
	}
	return id, true
}
