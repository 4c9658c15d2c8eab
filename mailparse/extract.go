package mailparse

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// DefaultServerOSes are the supported web-server operating systems used when
// Options.ServerOSes is nil.
var DefaultServerOSes = []string{
	"Windows Server 2012",
	"Windows Server 2012 R2",
	"Windows Server 2016",
	"Windows Server 2019",
	"Windows Server 2022",
	"Windows Server 2025",
	"Windows 10",
	"Windows 11",
}

// Browser names, normalised.
const (
	BrowserEdge    = "Edge"
	BrowserChrome  = "Chrome"
	BrowserFirefox = "Firefox"
	BrowserSafari  = "Safari"
	BrowserOpera   = "Opera"
	BrowserIE      = "Internet Explorer"
)

// maxFieldBytes bounds the body text searched for the ticket id, build,
// server OS and browser: what a customer states comes in the first pages, and
// a pasted megabyte of log must not cost a megabyte of scanning per field.
const maxFieldBytes = 64 << 10

// maxProseBytes bounds the text examined by the description and steps
// heuristics (the customer's own words come first).
const maxProseBytes = 32 << 10

// Extract fills the support fields of m (TicketID, Build, ServerOS, Browser,
// HasDescription, HasSteps) from m.Subject and m.Text. Parse calls it; it can
// also be used alone on a Message built by hand. An invalid
// Options.TicketPattern falls back to DefaultTicketPattern and adds the
// problem "bad_ticket_pattern".
func Extract(m *Message, opts *Options) {
	if m == nil {
		return
	}
	o := resolved(opts)
	extract(m, &o, nil)
}

// extract is Extract with resolved options. buf is a slice to reuse for the
// text's lines; the (cleared) slice is returned for the next call.
func extract(m *Message, o *Options, buf []line) []line {
	tm, err := ticketRegexp(o.TicketPattern)
	if err != nil {
		m.Problems = append(m.Problems, "bad_ticket_pattern")
		tm, _ = ticketRegexp(DefaultTicketPattern)
	}
	text := m.Text
	if len(text) > maxFieldBytes {
		text = text[:maxFieldBytes]
	}
	orig := origText{m.Subject, text}
	lower := orig.lower()
	ns := len(m.Subject)
	m.TicketID = findTicket(tm, m.Subject, lower[:ns])
	if m.TicketID == "" {
		m.TicketID = findTicket(tm, text, lower[ns+1:])
	}
	m.Build = findBuild(lower)
	m.ServerOS = findServerOS(lower, o.ServerOSes)
	m.Browser = findBrowser(orig, lower)
	lines := ownLines(buf[:0], text, lower[ns+1:])
	m.HasDescription = hasDescription(lines)
	m.HasSteps = hasSteps(lines)
	m.Problems = normaliseProblems(m.Problems)
	clear(lines) // do not keep this message's text alive
	return lines[:0]
}

// ticketMatcher finds ticket ids: the configured pattern, case-insensitive,
// with a fast path that looks for the pattern's literal prefix first.
type ticketMatcher struct {
	re       *regexp.Regexp // (?i)pattern
	anchored *regexp.Regexp // ^(?i:pattern), used at candidate positions
	prefix   anchor         // lower-cased literal prefix, "" if none
}

type compiled struct {
	tm  *ticketMatcher
	err error
}

// ticketCache holds compiled ticket patterns: compiling per message would cost
// more than the rest of the extraction. Patterns come from configuration, so
// the cache stays small.
var ticketCache sync.Map // string -> compiled

func ticketRegexp(pattern string) (*ticketMatcher, error) {
	if c, ok := ticketCache.Load(pattern); ok {
		cc := c.(compiled)
		return cc.tm, cc.err
	}
	tm, err := compileTicket(pattern)
	ticketCache.Store(pattern, compiled{tm, err})
	return tm, err
}

