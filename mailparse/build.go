package mailparse

import (
	"regexp"
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

func findBuild(lower string) int {
	for i := 0; ; {
		j := strings.Index(lower[i:], "build")
		if j < 0 {
			return 0
		}
		at := i + j
		i = at + 5
		if at > 0 && isAlnum(lower[at-1]) {
			continue
		}
		m := buildRe.FindStringSubmatchIndex(window(lower, at, 80))
		if m == nil {
			continue
		}
		end := at + m[3]
		if end < len(lower) && (isDigit(lower[end]) || lower[end] == '.' && end+1 < len(lower) && isDigit(lower[end+1])) {
			continue
		}
		if osBeforeBuildRe.MatchString(linePrefix(lower, at, 40)) {
			continue
		}
		n, err := strconv.Atoi(lower[at+m[2] : end])
		if err != nil || n == 0 {
			continue
		}
		return n
	}
}
