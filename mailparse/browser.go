package mailparse

import (
	"cmp"
	"regexp"
	"strconv"
	"strings"
)

// Browser names, normalised.
const (
	BrowserEdge    = "Edge"
	BrowserChrome  = "Chrome"
	BrowserFirefox = "Firefox"
	BrowserSafari  = "Safari"
	BrowserOpera   = "Opera"
	BrowserIE      = "Internet Explorer"
)

var (
	uaTokens = []string{"edg/", "edge/", "edga/", "edgios/", "opr/", "firefox/", "fxios/", "chrome/", "crios/", "trident/", "msie ", "safari/"}
	// uaBrowsers are read from a User-Agent in this order (Edge and Opera
	// also say Chrome and Safari); Trident/7.0 is IE 11.
	uaBrowsers = []struct {
		re   *regexp.Regexp
		name string
	}{
		{regexp.MustCompile(`\bedg(?:e|a|ios)?/(\d+(?:\.\d+)*)`), BrowserEdge},
		{regexp.MustCompile(`\bopr/(\d+(?:\.\d+)*)`), BrowserOpera},
		{regexp.MustCompile(`\b(?:firefox|fxios)/(\d+(?:\.\d+)*)`), BrowserFirefox},
		{regexp.MustCompile(`\bmsie (\d+)`), BrowserIE},
		{regexp.MustCompile(`\btrident/(\d+)`), BrowserIE},
		{regexp.MustCompile(`\b(?:chrome|crios)/(\d+(?:\.\d+)*)`), BrowserChrome},
		{regexp.MustCompile(`\bversion/(\d+(?:\.\d+)*).*\bsafari/`), BrowserSafari},
		{regexp.MustCompile(`safari/`), BrowserSafari},
	}
	// versionAfterRe reads the version after a browser name: " 118.0.5993.88",
	// " Version 85.0.564.51", " (version 17.1)", ": 119", " v104".
	versionAfterRe = regexp.MustCompile(`^\s*(?:browser\s*)?(?:\(?\s*(?:version|ver\.?|v\.?)\s*)?[:\-]?\s*(\d{1,3}(?:\.\d+){0,3})`)
	ieRe           = regexp.MustCompile(`^ie\s?(\d{1,2})(?:\.0)?`)
)

// findBrowser reads a pasted User-Agent, else a browser's name.
func findBrowser(orig, lower string) *Browser {
	return cmp.Or(findUA(lower), findNamedBrowser(orig, lower))
}

// findUA reads the first pasted User-Agent string.
func findUA(lower string) *Browser {
	first := strings.Index(lower, "msie ")
	limit := len(lower)
	if first >= 0 {
		limit = first
	}
	for i := 0; i < limit; {
		j := strings.IndexByte(lower[i:limit], '/')
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		for _, t := range uaTokens {
			if tok := t[:len(t)-1]; t[len(t)-1] == '/' && strings.HasSuffix(lower[:at], tok) {
				first = at - len(tok)
				break
			}
		}
		if first >= 0 && first < at {
			break
		}
	}
	if first < 0 {
		return nil
	}
	line := lineAt(lower, first)
	// A User-Agent starts at its "Mozilla/": an example if that follows "e.g.".
	ua := first
	if start := strings.LastIndexByte(lower[:first], '\n') + 1; strings.Contains(lower[start:first], "mozilla/") {
		ua = start + strings.Index(lower[start:first], "mozilla/")
	}
	if isExample(lower, ua) {
		return nil
	}
	for _, ua := range uaBrowsers {
		if m := ua.re.FindStringSubmatch(line); m != nil {
			v := strings.Join(m[1:], "")
			if n, err := strconv.Atoi(v); strings.HasPrefix(m[0], "trident/") {
				v = ""
				if err == nil && n >= 4 && n <= 7 {
					v = strconv.Itoa(n + 4)
				}
			}
			return &Browser{ua.name, v}
		}
	}
	return nil
}

