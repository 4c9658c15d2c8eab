package mailparse

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
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
	re, err := ticketRegexp(o.TicketPattern)
	if err != nil {
		m.Problems = append(m.Problems, "bad_ticket_pattern")
		re, _ = ticketRegexp(DefaultTicketPattern)
	}
	m.TicketID = findTicket(re, m.Subject)
	if m.TicketID == "" {
		m.TicketID = findTicket(re, m.Text)
	}
	orig := m.Subject + "\n" + m.Text
	lower := asciiLower(orig)
	m.Build = findBuild(lower)
	m.ServerOS = findServerOS(lower, o.ServerOSes)
	m.Browser = findBrowser(orig, lower)
	lines := ownLines(m.Text)
	m.HasDescription = hasDescription(lines)
	m.HasSteps = hasSteps(lines)
	m.Problems = normaliseProblems(m.Problems)
}

type compiled struct {
	re  *regexp.Regexp
	err error
}

// ticketCache holds compiled ticket patterns: compiling per message would cost
// more than the rest of the extraction. Patterns come from configuration, so
// the cache stays small.
var ticketCache sync.Map // string -> compiled

func ticketRegexp(pattern string) (*regexp.Regexp, error) {
	if c, ok := ticketCache.Load(pattern); ok {
		cc := c.(compiled)
		return cc.re, cc.err
	}
	re, err := regexp.Compile("(?i)" + pattern)
	if err == nil && re.MatchString("") {
		err = errEmptyMatch
	}
	ticketCache.Store(pattern, compiled{re, err})
	return re, err
}

type emptyMatchError struct{}

func (emptyMatchError) Error() string { return "ticket pattern matches the empty string" }

var errEmptyMatch error = emptyMatchError{}

