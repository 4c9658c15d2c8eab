package mailparse

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"golang.org/x/text/encoding/charmap"
)

// maxHeaderValue bounds one extracted header string (a Subject, a name).
const maxHeaderValue = 4096

// maxIDs bounds the message identifiers kept from References / In-Reply-To.
const maxIDs = 100

// headers fills the envelope-ish fields of m from the top-level header.
func (p *parser) headers(h message.Header) {
	m := p.m
	p.from(h.Values("From"))
	if s := p.addressList(h, "Sender"); len(s) > 0 {
		m.Sender = &s[0]
	}
	m.ReplyTo = p.addressList(h, "Reply-To")
	m.To = p.addressList(h, "To")
	m.Cc = p.addressList(h, "Cc")

	if h.Has("Subject") {
		m.Subject = clean(p.decodeWords(h.Get("Subject"), "Subject"), maxHeaderValue)
	}

	if ids := msgIDs(h.Get("Message-Id"), 1); len(ids) > 0 {
		m.MessageID = ids[0]
	} else {
		p.problem("no_message_id")
	}
	m.InReplyTo = msgIDs(h.Get("In-Reply-To"), maxIDs)
	m.References = msgIDs(strings.Join(h.Values("References"), " "), maxIDs)

	if v := strings.TrimSpace(h.Get("Date")); v == "" {
		p.problem("no_date")
	} else if t, ok := parseDate(v); ok {
		m.Date = t
	} else {
		p.problem("bad_date")
	}

	if h.Has("Return-Path") {
		m.HasReturnPath = true
		m.ReturnPath = returnPath(h.Get("Return-Path"))
	}
	// The topmost Delivered-To: the receiving server's, above the sender's.
	m.DeliveredTo = strings.ToLower(returnPath(h.Get("Delivered-To")))
	m.AutoSubmitted = token(h.Get("Auto-Submitted"))
	m.Precedence = token(h.Get("Precedence"))
	m.AutoSubmittedAll, m.PrecedenceAll = cleanAll(h.Values("Auto-Submitted")), cleanAll(h.Values("Precedence"))
	m.XAutoreply = cleanAll(append(h.Values("X-Autoreply"), h.Values("X-Autorespond")...))
	m.ListID = clean(h.Get("List-Id"), maxHeaderValue)
	m.ListUnsubscribe = clean(h.Get("List-Unsubscribe"), maxHeaderValue)
	m.XAutoResponseSuppress = clean(h.Get("X-Auto-Response-Suppress"), maxHeaderValue)
	for _, v := range h.Values("X-Loop") {
		m.XLoop = append(m.XLoop, clean(v, maxHeaderValue))
	}
	for _, v := range h.Values("Authentication-Results") {
		m.AuthenticationResults = append(m.AuthenticationResults, clean(v, maxHeaderValue))
	}
}

// cleanAll is every copy of a header, each cleaned and bounded (at most 16).
func cleanAll(vs []string) []string {
	var out []string
	for i := 0; i < len(vs) && i < 16; i++ {
		out = append(out, clean(vs[i], maxHeaderValue))
	}
	return out
}

// token returns the first token of a structured value, lower-cased, without
// parameters or comments ("Auto-Replied; owner=x" -> "auto-replied").
func token(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, ";( \t"); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(clean(v, 256))
}

// wordDecoder decodes RFC 2047 encoded words with go-message's charsets, as
// go-message does; addressParser is go-message/mail's, with that decoder.
var (
	wordDecoder   = mime.WordDecoder{CharsetReader: wordCharsetReader}
	addressParser = mail.AddressParser{WordDecoder: &wordDecoder}
)

// wordCharsetReader is message.CharsetReader returning a bytes.Reader, which
// io.Copy reads without a 32 KiB buffer per encoded word.
func wordCharsetReader(charset string, input io.Reader) (io.Reader, error) {
	r, err := message.CharsetReader(charset, input)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	return bytes.NewReader(b), err
}

// decodeWords decodes RFC 2047 encoded words; on failure (an unknown
// charset) the raw value is kept and a problem recorded.
func (p *parser) decodeWords(v, field string) string {
	s, ok := decodeWordsOK(v)
	if !ok {
		p.problem("bad_encoded_word: " + field)
	}
	return fixUTF8(s)
}