// browserNames: a weak name ("edge", "opera") without a version counts only
// as weakNameCounts says.
var browserNames = []struct {
	anchor, name string
	weak         bool
}{
	{"edge", BrowserEdge, true},
	{"chrome", BrowserChrome, false},
	{"firefox", BrowserFirefox, false},
	{"safari", BrowserSafari, false},
	{"opera", BrowserOpera, true},
	{"internet explorer", BrowserIE, false},
}

// findNamedBrowser finds the earliest browser name given with a version,
// else the earliest name without one. orig is the text lower was made from.
func findNamedBrowser(orig, lower string) *Browser {
	var withV, withoutV *Browser
	atV, atNoV := -1, -1
	onBrowserLine := lineMemo{s: lower, word: "browser", start: -1, end: -1}
	for _, bn := range browserNames {
		for at := range indexes(lower, bn.anchor) {
			if atV >= 0 && at > atV {
				break
			}
			if at > 0 && isAlnum(lower[at-1]) || isExample(lower, at) {
				continue
			}
			end := at + len(bn.anchor)
			if end < len(lower) && isLetter(lower[end]) {
				continue
			}
			version := ""
			if m := versionAfterRe.FindStringSubmatch(window(lower, end, 40)); m != nil {
				version = m[1]
			}
			if version != "" {
				if atV < 0 || at < atV {
					withV, atV = &Browser{bn.name, version}, at
				}
				break
			}
			if atNoV >= 0 && at > atNoV {
				continue
			}
			if bn.weak && !weakNameCounts(orig, lower, at, end, &onBrowserLine) {
				continue
			}
			withoutV, atNoV = &Browser{bn.name, ""}, at
		}
	}
	// "IE11", "IE 11".
	if v, at := findIE(lower, atV); at >= 0 {
		withV = &Browser{BrowserIE, v}
	}
	if withV != nil {
		return withV
	}
	return withoutV
}

// findIE finds "IE11" or "IE 11" (versions 5 to 11) before limit (any
// position if limit < 0): the version and its position, or -1.
func findIE(lower string, limit int) (string, int) {
	for at := range indexes(lower, "ie") {
		if limit >= 0 && at > limit {
			break
		}
		if at > 0 && isAlnum(lower[at-1]) {
			continue
		}
		m := ieRe.FindStringSubmatch(window(lower, at, 8))
		if m == nil {
			continue
		}
		if e := at + len(m[0]); e < len(lower) && isAlnum(lower[e]) {
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n < 5 || n > 11 || isExample(lower, at) {
			continue
		}
		return m[1], at
	}
	return "", -1
}

// weakNameCounts decides whether "edge" or "opera" without a version names
// the browser: "Microsoft Edge", a "browser" on the line, or the capitalised
// name ending a phrase ("… on Windows Server 2019, Edge.").
func weakNameCounts(orig, lower string, at, end int, onBrowserLine *lineMemo) bool {
	pre := strings.TrimRight(linePrefix(lower, at, 20), " \t")
	if strings.HasSuffix(pre, "microsoft") || onBrowserLine.has(at) {
		return true
	}
	if len(orig) != len(lower) || orig[at] < 'A' || orig[at] > 'Z' {
		return false
	}
	if end >= len(lower) {
		return true
	}
	switch lower[end] {
	case '.', ',', ';', ':', ')', '!', '\n', '/':
		return true
	}
	rest := strings.TrimLeft(window(lower, end, 12), " \t")
	return strings.HasPrefix(rest, "on ") || strings.HasPrefix(rest, "and ") || strings.HasPrefix(rest, "with ")
}

// lineMemo answers whether the line of s at a position holds word, looking
// at each line once for positions that increase (a keyword repeated along
// one long line must not rescan it each time).
type lineMemo struct {
	s, word    string
	start, end int // the line looked at last, s[start:end]; -1 before the first
	found      bool
}

func (lm *lineMemo) has(i int) bool {
	if i < lm.start || i > lm.end {
		lm.start = strings.LastIndexByte(lm.s[:i], '\n') + 1
		lm.end = len(lm.s)
		if k := strings.IndexByte(lm.s[i:], '\n'); k >= 0 {
			lm.end = i + k
		}
		lm.found = strings.Contains(lm.s[lm.start:lm.end], lm.word)
	}
	return lm.found
}