// findTicket returns the first match of re in s that is not glued to a
// neighbouring letter or digit, upper-cased.
func findTicket(re *regexp.Regexp, s string) string {
	for _, loc := range re.FindAllStringIndex(s, 1000) {
		a, b := loc[0], loc[1]
		if a == b {
			continue
		}
		if isAlnum(s[a]) && a > 0 && isAlnum(s[a-1]) {
			continue
		}
		if isAlnum(s[b-1]) && b < len(s) && isAlnum(s[b]) {
			continue
		}
		return strings.ToUpper(s[a:b])
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

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
		j := strings.Index(lower[i:], "win")
		if j < 0 || (best.at >= 0 && i+j > best.at) {
			break
		}
		at := i + j
		i = at + 3
		if at > 0 && isLetter(lower[at-1]) {
			continue
		}
		w := window(lower, at, 40)
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
		j := strings.Index(lower[i:], "server")
		if j < 0 || (best.at >= 0 && i+j > best.at) {
			break
		}
		at := i + j
		i = at + 6
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
		if strings.HasSuffix(pre, "sql") || strings.HasSuffix(pre, "exchange") || strings.HasSuffix(pre, "sharepoint") {
			continue
		}
		take(at, serverKey(m[1], m[2] != ""))
		break
	}
	// "2012 R2".
	for i := 0; ; {
		j := strings.Index(lower[i:], "r2")
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
	byKey := make(map[string]string, len(names))
	for _, n := range names {
		ln := strings.ToLower(strings.Join(strings.Fields(n), " "))
		if k, l := osKey(ln); k != "" && l == len(ln) {
			if _, dup := byKey[k]; !dup {
				byKey[k] = n
			}
			continue
		}
		if ln == "" {
			continue
		}
		if at := strings.Index(lower, ln); at >= 0 {
			take(at, "name:"+n)
		}
	}
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

func findBrowser(orig, lower string) *Browser {
	if b := findUA(lower); b != nil {
		return b
	}
	return findNamedBrowser(orig, lower)
}

// findUA reads the first pasted User-Agent string.
func findUA(lower string) *Browser {
	first := -1
	for _, t := range uaTokens {
		if i := strings.Index(lower, t); i >= 0 && (first < 0 || i < first) {
			first = i
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
	anchor string
	name   string
	// weak names ("edge", "opera") without a version count only as
	// weakNameCounts says.
	weak bool
}

var browserNames = []browserName{
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
	for _, bn := range browserNames {
		for i := 0; ; {
			j := strings.Index(lower[i:], bn.anchor)
			if j < 0 || (atV >= 0 && i+j > atV) {
				break
			}
			at := i + j
			i = at + len(bn.anchor)
			if at > 0 && isAlnum(lower[at-1]) {
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
			if bn.weak && !weakNameCounts(orig, lower, at, end) {
				continue
			}
			withoutV, atNoV = &Browser{bn.name, ""}, at
		}
	}
	// "IE11", "IE 11".
	for i := 0; ; {
		j := strings.Index(lower[i:], "ie")
		if j < 0 || (atV >= 0 && i+j > atV) {
			break
		}
		at := i + j
		i = at + 2
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
		withV, atV = &Browser{BrowserIE, m[1]}, at
		break
	}
	if withV != nil {
		return withV
	}
	return withoutV
}

// weakNameCounts decides whether "edge" or "opera" without a version names
// the browser: "Microsoft Edge", a "browser" on the line, or the capitalised
// name ending a phrase ("… on Windows Server 2019, Edge.").
func weakNameCounts(orig, lower string, at, end int) bool {
	pre := strings.TrimRight(linePrefix(lower, at, 20), " \t")
	if strings.HasSuffix(pre, "microsoft") || strings.Contains(lineAt(lower, at), "browser") {
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

// ---- description and steps ----

// ownLines returns the customer's own lines: the start of the text, without
// quoted lines ("> "), and up to a signature ("-- "), a closing ("Kind
// regards,") or the header of a quoted reply ("-----Original Message-----",
// "On … wrote:", Outlook's "From: … Sent: …").
func ownLines(text string) []string {
	if len(text) > maxProseBytes {
		text = text[:maxProseBytes]
	}
	raw := strings.Split(text, "\n")
	var out []string
	for i, l := range raw {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, ">") {
			continue
		}
		if l == "-- " || t == "--" || t == "__" {
			break
		}
		lt := strings.ToLower(t)
		if strings.HasPrefix(lt, "-----original message") || strings.HasPrefix(lt, "________________") ||
			(strings.HasPrefix(lt, "on ") && strings.HasSuffix(lt, "wrote:")) ||
			(strings.HasPrefix(lt, "from:") && i+1 < len(raw) && strings.HasPrefix(strings.ToLower(strings.TrimSpace(raw[i+1])), "sent:")) {
			break
		}
		if isClosing(lt) {
			break
		}
		out = append(out, t)
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

// descriptionRe finds a "Description:" section.
var descriptionRe = regexp.MustCompile(`^(?:problem\s+|issue\s+)?description\s*[:\-–]\s*(.*)$`)

// hasDescription: a "Description:" section with at least three words, or at
// least twelve words of the customer's own prose (greetings and labelled
// fields not counted).
func hasDescription(lines []string) bool {
	words := 0
	for i, l := range lines {
		lt := strings.ToLower(l)
		if m := descriptionRe.FindStringSubmatch(lt); m != nil {
			n := countWords(m[1])
			for k := i + 1; k < len(lines) && k < i+10 && n < 3; k++ {
				if lines[k] == "" || fieldLineRe.MatchString(strings.ToLower(lines[k])) {
					break
				}
				n += countWords(lines[k])
			}
			if n >= 3 {
				return true
			}
			continue
		}
		if lt == "" || fieldLineRe.MatchString(lt) {
			continue
		}
		if greetingRe.MatchString(lt) && countWords(lt) <= 5 {
			continue
		}
		words += countWords(l)
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

// hasSteps: a "steps to reproduce" phrase, "Step 1", a numbered list of at
// least two items starting at 1, or a bulleted list of at least two items one
// of which starts with an action ("- click …").
func hasSteps(lines []string) bool {
	numbered := 0
	next := 1
	bullets, actions := 0, 0
	for _, l := range lines {
		lt := strings.ToLower(l)
		if stepsPhraseRe.MatchString(lt) {
			return true
		}
		if fieldLineRe.MatchString(lt) {
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
