package mailparse

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// line is one line of the customer's own text, trimmed, and its ASCII
// lower-cased form.
type line struct{ t, lt string }

// ownLines returns the lines of the customer's own text (ownText) up to a
// signature ("-- ") or a closing ("Kind regards,"). lower is
// asciiLower(text).
func ownLines(text, lower string) []line {
	text, lower = text[:min(len(text), maxProseBytes)], lower[:min(len(lower), maxProseBytes)]
	out := make([]line, 0, strings.Count(text, "\n")+1)
	off := 0
	for l := range strings.SplitSeq(text, "\n") {
		ll := lower[off : off+len(l)]
		off += len(l) + 1
		t, lt := strings.TrimSpace(l), strings.TrimSpace(ll)
		if l == "-- " || t == "--" || t == "__" || len(lt) < 40 && isClosing(lt) {
			break
		}
		out = append(out, line{t, lt})
	}
	return out
}

var closings = map[string]bool{
	"thanks": true, "thank you": true, "thanks in advance": true, "many thanks": true, "thanks again": true,
	"regards": true, "kind regards": true, "best regards": true, "warm regards": true, "kindest regards": true,
	"best": true, "cheers": true, "sincerely": true, "yours sincerely": true, "yours faithfully": true, "thx": true,
	"mit freundlichen grüßen": true, "viele grüße": true, "beste grüße": true, "cordialement": true,
	"bien cordialement": true, "merci": true, "よろしくお願いいたします。": true, "よろしくお願いいたします": true,
	"よろしくお願いします": true, "よろしくお願いします。": true,
}

func isClosing(lt string) bool {
	lt = strings.TrimRight(lt, ",.!- ")
	return closings[lt]
}

var greetingRe = regexp.MustCompile(`^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening|day)|greetings|guten tag|hallo|bonjour|g'day)\b`)

// fieldLineRe recognises labelled field lines ("Build Number: 8973").
var fieldLineRe = regexp.MustCompile(`^(?:[-*•]\s*)?(?:support\s+)?(?:ticket(?:\s*id)?|build(?:\s*(?:number|no\.?|#))?|passwordstate\s+build(?:\s*number)?|(?:web\s*)?server(?:\s*os)?|server-betriebssystem|os|operating\s*system|browser(?:\s*version)?|version|(?:customer\s*)?name|company|e-?mail|phone|tel|mobile|subject|date|from|to|cc|sent|licen[cs]e|screenshots?|ビルド番号|サーバー|ブラウザ)\s*[:\-–=]`)

// isFieldLine reports whether lt (lower-cased) is a labelled field line.
func isFieldLine(lt string) bool {
	// A label is short: its separator comes early.
	return strings.ContainsAny(lt[:min(len(lt), 48)], ":-–=") && fieldLineRe.MatchString(lt)
}

// isGreeting reports whether lt is a short greeting line ("Hi team,").
func isGreeting(lt string) bool {
	// Every greeting starts with h, d, g or b.
	return len(lt) <= 60 && strings.IndexByte("hdgb", lt[0]) >= 0 && greetingRe.MatchString(lt) && countWords(lt) <= 5
}

// descriptionRe finds a "Description:" section.
var descriptionRe = regexp.MustCompile(`^(?:problem\s+|issue\s+)?description\s*[:\-–]\s*(.*)$`)

// hasDescription: a "Description:" section with at least three words, or at
// least twelve words of the customer's own prose (greetings and labelled
// fields not counted).
func hasDescription(lines []line) bool {
	words := 0
	for i, l := range lines {
		lt := l.lt
		if lt == "" {
			continue
		}
		if strings.Contains(lt, "description") {
			if m := descriptionRe.FindStringSubmatch(lt); m != nil {
				n := countWords(m[1])
				for k := i + 1; k < len(lines) && k < i+10 && n < 3; k++ {
					if lines[k].lt == "" || isFieldLine(lines[k].lt) || promptRe.MatchString(lines[k].lt) {
						break
					}
					n += countWords(lines[k].t)
				}
				if n >= 3 {
					return true
				}
				continue
			}
		}
		if isFieldLine(lt) || isGreeting(lt) || promptRe.MatchString(lt) {
			continue // labels, greetings and a form's prompts are not the customer's words
		}
		words += countWords(l.t)
		if words >= 12 {
			return true
		}
	}
	return false
}