// decodeWordsOK decodes RFC 2047 encoded words, keeping v as it is when
// they cannot be decoded (ok false).
func decodeWordsOK(v string) (string, bool) {
	if !strings.Contains(v, "=?") {
		return v, true
	}
	if s, err := wordDecoder.DecodeHeader(v); err == nil {
		return s, true
	}
	return v, false
}

// fixUTF8 returns s as valid UTF-8: raw 8-bit header bytes are read as
// Windows-1252.
func fixUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
		return d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// clean replaces every run of control characters (C0, DEL, C1, U+2028/9)
// with one space, trims, and cuts to max bytes on a rune boundary: a decoded
// header is then safe to write back into a header (no injection).
func clean(s string, max int) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= utf8.RuneSelf }) < 0 {
		s = strings.TrimSpace(s)
		return s[:min(len(s), max)]
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isControl(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == 0x85
}

// cleanFilename makes an attachment name displayable: decoded, no control
// characters, no directory part.
func cleanFilename(s string) string {
	s, _ = decodeWordsOK(s)
	s = clean(fixUTF8(s), 255)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

var lenientParamRe = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9\-_.*]*)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;\s]*)`)

// parseParams parses a value "type/subtype; a=b; ..." with mime: the type
// lower-cased, the parameters RFC 2047-decoded; for what mime refuses, a
// lenient parse, reporting err.
func parseParams(v string) (string, map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}, nil
	}
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		for k, pv := range params {
			params[k], _ = decodeWordsOK(pv)
		}
		return strings.ToLower(t), params, nil
	}
	params = map[string]string{}
	if err == mime.ErrInvalidMediaParameter {
		// A bad parameter (an unquoted 8-bit file name): mime drops them
		// all, so read them leniently, as enmime does.
		if i := strings.IndexByte(v, ';'); i >= 0 {
			lenientParams(v[i+1:], params)
		}
		return strings.ToLower(t), params, nil
	}
	main, rest, _ := strings.Cut(v, ";")
	if f := firstField(main); len(f) < len(strings.TrimSpace(main)) {
		// "application/pdf name=x.pdf": a parameter without its ';'.
		lead := strings.TrimSpace(main)
		rest = lead[len(f):] + ";" + rest
	}
	t = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$&^_.+-/", r) {
			return r
		}
		return -1
	}, strings.ToLower(firstField(main)))
	lenientParams(rest, params)
	return t, params, err
}

// lenientParams adds the name=value pairs of a malformed parameter list to
// params (the first of a repeated name wins; at most 50).
func lenientParams(rest string, params map[string]string) {
	for _, mm := range lenientParamRe.FindAllStringSubmatch(rest, 50) {
		k := strings.ToLower(mm[1])
		val := mm[2]
		if strings.HasPrefix(val, `"`) {
			val = strings.TrimSuffix(strings.TrimPrefix(val, `"`), `"`)
			val = strings.ReplaceAll(val, `\"`, `"`)
		}
		val, _ = decodeWordsOK(val)
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
}

// firstField returns the first run of s not containing white space or a
// comma.
func firstField(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t\r\n,"); i >= 0 {
		s = s[:i]
	}
	return s
}

