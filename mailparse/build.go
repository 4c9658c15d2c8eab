package mailparse

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// buildRe is matched at each "build" of the lower-cased text: "build 8973",
// "build number: 8973", "build no. 9653", "build #9100", "build number is
// 8973", "build number\t8973".
var buildRe = regexp.MustCompile(`^build(?:\s*(?:number|num|no|nr|version|ver|id)\b)?\s*\.?\s*(?:is|was|=|:|-|–|#)?\s*[:#.]?\s*v?(\d{4,5})`)

// osBeforeBuildRe recognises an operating-system build ("Windows Server 2019
// build 17763", "OS build 19045"), which is not the product's.
var osBeforeBuildRe = regexp.MustCompile(`(?:\bos|\bwindows|\bwin|\bserver(?:\s*20\d\d(?:\s*r2)?)?|\bwindows\s*(?:10|11|server\s*20\d\d(?:\s*r2)?))\s*$`)

// labelLeadRe is what may stand before a build label on its line: a bullet
// and the product's name ("- Passwordstate Build Number: 8973").
var labelLeadRe = regexp.MustCompile(`^\s*(?:[-*•]\s*)?(?:(?:passwordstate|product|current)\s+)?$`)

// The build the customer says they are on now: a number preceded by
// "from X to", "upgraded to", "now on" (toBuildRe), and the X of "from X
// to Y" (fromBuildRe and the "to Y" after it). Matched at each 4-5 digit
// number against the text before (and after) it on its line.
const buildLead = `(?:build\s*(?:number\s*)?)?(?:#\s*)?v?`

var (
	toBuildRe   = regexp.MustCompile(`(?:\bfrom\s+` + buildLead + `\d{4,5}\s*(?:to|->|→)\s*|\b(?:upgraded|updated|upgrade|update|upgrading|updating|moved|migrated)(?:\s+\w+)?\s+to\s+|\bnow\s+(?:on|running|at)\s+)` + buildLead + `$`)
	fromBuildRe = regexp.MustCompile(`\bfrom\s+` + buildLead + `$`)
	toAfterRe   = regexp.MustCompile(`^\s*(?:to|->|→)\s*` + buildLead + `\d{4,5}\b`)
)

// buildMention is a build number of the customer's own text at a position.
type buildMention struct {
	at, n    int
	labelled bool // a "Build Number:" field
	current  bool // the target of an upgrade ("to 9785", "now on 9785")
}

// findBuilds reads the build the customer is on now (doc.go) from own (their
// own text, lower-cased), and every build mentioned, in order, each once;
// examples and operating-system builds do not count.
func findBuilds(own string) (int, []int) {
	var ms []buildMention
	for at := range indexes(own, "build") {
		if at > 0 && isAlnum(own[at-1]) {
			continue
		}
		m := buildRe.FindStringSubmatchIndex(window(own, at, 80))
		if m == nil {
			continue
		}
		n, ok := buildAt(own, at+m[2], at+m[3])
		lead := linePrefix(own, at, 40)
		if !ok || osBeforeBuildRe.MatchString(lead) {
			continue
		}
		labelled := labelLeadRe.MatchString(lead) && len(lead) < 40 && strings.ContainsAny(own[at:at+m[2]], ":=#\t\n-–")
		ms = append(ms, buildMention{at: at + m[2], n: n, labelled: labelled})
	}
	for i := 0; ; {
		j := strings.IndexAny(own[i:], "0123456789")
		if j < 0 {
			break
		}
		a, b := i+j, i+j+1
		for b < len(own) && isDigit(own[b]) {
			b++
		}
		i = b
		n, ok := buildAt(own, a, b)
		if !ok || b-a < 4 || b-a > 5 {
			continue
		}
		pre := linePrefix(own, a, 60)
		if !strings.Contains(pre, "to") && !strings.Contains(pre, "from") && !strings.Contains(pre, "now") && !strings.Contains(pre, "→") {
			continue
		}
		switch {
		case toBuildRe.MatchString(pre):
			ms = append(ms, buildMention{at: a, n: n, current: true})
		case fromBuildRe.MatchString(pre) && toAfterRe.MatchString(window(own, b, 40)):
			ms = append(ms, buildMention{at: a, n: n})
		}
	}
	slices.SortStableFunc(ms, func(a, b buildMention) int { return a.at - b.at })
	var all []int
	current, last, highest := 0, 0, 0
	for _, bm := range ms {
		if isExample(own, bm.at) {
			continue
		}
		if !slices.Contains(all, bm.n) {
			all = append(all, bm.n)
		}
		if bm.labelled && current == 0 {
			current = bm.n
		}
		if bm.current {
			last = bm.n
		}
		highest = max(highest, bm.n)
	}
	return cmp.Or(current, last, highest), all
}

// buildAt reads the build number own[a:b]: not part of a longer number or a
// dotted version ("17763.1234"), not zero.
func buildAt(own string, a, b int) (int, bool) {
	if b < len(own) && (isDigit(own[b]) || own[b] == '.' && b+1 < len(own) && isDigit(own[b+1])) {
		return 0, false
	}
	if a > 0 && (isDigit(own[a-1]) || own[a-1] == '.' && a > 1 && isDigit(own[a-2])) {
		return 0, false
	}
	n, err := strconv.Atoi(own[a:b])
	return n, err == nil && n != 0
}
