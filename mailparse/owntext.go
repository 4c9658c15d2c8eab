package mailparse

import (
	"regexp"
	"strings"
)

// ownText returns text without what the customer quoted: lines starting
// with ">" are left out, and the text ends at the header of a quoted reply
// ("-----Original Message-----", "On … wrote:", Outlook's "From: … Sent:
// …"). lower is asciiLower(text); both results keep that relation.
func ownText(text, lower string) (string, string) {
	var b, lb strings.Builder
	for len(text) > 0 {
		l, ll := text, lower
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, ll, text, lower = text[:i+1], lower[:i+1], text[i+1:], lower[i+1:]
		} else {
			text, lower = "", ""
		}
		if isReplyHeader(strings.TrimSpace(ll), lower) {
			break
		}
		if strings.HasPrefix(strings.TrimSpace(l), ">") {
			continue
		}
		b.WriteString(l)
		lb.WriteString(ll)
	}
	return b.String(), lb.String()
}

// isReplyHeader reports whether the trimmed, lower-cased line lt starts a
// quoted reply; next is the lower-cased text after it.
func isReplyHeader(lt, next string) bool {
	if strings.HasPrefix(lt, "-----original message") || strings.HasPrefix(lt, "________________") ||
		(strings.HasPrefix(lt, "on ") && strings.HasSuffix(lt, "wrote:")) {
		return true
	}
	if strings.HasPrefix(lt, "from:") {
		if i := strings.IndexByte(next, '\n'); i >= 0 {
			next = next[:i]
		}
		return strings.HasPrefix(strings.TrimSpace(next), "sent:")
	}
	return false
}

// exampleRe ends in an example's lead-in: "e.g. ", "for example ", "such
// as ", with no end of sentence since (a dot inside "5.0" is none).
var exampleRe = regexp.MustCompile(`(?:\be\.?g\b\.?|\bfor example\b|\bfor instance\b|\bsuch as\b)(?:[^.;!?\n]|\.\S)*$`)

// isExample reports whether the value at position at of the lower-cased
// text is an example ("Browser: e.g. Edge 85"), which is never data.
func isExample(lower string, at int) bool {
	return exampleRe.MatchString(linePrefix(lower, at, 60))
}

// promptRe recognises the prompt of a form left as it was ("Description of
// what you were doing…", "Instructions on how to reproduce the error"):
// nothing after it on its line.
var promptRe = regexp.MustCompile(`^(?:description of|instructions (?:on|for)|steps to (?:reproduce|replicate)|how to (?:reproduce|replicate)|please (?:describe|provide|enter|attach|include|list|give)|describe (?:the|your|what|how)|what you were doing)\b[^:]*(?::|…|\.\.\.)?\s*$`)
