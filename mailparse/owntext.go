package mailparse

import (
	"regexp"
	"strings"
)

// ownText returns text[:from] and the customer's own text after it: no line
// starting with ">", nothing from the header of a quoted reply on ("On …
// wrote:", "From: … Sent: …"). lower is asciiLower(text); the results keep
// that relation, and are prefixes of text and lower if no line is left out.
func ownText(text, lower string, from int) (string, string) {
	var b, lb strings.Builder
	start, i := 0, from // text[start:i] is own text not yet copied
	for i < len(text) {
		j := len(text)
		if k := strings.IndexByte(text[i:], '\n'); k >= 0 {
			j = i + k + 1
		}
		if isReplyHeader(strings.TrimSpace(lower[i:j]), lower[j:]) {
			break
		}
		if strings.HasPrefix(strings.TrimSpace(text[i:j]), ">") {
			b.WriteString(text[start:i])
			lb.WriteString(lower[start:i])
			start = j
		}
		i = j
	}
	if start == 0 {
		return text[:i], lower[:i]
	}
	b.WriteString(text[start:i])
	lb.WriteString(lower[start:i])
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
