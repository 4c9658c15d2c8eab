package mailparse

import (
	"regexp"
	"strings"
)

var (
	winOSRe    = regexp.MustCompile(`^(?:windows|win)\s*-?\s*(?:server\s*|srv\s*)?(20(?:03|08|12|16|19|22|25)|2k(?:3|8|12|16|19|22))(\s*r2)?`)
	winDeskRe  = regexp.MustCompile(`^(?:windows|win)\s*(10|11)`)
	serverOSRe = regexp.MustCompile(`^server\s*(20(?:03|08|12|16|19|22|25))(\s*r2)?`)
	r2Re       = regexp.MustCompile(`^(2008|2012)\s*r2`)
	// osLabelRe says a line talks about the server's operating system, which
	// is required before "Windows 10/11" (usually the customer's desktop).
	osLabelRe = regexp.MustCompile(`server|\bos\b|operating system|\bhost(?:ed)? on|installed on|\brunning on`)
)

// osKey canonicalises an OS name: "windows server 2012 r2", "windows 10"; ""
// when s names no Windows version.
func osKey(lower string) (key string, n int) {
	if m := winOSRe.FindStringSubmatch(lower); m != nil {
		return serverKey(m[1], m[2] != ""), len(m[0])
	}
	if m := winDeskRe.FindStringSubmatch(lower); m != nil && (len(lower) == len(m[0]) || !isAlnum(lower[len(m[0])])) {
		return "windows " + m[1], len(m[0])
	}
	return "", 0
}

func serverKey(year string, r2 bool) string {
	if y, ok := strings.CutPrefix(year, "2k"); ok { // 2k3, 2k12
		year = "20" + strings.Repeat("0", 2-len(y)) + y
	}
	k := "windows server " + year
	if r2 {
		k += " r2"
	}
	return k
}

// displayOS turns a key into the display form ("Windows Server 2012 R2").
func displayOS(key string) string {
	s := strings.Replace(key, "windows", "Windows", 1)
	s = strings.Replace(s, "server", "Server", 1)
	return strings.Replace(s, " r2", " R2", 1)
}

// osList is a configured OS list prepared for lookups.
type osList struct {
	byKey        map[string]string // canonical Windows key -> configured name
	literal      []string          // other names, lower-cased, searched verbatim
	literalNames []string
}

// newOSList prepares the configured names for lookups.
func newOSList(names []string) *osList {
	ol := &osList{byKey: make(map[string]string, len(names))}
	for _, n := range names {
		ln := strings.ToLower(strings.Join(strings.Fields(n), " "))
		if ln == "" {
			continue
		}
		if k, l := osKey(ln); k != "" && l == len(ln) {
			if _, dup := ol.byKey[k]; !dup {
				ol.byKey[k] = n
			}
			continue
		}
		ol.literal = append(ol.literal, ln)
		ol.literalNames = append(ol.literalNames, n)
	}
	return ol
}

type osHit struct {
	at  int
	key string
}

// find returns the server OS the text names first: a configured name, or a
// Windows version outside the list by its canonical name.
func (ol *osList) find(lower string) string {
	best := osHit{at: -1}
	take := func(at int, key string) {
		if best.at < 0 || at < best.at {
			best = osHit{at, key}
		}
	}
	// "Windows Server 2019", "Win2019", "Windows 2016", "Windows 10" (labelled).
	for at := range indexes(lower, "win") {
		if best.at >= 0 && at > best.at {
			break
		}
		if at > 0 && isLetter(lower[at-1]) {
			continue
		}
		key, n := osKey(window(lower, at, 40))
		if key == "" || at+n < len(lower) && isAlnum(lower[at+n]) || isExample(lower, at) {
			continue
		}
		if strings.HasPrefix(key, "windows server") || osLabelRe.MatchString(linePrefix(lower, at, 80)) {
			take(at, key)
			break
		}
	}
	// "Server 2019" (not "SQL Server 2019").
	for at := range indexes(lower, "server") {
		if best.at >= 0 && at > best.at {
			break
		}
		if at > 0 && isLetter(lower[at-1]) {
			continue
		}
		m := serverOSRe.FindStringSubmatch(window(lower, at, 30))
		if m == nil {
			continue
		}
		if e := at + len(m[0]); e < len(lower) && isAlnum(lower[e]) {
			continue
		}
		pre := strings.TrimRight(linePrefix(lower, at, 20), " \t")
		if strings.HasSuffix(pre, "sql") || strings.HasSuffix(pre, "exchange") || strings.HasSuffix(pre, "sharepoint") || isExample(lower, at) {
			continue
		}
		take(at, serverKey(m[1], m[2] != ""))
		break
	}
	// "2012 R2".
	for at := range indexes(lower, "r2") {
		if best.at >= 0 && at > best.at {
			break
		}
		if at+2 < len(lower) && isAlnum(lower[at+2]) {
			continue
		}
		start := at - 6
		if start < 0 {
			continue
		}
		for start < at && !isDigit(lower[start]) {
			start++
		}
		if start > 0 && isAlnum(lower[start-1]) {
			continue
		}
		if m := r2Re.FindStringSubmatch(lower[start : at+2]); m != nil && len(m[0]) == at+2-start && !isExample(lower, start) {
			take(start, serverKey(m[1], true))
			break
		}
	}
	// Configured names that are not Windows versions are looked up verbatim.
	for i, ln := range ol.literal {
		for at := range indexes(lower, ln) {
			if !isExample(lower, at) {
				take(at, "name:"+ol.literalNames[i])
				break
			}
		}
	}
	if best.at < 0 {
		return ""
	}
	if name, ok := strings.CutPrefix(best.key, "name:"); ok {
		return name
	}
	if n, ok := ol.byKey[best.key]; ok {
		return n
	}
	// A Windows version outside the configured list keeps its canonical
	// name, so staff see what the customer runs.
	return displayOS(best.key)
}