// countWords counts words of at least two letters; CJK text (no spaces)
// counts one word per two characters.
func countWords(s string) int {
	n, cjk := 0, 0
	letters := 0
	flush := func() {
		if letters >= 2 {
			n++
		}
		letters = 0
	}
	for _, r := range s {
		if r < utf8.RuneSelf {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				letters++
			} else if r != '\'' && r != '-' {
				flush()
			}
			continue
		}
		switch {
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
			flush()
			cjk++
		case unicode.IsLetter(r):
			letters++
		case r == '\'' || r == '’' || r == '-':
		default:
			flush()
		}
	}
	flush()
	return n + cjk/2
}

var (
	stepsPhraseRe = regexp.MustCompile(`steps? to (?:reproduce|replicate|recreate)|how to (?:reproduce|replicate)|repro(?:duction)? steps|^to (?:reproduce|replicate)\b|\bstep\s*1\b|^steps\s*:`)
	numberedRe    = regexp.MustCompile(`^(?:\(?(\d{1,2})[.):]|step\s*(\d{1,2})\s*[:.)\-]?)\s+\S`)
	bulletRe      = regexp.MustCompile(`^[-*•·]\s+(\S+)`)
)

var actionVerbs = map[string]bool{
	"open": true, "click": true, "go": true, "navigate": true, "select": true, "enter": true, "type": true,
	"press": true, "choose": true, "log": true, "login": true, "sign": true, "add": true, "edit": true,
	"delete": true, "run": true, "start": true, "try": true, "save": true, "fill": true, "search": true,
	"browse": true, "upload": true, "export": true, "import": true, "tick": true, "untick": true,
	"check": true, "uncheck": true, "expand": true, "close": true, "restart": true, "change": true,
	"set": true, "create": true, "remove": true, "copy": true, "paste": true, "launch": true, "visit": true,
}

// filledIn reports whether the lines after a prompt answer it: the next
// non-empty line is neither another prompt nor a labelled field.
func filledIn(after []line) bool {
	for _, l := range after[:min(len(after), 5)] {
		if l.lt != "" {
			return !promptRe.MatchString(l.lt) && !isFieldLine(l.lt)
		}
	}
	return false
}

// hasSteps: a "steps to reproduce" phrase, "Step 1", a numbered list of at
// least two items starting at 1, or a bulleted list of at least two items one
// of which starts with an action ("- click …").
func hasSteps(lines []line) bool {
	numbered, next, bullets, actions := 0, 1, 0, 0
	for i, l := range lines {
		lt := l.lt
		if lt == "" {
			continue
		}
		// Every alternative holds "step", "repro" or "replicat": only such
		// lines are worth the expression. A form's prompt counts only when
		// something was filled in below it.
		if (strings.Contains(lt, "step") || strings.Contains(lt, "repro") || strings.Contains(lt, "replicat")) && stepsPhraseRe.MatchString(lt) &&
			(!promptRe.MatchString(lt) || filledIn(lines[i+1:])) {
			return true
		}
		c := lt[0]
		// A line starting with 's' can only be a numbered "step 2" item.
		isNum := isDigit(c) || c == '(' || c == 's' && strings.HasPrefix(lt, "step")
		// bulletRe's non-ASCII bullets are "•" and "·".
		isBullet := c == '-' || c == '*' || c >= utf8.RuneSelf && (strings.HasPrefix(lt, "•") || strings.HasPrefix(lt, "·"))
		if !isNum && !isBullet || isFieldLine(lt) {
			continue
		}
		if m := numberedRe.FindStringSubmatch(lt); m != nil {
			n, _ := strconv.Atoi(m[1] + m[2]) // "1." or "step 1"
			if n == 1 {
				numbered, next = 1, 2
			} else if n == next && numbered > 0 {
				numbered++
				next++
			}
			if numbered >= 2 {
				return true
			}
			continue
		}
		if m := bulletRe.FindStringSubmatch(lt); m != nil {
			bullets++
			w := strings.TrimRight(m[1], ",.:;")
			if actionVerbs[w] {
				actions++
			}
			if bullets >= 2 && actions >= 1 {
				return true
			}
		}
	}
	return false
}