var addrFallbackRe = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*`)

// addressList parses every field named key as an address list, with a
// tolerant fallback (anything shaped like local@domain) for malformed values.
func (p *parser) addressList(h message.Header, key string) []Address {
	var out []Address
	for _, v := range h.Values(key) {
		if strings.TrimSpace(v) == "" {
			continue
		}
		list, err := addressParser.ParseList(v)
		if err == nil {
			for _, a := range list {
				out = append(out, Address{Name: clean(fixUTF8(a.Name), maxHeaderValue), Addr: normAddr(a.Address)})
			}
			continue
		}
		p.problem("malformed_address: " + key)
		out = append(out, fallbackAddresses(p.decodeWords(v, key))...)
	}
	if len(out) > 1000 {
		out = out[:1000]
	}
	return out
}

// from reads the From field as a DMARC check does: exactly one mailbox (one
// field, one address, no group) is From and the author. Otherwise it is
// "ambiguous_from", and From is only what an MTA replies to (mtaAddress) for
// a malformed value or a group of one, nil for several mailboxes or fields.
func (p *parser) from(vals []string) {
	vals = slices.DeleteFunc(vals, func(v string) bool { return strings.TrimSpace(v) == "" })
	if len(vals) == 0 {
		p.problem("no_from")
		return
	}
	if len(vals) == 1 {
		list, err := addressParser.ParseList(vals[0])
		if err == nil && len(list) == 1 && !isGroup(vals[0]) {
			p.m.From = &Address{Name: clean(fixUTF8(list[0].Name), maxHeaderValue), Addr: normAddr(list[0].Address)}
			return
		}
		if err != nil {
			p.problem("malformed_address: From")
		}
		if err != nil || len(list) == 1 { // several mailboxes: no single address
			p.m.From = mtaAddress(p.decodeWords(vals[0], "From"))
		}
	}
	p.problem("ambiguous_from")
	p.m.FromAmbiguous = true
}

var angleAddrRe = regexp.MustCompile(`<([^<>]*)>`)

// mtaAddress reads a From value that is not one mailbox as MTAs do: the
// address in its one angle-addr, or, without any, its one local@domain.
func mtaAddress(v string) *Address {
	angles := angleAddrRe.FindAllStringSubmatchIndex(v, 2)
	if len(angles) == 0 {
		if as := fallbackAddresses(v); len(as) == 1 {
			return &as[0]
		}
		return nil
	}
	inner := strings.TrimSpace(v[angles[0][2]:angles[0][3]])
	if loc := addrFallbackRe.FindStringIndex(inner); len(angles) > 1 || loc == nil || loc[0] != 0 || loc[1] != len(inner) {
		return nil
	}
	return &Address{Name: leadName(v[:angles[0][0]]), Addr: normAddr(inner)}
}

// leadName is the display name standing before an address that could not
// be parsed: lead without quotes and the opening "<" or "(".
func leadName(lead string) string {
	return clean(strings.Trim(strings.TrimRight(strings.TrimSpace(lead), "<( \t"), `"' `), maxHeaderValue)
}

// isGroup reports whether an address list that parsed is a group
// ("Team: a@b;"): a colon outside quoted strings, comments and angle-addrs.
func isGroup(v string) bool {
	depth, quoted, angle := 0, false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && (quoted || depth > 0):
			i++
		case quoted:
			quoted = c != '"'
		case c == '"' && depth == 0:
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case c == ':' && !angle:
			return true
		}
	}
	return false
}

// fallbackAddresses extracts local@domain shapes from a malformed value (an
// only one has the text before it as its display name).
func fallbackAddresses(v string) []Address {
	locs := addrFallbackRe.FindAllStringIndex(v, 1000)
	var out []Address
	for i, l := range locs {
		a := Address{Addr: normAddr(v[l[0]:l[1]])}
		if i == 0 && len(locs) == 1 {
			a.Name = leadName(v[:l[0]])
		}
		out = append(out, a)
	}
	return out
}

// normAddr lower-cases an address (local part included: supportd matches
// addresses case-insensitively) and strips control characters.
func normAddr(a string) string {
	return strings.ToLower(clean(a, 320))
}

// msgIDs extracts "<...>" message identifiers from a header value; without
// brackets, each whitespace-separated token is one.
func msgIDs(v string, max int) []string {
	var out []string
	add := func(s string) {
		if id := idToken(s); id != "" && len(out) < max {
			out = append(out, id)
		}
	}
	if !strings.Contains(v, "<") {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
			add(f)
		}
		return out
	}
	for len(out) < max {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			add(v[i+1:])
			break
		}
		add(v[i+1 : i+j])
		v = v[i+j+1:]
	}
	return out
}

func idToken(s string) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) || unicode.IsSpace(r) || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
	if s == "" || len(s) > 995 {
		return ""
	}
	return "<" + s + ">"
}

// returnPath returns the address of a Return-Path value, "" for the null
// path "<>".
func returnPath(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	return normAddr(v)
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"Mon Jan 2 15:04:05 -0700 2006",
	"Monday, January 2, 2006 3:04 PM",
	time.RFC3339,
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
}

var dateCommentRe = regexp.MustCompile(`\s*\([^)]*\)`)

// parseDate parses an RFC 5322 date, tolerating the usual deviations.
func parseDate(v string) (time.Time, bool) {
	// The canonical form first: net/mail tries dozens of layouts.
	if t, err := time.Parse(dateLayouts[0], v); err == nil {
		return t, true
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t, true
	}
	s := strings.Join(strings.Fields(dateCommentRe.ReplaceAllString(v, "")), " ")
	if t, err := mail.ParseDate(s); err == nil {
		return t, true
	}
	s = strings.TrimSuffix(s, " GMT")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