func compileTicket(pattern string) (*ticketMatcher, error) {
	re, err := regexp.Compile("(?i)" + pattern)
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		return nil, errEmptyMatch
	}
	tm := &ticketMatcher{re: re, anchored: regexp.MustCompile("^(?i:" + pattern + ")")}
	if cs, err := regexp.Compile(pattern); err == nil {
		if p, _ := cs.LiteralPrefix(); p != "" && isASCII(p) {
			tm.prefix = newAnchor(asciiLower(p))
		}
	}
	return tm, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

type emptyMatchError struct{}

func (emptyMatchError) Error() string { return "ticket pattern matches the empty string" }

var errEmptyMatch error = emptyMatchError{}

// findTicket returns the first match in s that is not glued to a neighbouring
// letter or digit, upper-cased. lower is asciiLower(s).
func findTicket(tm *ticketMatcher, s, lower string) string {
	ok := func(a, b int) bool {
		if a == b {
			return false
		}
		if isAlnum(s[a]) && a > 0 && isAlnum(s[a-1]) {
			return false
		}
		if isAlnum(s[b-1]) && b < len(s) && isAlnum(s[b]) {
			return false
		}
		return true
	}
	if tm.prefix.s != "" {
		for i := 0; ; {
			j := tm.prefix.index(lower[i:])
			if j < 0 {
				return ""
			}
			at := i + j
			i = at + 1
			if loc := tm.anchored.FindStringIndex(window(s, at, 512)); loc != nil && ok(at, at+loc[1]) {
				return strings.ToUpper(s[at : at+loc[1]])
			}
		}
	}
	for _, loc := range tm.re.FindAllStringIndex(s, 1000) {
		if ok(loc[0], loc[1]) {
			return strings.ToUpper(s[loc[0]:loc[1]])
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// origText is the text Extract searches, subject + "\n" + body, without
// the copy.
type origText struct{ subject, body string }

func (o origText) len() int { return len(o.subject) + 1 + len(o.body) }

// at returns the byte at position i of subject + "\n" + body.
func (o origText) at(i int) byte {
	switch {
	case i < len(o.subject):
		return o.subject[i]
	case i == len(o.subject):
		return '\n'
	}
	return o.body[i-len(o.subject)-1]
}

// lower returns asciiLower(subject + "\n" + body), built in one allocation
// (no []byte to copy into a string).
func (o origText) lower() string {
	var sb strings.Builder
	sb.Grow(o.len())
	writeLower(&sb, o.subject)
	sb.WriteByte('\n')
	writeLower(&sb, o.body)
	return sb.String()
}

// writeLower writes asciiLower(s) to sb, lower-cased in chunks of a stack
// buffer.
func writeLower(sb *strings.Builder, s string) {
	var chunk [1024]byte
	for len(s) > 0 {
		n := copy(chunk[:], s)
		lowerASCII(chunk[:n])
		sb.Write(chunk[:n])
		s = s[n:]
	}
}

// asciiLowerTable maps each byte to its ASCII lower case.
var asciiLowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// asciiLower lower-cases ASCII letters only, so byte offsets are unchanged.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// anchor is a literal searched for in the text. strings.Index stops at
// every occurrence of the literal's first byte and, for a common one (every
// "e" for "edge", every "r" for "r2"), starts its vectorised search over
// each time; index skips with IndexByte to the literal's rarest byte instead.
type anchor struct {
	s    string
	rare int // index in s of the byte least frequent in prose
}

// proseRank orders bytes by how rare they are in prose (English and German
// letter frequencies): white space and the usual punctuation, letters from
// the most frequent, then rarer punctuation, then digits; any other byte
// ranks with the rare punctuation.
const proseRank = "\n \r\t.,etaonisrhdlcumfgwpybvkzjxq-/:_'\"()0123456789"

func newAnchor(s string) anchor {
	a := anchor{s: s}
	best := -1
	for i := 0; i < len(s); i++ {
		r := strings.IndexByte(proseRank, s[i])
		if r < 0 {
			r = strings.IndexByte(proseRank, '-')
		}
		if r > best {
			a.rare, best = i, r
		}
	}
	return a
}

// index is strings.Index(t, a.s).
func (a anchor) index(t string) int {
	if len(a.s) < 2 {
		return strings.Index(t, a.s)
	}
	c := a.s[a.rare]
	fails := 0
	for j := a.rare; j < len(t); {
		k := strings.IndexByte(t[j:], c)
		if k < 0 {
			return -1
		}
		at := j + k - a.rare
		if at+len(a.s) > len(t) {
			return -1 // every later occurrence ends later still
		}
		if t[at:at+len(a.s)] == a.s {
			return at
		}
		j += k + 1
		// The byte is not rare in this text: strings.Index (which turns to
		// a vectorised brute-force search) does better.
		if fails++; fails > 4+j/64 {
			if k := strings.Index(t[at+1:], a.s); k >= 0 {
				return at + 1 + k
			}
			return -1
		}
	}
	return -1
}

// window returns s[i:i+n] (bounded).
func window(s string, i, n int) string {
	if i+n > len(s) {
		return s[i:]
	}
	return s[i : i+n]
}

// linePrefix returns the text of the line of s before position i (at most n
// bytes).
func linePrefix(s string, i, n int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	if i-start > n {
		start = i - n
	}
	return s[start:i]
}

// lineAt returns the line of s containing position i.
func lineAt(s string, i int) string {
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n')
	if end < 0 {
		return s[start:]
	}
	return s[start : i+end]
}

// ---- build number ----

// buildRe is matched at each "build" of the lower-cased text: "build 8973",
// "build number: 8973", "build no. 9653", "build #9100", "build number is
// 8973", "build number\t8973".
var buildRe = regexp.MustCompile(`^build(?:\s*(?:number|num|no|nr|version|ver|id)\b)?\s*\.?\s*(?:is|was|=|:|-|–|#)?\s*[:#.]?\s*v?(\d{4,5})`)

// osBeforeBuildRe recognises an operating-system build ("Windows Server 2019
// build 17763", "OS build 19045"), which is not the product's.
var osBeforeBuildRe = regexp.MustCompile(`(?:\bos|\bwindows|\bwin|\bserver(?:\s*20\d\d(?:\s*r2)?)?|\bwindows\s*(?:10|11|server\s*20\d\d(?:\s*r2)?))\s*$`)

// osBeforeBuildPrecheck is a cheap necessary condition for osBeforeBuildRe:
// every alternative contains "os", "win" or "server".
func osBeforeBuildPrecheck(pre string) bool {
	return strings.Contains(pre, "os") || strings.Contains(pre, "win") || strings.Contains(pre, "server")
}

var buildAnchor = newAnchor("build")

func findBuild(lower string) int {
	for i := 0; ; {
		j := buildAnchor.index(lower[i:])
		if j < 0 {
			return 0
		}
		at := i + j
		i = at + 5
		if at > 0 && isAlnum(lower[at-1]) {
			continue
		}
		w := window(lower, at, 80)
		if !hasDigit(w) {
			continue
		}
		m := buildRe.FindStringSubmatchIndex(w)
		if m == nil {
			continue
		}
		end := at + m[3]
		if end < len(lower) && (isDigit(lower[end]) || lower[end] == '.' && end+1 < len(lower) && isDigit(lower[end+1])) {
			continue
		}
		if pre := linePrefix(lower, at, 40); osBeforeBuildPrecheck(pre) && osBeforeBuildRe.MatchString(pre) {
			continue
		}
		n, err := strconv.Atoi(lower[at+m[2] : end])
		if err != nil || n == 0 {
			continue
		}
		return n
	}
}

// ---- server OS ----

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
	if strings.HasPrefix(year, "2k") {
		y := year[2:]
		if len(y) == 1 {
			y = "0" + y
		}
		year = "20" + y
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

// osListCache holds prepared OS lists by their joined names (configuration:
// few distinct lists).
var osListCache sync.Map

// lastOSList is the list prepared last: every message of a daemon uses the
// same configured names, so the join and the map lookup are skipped.
var lastOSList atomic.Pointer[preparedOSList]

type preparedOSList struct {
	names []string // a copy: the caller's slice may change
	ol    *osList
}

func osListFor(names []string) *osList {
	if last := lastOSList.Load(); last != nil && slices.Equal(last.names, names) {
		return last.ol
	}
	ol := osListForSlow(names)
	lastOSList.Store(&preparedOSList{names: slices.Clone(names), ol: ol})
	return ol
}

func osListForSlow(names []string) *osList {
	key := strings.Join(names, "\x00")
	if v, ok := osListCache.Load(key); ok {
		return v.(*osList)
	}
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
	osListCache.Store(key, ol)
	return ol
}

var winAnchor, serverAnchor, r2Anchor = newAnchor("win"), newAnchor("server"), newAnchor("r2")

type osHit struct {
	at  int
	key string
}

func findServerOS(lower string, names []string) string {
	best := osHit{at: -1}
	take := func(at int, key string) {
		if best.at < 0 || at < best.at {
			best = osHit{at, key}
		}
	}
	// "Windows Server 2019", "Win2019", "Windows 2016", "Windows 10" (labelled).
	for i := 0; ; {
		j := winAnchor.index(lower[i:])
		if j < 0 || (best.at >= 0 && i+j > best.at) {
			break
		}
		at := i + j
		i = at + 3
		if at > 0 && isLetter(lower[at-1]) {
			continue
		}
		w := window(lower, at, 40)
		if !hasDigit(w) {
			continue // both expressions need a year or version
		}
		if m := winOSRe.FindStringSubmatch(w); m != nil {
			if e := at + len(m[0]); e < len(lower) && isAlnum(lower[e]) {
				continue
			}
			take(at, serverKey(m[1], m[2] != ""))
			break
		}
		if m := winDeskRe.FindStringSubmatch(w); m != nil {
			if e := at + len(m[0]); e < len(lower) && isAlnum(lower[e]) {
				continue
			}
			if osLabelRe.MatchString(linePrefix(lower, at, 80)) {
				take(at, "windows "+m[1])
				break
			}
		}
	}
	// "Server 2019" (not "SQL Server 2019").
	for i := 0; ; {
		j := serverAnchor.index(lower[i:])
		if j < 0 || (best.at >= 0 && i+j > best.at) {
			break
		}
		at := i + j
		i = at + 6
		if at > 0 && isLetter(lower[at-1]) {
			continue
		}
		w := window(lower, at, 30)
		if !hasDigit(w) {
			continue
		}
		m := serverOSRe.FindStringSubmatch(w)
		if m == nil {
			continue
		}
		if e := at + len(m[0]); e < len(lower) && isAlnum(lower[e]) {
			continue
		}
		pre := strings.TrimRight(linePrefix(lower, at, 20), " \t")
		if strings.HasSuffix(pre, "sql") || strings.HasSuffix(pre, "exchange") || strings.HasSuffix(pre, "sharepoint") {
			continue
		}
		take(at, serverKey(m[1], m[2] != ""))
		break
	}
	// "2012 R2".
	for i := 0; ; {
		j := r2Anchor.index(lower[i:])
		if j < 0 || (best.at >= 0 && i+j > best.at) {
			break
		}
		at := i + j
		i = at + 2
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
		if m := r2Re.FindStringSubmatch(lower[start : at+2]); m != nil && len(m[0]) == at+2-start {
			take(start, serverKey(m[1], true))
			break
		}
	}
	// Configured names that are not Windows versions are looked up verbatim.
	ol := osListFor(names)
	for i, ln := range ol.literal {
		if at := strings.Index(lower, ln); at >= 0 {
			take(at, "name:"+ol.literalNames[i])
		}
	}
	byKey := ol.byKey
	if best.at < 0 {
		return ""
	}
	if name, ok := strings.CutPrefix(best.key, "name:"); ok {
		return name
	}
	if n, ok := byKey[best.key]; ok {
		return n
	}
	// A Windows version outside the configured list keeps its canonical
	// name, so staff see what the customer runs.
	return displayOS(best.key)
}

// ---- browser ----

var (
	uaTokens = []string{"edg/", "edge/", "edga/", "edgios/", "opr/", "firefox/", "fxios/", "chrome/", "crios/", "trident/", "msie ", "safari/"}
	uaEdgeRe = regexp.MustCompile(`\bedg(?:e|a|ios)?/(\d+(?:\.\d+)*)`)
	uaOprRe  = regexp.MustCompile(`\bopr/(\d+(?:\.\d+)*)`)
	uaFfRe   = regexp.MustCompile(`\b(?:firefox|fxios)/(\d+(?:\.\d+)*)`)
	uaTriRe  = regexp.MustCompile(`\btrident/(\d+)`)
	uaMsieRe = regexp.MustCompile(`\bmsie (\d+)`)
	uaChrRe  = regexp.MustCompile(`\b(?:chrome|crios)/(\d+(?:\.\d+)*)`)
	uaSafRe  = regexp.MustCompile(`\bversion/(\d+(?:\.\d+)*).*\bsafari/`)
	// versionAfterRe reads the version after a browser name: " 118.0.5993.88",
	// " Version 85.0.564.51", " (version 17.1)", ": 119", " v104".
	versionAfterRe = regexp.MustCompile(`^\s*(?:browser\s*)?(?:\(?\s*(?:version|ver\.?|v\.?)\s*)?[:\-]?\s*(\d{1,3}(?:\.\d+){0,3})`)
	ieRe           = regexp.MustCompile(`^ie\s?(\d{1,2})(?:\.0)?`)
)

func findBrowser(orig origText, lower string) *Browser {
	if b := findUA(lower); b != nil {
		return b
	}
	return findNamedBrowser(orig, lower)
}

var msieAnchor = newAnchor("msie ")

// findUA reads the first pasted User-Agent string.
func findUA(lower string) *Browser {
	first := msieAnchor.index(lower)
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
	if m := uaEdgeRe.FindStringSubmatch(line); m != nil {
		return &Browser{BrowserEdge, m[1]}
	}
	if m := uaOprRe.FindStringSubmatch(line); m != nil {
		return &Browser{BrowserOpera, m[1]}
	}
	if m := uaFfRe.FindStringSubmatch(line); m != nil {
		return &Browser{BrowserFirefox, m[1]}
	}
	if m := uaMsieRe.FindStringSubmatch(line); m != nil {
		return &Browser{BrowserIE, m[1]}
	}
	if m := uaTriRe.FindStringSubmatch(line); m != nil {
		v := ""
		if n, err := strconv.Atoi(m[1]); err == nil && n >= 4 && n <= 7 {
			v = strconv.Itoa(n + 4) // Trident/7.0 is IE 11
		}
		return &Browser{BrowserIE, v}
	}
	if m := uaChrRe.FindStringSubmatch(line); m != nil {
		return &Browser{BrowserChrome, m[1]}
	}
	if m := uaSafRe.FindStringSubmatch(line); m != nil {
		return &Browser{BrowserSafari, m[1]}
	}
	if strings.Contains(line, "safari/") {
		return &Browser{BrowserSafari, ""}
	}
	return nil
}

type browserName struct {
	anchor anchor
	name   string
	// weak names ("edge", "opera") without a version count only as
	// weakNameCounts says.
	weak bool
}

var browserNames = []browserName{
	{newAnchor("edge"), BrowserEdge, true},
	{newAnchor("chrome"), BrowserChrome, false},
	{newAnchor("firefox"), BrowserFirefox, false},
	{newAnchor("safari"), BrowserSafari, false},
	{newAnchor("opera"), BrowserOpera, true},
	{newAnchor("internet explorer"), BrowserIE, false},
}

// findNamedBrowser finds the earliest browser name given with a version,
// else the earliest name without one. orig is the text lower was made from.
func findNamedBrowser(orig origText, lower string) *Browser {
	var withV, withoutV *Browser
	atV, atNoV := -1, -1
	for _, bn := range browserNames {
		for i := 0; ; {
			j := bn.anchor.index(lower[i:])
			if j < 0 || (atV >= 0 && i+j > atV) {
				break
			}
			at := i + j
			i = at + len(bn.anchor.s)
			if at > 0 && isAlnum(lower[at-1]) {
				continue
			}
			end := at + len(bn.anchor.s)
			if end < len(lower) && isLetter(lower[end]) {
				continue
			}
			version := ""
			if w := window(lower, end, 40); hasDigit(w) { // the version's digits
				if m := versionAfterRe.FindStringSubmatch(w); m != nil {
					version = m[1]
				}
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
			if bn.weak && !weakNameCounts(orig, lower, at, end) {
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
// position if limit < 0): the version and its position, or -1. ieRe needs a
// digit two bytes after "ie", or three after a white space: candidates are
// found from the digits, which are rarer in prose than "ie" (every "die",
// "view"), in the same order.
func findIE(lower string, limit int) (string, int) {
	for i := 0; ; {
		j := indexDigit(lower[i:])
		if j < 0 {
			return "", -1
		}
		d := i + j
		// The digits after d cannot follow "ie" or its white space.
		for i = d + 1; i < len(lower) && isDigit(lower[i]); i++ {
		}
		at := d - 2
		if at < 0 || lower[at:d] != "ie" {
			if at--; at < 0 || lower[at:at+2] != "ie" || !isRESpace(lower[d-1]) {
				continue
			}
		}
		if limit >= 0 && at > limit {
			return "", -1
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
		if n, _ := strconv.Atoi(m[1]); n < 5 || n > 11 {
			continue
		}
		return m[1], at
	}
}

// hasDigit reports whether s holds an ASCII digit (what \d matches): a
// necessary condition of the expressions that read a build, year or version.
func hasDigit(s string) bool { return indexDigit(s) >= 0 }

// isRESpace reports whether c is white space to a regexp's \s.
func isRESpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// weakNameCounts decides whether "edge" or "opera" without a version names
// the browser: "Microsoft Edge", a "browser" on the line, or the capitalised
// name ending a phrase ("… on Windows Server 2019, Edge.").
func weakNameCounts(orig origText, lower string, at, end int) bool {
	pre := strings.TrimRight(linePrefix(lower, at, 20), " \t")
	if strings.HasSuffix(pre, "microsoft") || strings.Contains(lineAt(lower, at), "browser") {
		return true
	}
	if c := orig.at(at); orig.len() != len(lower) || c < 'A' || c > 'Z' {
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

// ---- description and steps ----

// line is one line of the customer's own text, trimmed, and its ASCII
// lower-cased form.
type line struct{ t, lt string }

// ownLines appends to out the customer's own lines: the start of the text, without
// quoted lines ("> "), and up to a signature ("-- "), a closing ("Kind
// regards,") or the header of a quoted reply ("-----Original Message-----",
// "On … wrote:", Outlook's "From: … Sent: …"). lower is asciiLower(text).
func ownLines(out []line, text, lower string) []line {
	if len(text) > maxProseBytes {
		text, lower = text[:maxProseBytes], lower[:maxProseBytes]
	}
	for len(text) > 0 {
		var l, ll string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, ll, text, lower = text[:i], lower[:i], text[i+1:], lower[i+1:]
		} else {
			l, ll, text, lower = text, lower, "", ""
		}
		if l == "-- " {
			break
		}
		t := strings.TrimSpace(l)
		lt := strings.TrimSpace(ll)
		if len(t) == 0 {
			out = append(out, line{})
			continue
		}
		if t[0] == '>' {
			continue
		}
		if t == "--" || t == "__" {
			break
		}
		if strings.HasPrefix(lt, "-----original message") || strings.HasPrefix(lt, "________________") ||
			(strings.HasPrefix(lt, "on ") && strings.HasSuffix(lt, "wrote:")) {
			break
		}
		if strings.HasPrefix(lt, "from:") {
			next := lower
			if i := strings.IndexByte(next, '\n'); i >= 0 {
				next = next[:i]
			}
			if strings.HasPrefix(strings.TrimSpace(next), "sent:") {
				break
			}
		}
		if len(lt) < 40 && isClosing(lt) {
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
	head := lt
	if len(head) > 48 {
		head = head[:48]
	}
	if !mayBeFieldLine(lt) || !hasFieldSeparator(head) {
		return false
	}
	return fieldLineRe.MatchString(lt)
}

// hasFieldSeparator is strings.ContainsAny(s, ":-–="), without the
// rune-by-rune search ContainsAny makes for a non-ASCII set.
func hasFieldSeparator(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':', '-', '=':
			return true
		case 0xe2: // "–" is E2 80 93
			if strings.HasPrefix(s[i:], "–") {
				return true
			}
		}
	}
	return false
}

// mayBeFieldLine is a cheap necessary condition for fieldLineRe: everything
// the pattern reads before its separator is an ASCII letter, white space,
// '.', '#', '*', '-', "•" or one of its Japanese labels, so the first other
// byte must come after a separator (':', '=', '-' or '–').
func mayBeFieldLine(lt string) bool {
	for i := 0; i < len(lt); i++ {
		switch c := lt[i]; {
		case c == ':' || c == '=' || c == '-':
			return true
		case c >= utf8.RuneSelf:
			rest := lt[i:]
			switch {
			case strings.HasPrefix(rest, "•"):
				i += len("•") - 1
			case strings.HasPrefix(rest, "–") || strings.HasPrefix(rest, "ビルド番号") ||
				strings.HasPrefix(rest, "サーバー") || strings.HasPrefix(rest, "ブラウザ"):
				return true
			default:
				return false
			}
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' ||
			c == '.' || c == '#' || c == '*':
		default:
			return false
		}
	}
	return false
}

// isGreeting reports whether lt is a short greeting line ("Hi team,").
func isGreeting(lt string) bool {
	if len(lt) > 60 {
		return false
	}
	switch lt[0] {
	case 'h', 'd', 'g', 'b':
	default:
		return false
	}
	return greetingRe.MatchString(lt) && countWords(lt) <= 5
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
					if lines[k].lt == "" || isFieldLine(lines[k].lt) {
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
		if isFieldLine(lt) || isGreeting(lt) {
			continue
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

var epAnchor = newAnchor("ep")

// stepsPrecheck is a cheap necessary condition for stepsPhraseRe: every
// alternative contains "step", "repro" or "replicat" (a plain "rep" let
// every "reply" and "report" through).
func stepsPrecheck(lt string) bool {
	// All three contain "ep": one search for it instead of three passes.
	for i := 0; ; {
		j := epAnchor.index(lt[i:])
		if j < 0 {
			return false
		}
		at := i + j
		if at >= 2 && lt[at-2:at] == "st" || at >= 1 && lt[at-1] == 'r' &&
			(strings.HasPrefix(lt[at+2:], "ro") || strings.HasPrefix(lt[at+2:], "licat")) {
			return true
		}
		i = at + 1
	}
}

// hasSteps: a "steps to reproduce" phrase, "Step 1", a numbered list of at
// least two items starting at 1, or a bulleted list of at least two items one
// of which starts with an action ("- click …").
func hasSteps(lines []line) bool {
	numbered := 0
	next := 1
	bullets, actions := 0, 0
	for _, l := range lines {
		lt := l.lt
		if lt == "" {
			continue
		}
		if stepsPrecheck(lt) && stepsPhraseRe.MatchString(lt) {
			return true
		}
		c := lt[0]
		// A line starting with 's' can only be a numbered "step 2" item.
		isNum := isDigit(c) || c == '(' || c == 's' && strings.HasPrefix(lt, "step")
		// bulletRe's non-ASCII bullets are "•" and "·".
		isBullet := c == '-' || c == '*' || c >= utf8.RuneSelf && (strings.HasPrefix(lt, "•") || strings.HasPrefix(lt, "·"))
		if !isNum && !isBullet {
			continue
		}
		if isFieldLine(lt) {
			continue
		}
		if m := numberedRe.FindStringSubmatch(lt); m != nil {
			num := m[1]
			if num == "" {
				num = m[2]
			}
			n, _ := strconv.Atoi(num)
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
