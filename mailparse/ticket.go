package mailparse

import (
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ticketMatcher finds ticket ids: the configured pattern, case-insensitive,
// tried where its literal prefix occurs when it has one.
type ticketMatcher struct {
	re       *regexp.Regexp // (?i)pattern
	anchored *regexp.Regexp // ^(?i:pattern), used at candidate positions
	prefix   string         // lower-cased ASCII literal prefix, "" if none
}

func compileTicket(pattern string) (*ticketMatcher, error) {
	re, err := regexp.Compile("(?i)" + pattern)
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		return nil, errors.New("it matches the empty string")
	}
	anchored, err := regexp.Compile("^(?i:" + pattern + ")")
	if err != nil {
		return nil, err
	}
	tm := &ticketMatcher{re: re, anchored: anchored}
	if cs, err := regexp.Compile(pattern); err == nil {
		if p, _ := cs.LiteralPrefix(); p != "" && strings.IndexFunc(p, func(r rune) bool { return r >= utf8.RuneSelf }) < 0 {
			tm.prefix = asciiLower(p)
		}
	}
	return tm, nil
}

// find returns the first match in s that is not glued to a neighbouring
// letter or digit, upper-cased. lower is asciiLower(s).
func (tm *ticketMatcher) find(s, lower string) string {
	ok := func(a, b int) bool { // not empty, not glued to a letter or digit
		return a < b && !(a > 0 && isAlnum(s[a-1]) && isAlnum(s[a])) &&
			!(b < len(s) && isAlnum(s[b-1]) && isAlnum(s[b]))
	}
	if tm.prefix != "" {
		for at := range indexes(lower, tm.prefix) {
			if loc := tm.anchored.FindStringIndex(window(s, at, 512)); loc != nil && ok(at, at+loc[1]) && !isExample(lower, at) {
				return strings.ToUpper(s[at : at+loc[1]])
			}
		}
		return ""
	}
	for _, loc := range tm.re.FindAllStringIndex(s, 1000) {
		if ok(loc[0], loc[1]) && !isExample(lower, loc[0]) {
			return strings.ToUpper(s[loc[0]:loc[1]])
		}
	}
	return ""
}
