package mailparse

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // every charset go-message knows (ISO-8859-x, Windows-125x, Shift_JIS, ISO-2022-JP, GBK, Big5…)
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"
)

// errHeaderTooLarge is read past a header block's budget (MaxHeaderBytes).
var errHeaderTooLarge = errors.New("mailparse: header too large")

// htmlInputFactor bounds the HTML markup read for one part relative to
// MaxTextBytes (markup is much larger than the text it yields).
const htmlInputFactor = 4

// Parser parses messages with one configuration, compiled once by New. It is
// safe for concurrent use.
type Parser struct {
	opts   Options // every zero field replaced by its default
	ticket *ticketMatcher
	oses   *osList
	// The 4 KiB buffers of one message (header and multipart readers, base64,
	// hashing) are reused by the next: else most of a small message's garbage.
	readers, slabs sync.Pool
}

// New checks and compiles opts: a ticket pattern that does not compile, or
// matches the empty string, is an error naming it.
func New(opts Options) (*Parser, error) {
	d, l := DefaultLimits(), &opts.Limits
	// A limit that is not positive is the default.
	l.MaxMessageBytes = cmp.Or(max(l.MaxMessageBytes, 0), d.MaxMessageBytes)
	l.MaxHeaderBytes = cmp.Or(max(l.MaxHeaderBytes, 0), d.MaxHeaderBytes)
	l.MaxParts = cmp.Or(max(l.MaxParts, 0), d.MaxParts)
	l.MaxDepth = cmp.Or(max(l.MaxDepth, 0), d.MaxDepth)
	l.MaxTextBytes = cmp.Or(max(l.MaxTextBytes, 0), d.MaxTextBytes)
	opts.TicketPattern = cmp.Or(opts.TicketPattern, DefaultTicketPattern)
	if opts.ServerOSes == nil {
		opts.ServerOSes = DefaultServerOSes
	}
	tm, err := compileTicket(opts.TicketPattern)
	if err != nil {
		return nil, fmt.Errorf("mailparse: ticket pattern %q: %w", opts.TicketPattern, err)
	}
	opts.ServerOSes = slices.Clone(opts.ServerOSes)
	return &Parser{opts: opts, ticket: tm, oses: newOSList(opts.ServerOSes)}, nil
}

// source wraps the caller's reader: it counts bytes, stops at
// MaxMessageBytes and remembers the first real I/O error (the only error
// Parse returns).
type source struct {
	r         io.Reader
	n, max    int64
	truncated bool
	eof       bool
	err       error
}

func (s *source) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.eof {
		return 0, io.EOF
	}
	if s.n >= s.max {
		s.probe()
		return 0, io.EOF
	}
	if rem := s.max - s.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := s.r.Read(p)
	s.n += int64(k)
	if err == io.EOF {
		s.eof = true
	} else if err != nil {
		s.err = err
	}
	return k, err
}

// probe checks whether the input goes on past the limit.
func (s *source) probe() {
	var b [1]byte
	for i := 0; i < 100 && !s.truncated && !s.eof && s.err == nil; i++ {
		switch k, err := s.r.Read(b[:]); {
		case k > 0:
			s.truncated = true
		case err == io.EOF:
			s.eof = true
		case err != nil:
			s.err = err
		}
	}
}

// budgetReader bounds a header block (while on).
type budgetReader struct {
	r    io.Reader
	on   bool
	left int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if !b.on {
		return b.r.Read(p)
	}
	if b.left <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	k, err := b.r.Read(p)
	b.left -= int64(k)
	return k, err
}

// prefixCapture keeps the first bytes of a multipart body so that a body whose
// boundary never appears can still be read as text.
type prefixCapture struct {
	r   io.Reader
	buf []byte
	max int
	off bool
}

func (c *prefixCapture) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if room := min(c.max-len(c.buf), k); !c.off && room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	return k, err
}

// parser holds the state of one Parse call.
type parser struct {
	ps       *Parser
	lim      Limits
	m        *Message
	src      *source
	problems []string
	parts    int
	stop     bool

	plain   []byte   // text/plain body text, bounded by MaxTextBytes
	htmlRaw [][]byte // decoded HTML parts, converted only when no plain text exists
	htmlLen int
	buf     []byte       // for hashing attachments, taken for the first
	raw     bytes.Buffer // one text part's bytes at a time
	readers []*bufio.Reader
	slabs   []*[peekBufferSize]byte
}

// reader is a pooled buffered reader of r, returned to the pool after walk.
func (p *parser) reader(r io.Reader) *bufio.Reader {
	br, _ := p.ps.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(nil, peekBufferSize) // not r: a *bufio.Reader r would come back as is
	}
	br.Reset(r)
	p.readers = append(p.readers, br)
	return br
}

// slab is a pooled buffer, returned to the pool after walk.
func (p *parser) slab() []byte {
	b, _ := p.ps.slabs.Get().(*[peekBufferSize]byte)
	if b == nil {
		b = new([peekBufferSize]byte)
	}
	p.slabs = append(p.slabs, b)
	return b[:]
}

func (p *parser) problem(token string) {
	p.problems = append(p.problems, token)
}

// Parse reads one message from r. It never panics and always returns a
// Message; a malformed message is not an error (see Message.Problems), a
// failure of r is, and the Message then holds what was read before it.
func (ps *Parser) Parse(r io.Reader) (*Message, error) {
	m := &Message{Problems: []string{}}
	p := &parser{ps: ps, lim: ps.opts.Limits, m: m}
	if r == nil {
		p.problem("empty_message")
		p.finish()
		return m, nil
	}
	p.src = &source{r: r, max: p.lim.MaxMessageBytes}
	// Last line of defence: a bug in a decoder must cost one message's
	// details, never the daemon.
	safely := func(f func()) {
		defer func() {
			if v := recover(); v != nil {
				m.Problems = normaliseProblems(append(m.Problems, "internal_error: "+clean(fmt.Sprint(v), 80)))
			}
		}()
		f()
	}
	safely(p.walk)
	for _, br := range p.readers {
		br.Reset(nil)
		ps.readers.Put(br)
	}
	for _, b := range p.slabs {
		ps.slabs.Put(b)
	}
	safely(p.finish)
	if p.src.err != nil {
		return m, fmt.Errorf("mailparse: read message: %w", p.src.err)
	}
	return m, nil
}

// walk reads the header and the MIME tree.
func (p *parser) walk() {
	br, h, ok := p.messageHeader(p.src)
	if !ok && p.src.n == 0 {
		p.problem("empty_message")
	}
	p.headers(h)
	p.entity(h, br, 0, false)
	// Drain the rest (bounded) so that Size and message_too_large are exact.
	if p.src.err == nil {
		_, _ = io.Copy(io.Discard, br)
	}
}

// finish fills the derived fields and normalises the problem list.
func (p *parser) finish() {
	m := p.m
	if p.src != nil {
		m.Size = p.src.n
		if p.src.truncated {
			p.problem("message_too_large")
		}
	}
	plain := bytes.TrimSpace(p.plain)
	if len(plain) > 0 {
		m.Text = string(plain)
	} else if len(p.htmlRaw) > 0 {
		var out []byte
		for _, h := range p.htmlRaw {
			room := p.lim.MaxTextBytes - len(out)
			if room <= 1 {
				break
			}
			if len(out) > 0 {
				out = append(out, '\n')
				room--
			}
			out = htmlToText(out, h, room)
		}
		m.Text = string(bytes.TrimSpace(out))
	}
	m.Problems = append(m.Problems, p.problems...)
	p.problems = nil
	p.ps.Extract(m)
}

// normaliseProblems sorts and de-duplicates problems, never returning nil.
func normaliseProblems(in []string) []string {
	if len(in) == 0 {
		return []string{}
	}
	sort.Strings(in)
	return slices.Compact(in)
}

// messageHeader reads a message's header block from r within
// MaxHeaderBytes; the reader returned goes on with the body.
func (p *parser) messageHeader(r io.Reader) (*bufio.Reader, message.Header, bool) {
	bud := &budgetReader{r: r, on: true, left: int64(p.lim.MaxHeaderBytes)}
	br := p.reader(bud)
	h, ok := p.readHeader(br, func() { bud.on = false })
	bud.on = false
	return br, h, ok
}

// readHeader reads a header block with go-message's reader, skipping (and
// reporting) malformed lines. Past its budget, onTooLarge lifts the budget
// and the rest is discarded. ok is false when no header could be read.
func (p *parser) readHeader(br *bufio.Reader, onTooLarge func()) (message.Header, bool) {
	var chunks []textproto.Header
	ok := false
	for i := 0; ; i++ {
		h, err := textproto.ReadHeader(br)
		chunks = append(chunks, h)
		ok = ok || h.Len() > 0
		if err == nil || errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errHeaderTooLarge) {
			p.problem("header_too_large")
			onTooLarge()
			discardHeader(br)
			ok = true
			break
		}
		if p.src.err != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		p.problem("malformed_header")
		if !strings.Contains(err.Error(), "malformed MIME header") {
			break
		}
		ok = true
		// A bad line is skipped unless the body started without its blank line.
		if i > 10000 || !nextLooksLikeHeader(br) {
			break
		}
	}
	if len(chunks) == 1 {
		return message.Header{Header: chunks[0]}, ok
	}
	// Merge the chunks: Add prepends, so add in reverse to keep file order.
	type kv struct{ k, v string }
	var all []kv
	for i := range chunks {
		for fs := chunks[i].Fields(); fs.Next(); {
			all = append(all, kv{fs.Key(), fs.Value()})
		}
	}
	var h textproto.Header
	for i := len(all) - 1; i >= 0; i-- {
		h.Add(all[i].k, all[i].v)
	}
	return message.Header{Header: h}, ok
}

// nextLooksLikeHeader reports whether the next line is a header field
// ("Key: value"), a continuation or the blank line ending the header.
func nextLooksLikeHeader(br *bufio.Reader) bool {
	b, _ := br.Peek(256)
	if len(b) == 0 {
		return false
	}
	if b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t' {
		return true
	}
	for i, c := range b {
		if c == ':' {
			return i > 0
		}
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return false
}

// discardHeader skips the rest of a header block: the current (oversized)
// line, then lines up to and including the first empty one.
func discardHeader(br *bufio.Reader) {
	atStart := false // the first line read is the rest of the current one
	for {
		line, err := br.ReadSlice('\n')
		if atStart && (string(line) == "\n" || string(line) == "\r\n") {
			return
		}
		atStart = len(line) > 0 && line[len(line)-1] == '\n'
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// entity walks one MIME entity: header h and its raw (still transfer-encoded)
// body.
func (p *parser) entity(h message.Header, body io.Reader, depth int, encapsulated bool) {
	if p.stop {
		return
	}
	mt, params, perr := parseParams(h.Get("Content-Type"))
	if perr != nil {
		p.problem("bad_content_type")
	}
	if mt == "" || !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	if depth == 0 {
		p.m.ContentType = mt
		if mt == "multipart/report" {
			p.m.IsReport = true
			p.m.ReportType = strings.ToLower(strings.TrimSpace(params["report-type"]))
		}
	}
	if strings.HasPrefix(mt, "multipart/") {
		p.multipart(params, body, depth, encapsulated)
		return
	}
	switch mt {
	case "message/delivery-status", "message/global-delivery-status",
		"message/disposition-notification", "message/global-disposition-notification":
		if !encapsulated {
			p.m.IsReport = true
		}
		return
	case "text/rfc822-headers":
		return
	}

	// A mangled charset parameter (charset="charset=us-ascii", quotes,
	// spaces) is repaired before go-message looks it up.
	if cs, ok := params["charset"]; ok && strings.HasPrefix(mt, "text/") {
		if fixed := fixCharsetName(cs); fixed != cs {
			params["charset"] = fixed
			h = message.Header{Header: h.Header.Copy()}
			h.SetContentType(mt, map[string]string{"charset": fixed})
		}
	}
	// Leaf: go-message decodes the transfer encoding (base64 is ours) and the
	// charset.
	var ent *message.Entity
	var err error
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if strings.ToLower(h.Get("Content-Transfer-Encoding")) == "base64" {
		ent = &message.Entity{Header: h, Body: newBase64Reader(body, p.slab(), p.slab()[:3<<10])}
		if strings.HasPrefix(mt, "text/") {
			th := message.Header{Header: h.Header.Copy()}
			th.Del("Content-Transfer-Encoding")
			ent, err = message.New(th, ent.Body)
		}
	} else {
		if cte == "quoted-printable" {
			body = p.reader(body) // quotedprintable then reads through it, not a bufio.Reader of its own
		}
		ent, err = message.New(h, body)
	}
	charset := strings.ToLower(strings.TrimSpace(params["charset"]))
	unknownCharset := false
	if err != nil {
		switch {
		case message.IsUnknownCharset(err):
			unknownCharset = true
			p.problem("unknown_charset: " + clean(params["charset"], 64))
		case message.IsUnknownEncoding(err):
			p.problem("unknown_encoding: " + clean(cte, 64))
		default:
			p.problem("bad_entity")
		}
	}
	if ent == nil {
		return
	}
	disp, dparams, derr := parseParams(h.Get("Content-Disposition"))
	if derr != nil {
		p.problem("bad_content_disposition")
	}
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = cleanFilename(filename)

	if mt == "message/rfc822" || mt == "message/global" {
		p.encapsulated(ent.Body, mt, filename, disp, cte, depth)
		return
	}
	isText := mt == "text/plain" || mt == "text/html"
	if isText && disp != "attachment" && (depth == 0 || filename == "" || disp == "inline") {
		p.text(ent.Body, mt == "text/html", charset, cte, unknownCharset)
		return
	}
	p.attachment(ent.Body, h, mt, filename, disp, cte)
}

// multipart walks the parts of a multipart body.
func (p *parser) multipart(params map[string]string, body io.Reader, depth int, encapsulated bool) {
	boundary := params["boundary"]
	if boundary == "" {
		p.problem("missing_boundary")
		p.text(body, false, "", "", false)
		return
	}
	if depth >= p.lim.MaxDepth {
		p.problem("too_deep")
		return
	}
	capture := &prefixCapture{r: body, max: p.lim.MaxTextBytes}
	mr := newMultipartReader(p, capture, boundary)
	n := 0
	for {
		part, err := mr.nextPart()
		if err != nil {
			if p.src.err != nil {
				return
			}
			switch {
			case n == 0:
				// The boundary never showed up: read the body as text.
				p.problem("missing_boundary")
				p.textBytes(capture.buf, false, "", false)
			case err == io.EOF:
			case errors.Is(err, errMultipartEOF):
				p.problem("missing_final_boundary")
			default:
				p.problem("bad_multipart")
			}
			return
		}
		if n == 0 {
			capture.off = true
			capture.buf = nil
		}
		n++
		p.parts++
		if p.parts > p.lim.MaxParts {
			p.problem("too_many_parts")
			p.stop = true
			return
		}
		if part.tooLarge {
			continue // header_too_large already reported; the part is skipped
		}
		p.entity(part.Header, part, depth+1, encapsulated)
		if p.stop {
			return
		}
	}
}

// fixCharsetName repairs common damage to a charset name.
func fixCharsetName(cs string) string {
	c := strings.TrimSpace(cs)
	return cmp.Or(strings.Trim(c[strings.LastIndexByte(c, '=')+1:], "\"' \t;"), cs)
}

// encapsulated walks a message/rfc822 part: its text and attachments count,
// its headers do not, and the part is listed as an attachment too.
func (p *parser) encapsulated(body io.Reader, mt, filename, disp, cte string, depth int) {
	hw := &hashCounter{h: sha256.New()}
	tee := io.TeeReader(body, hw)
	if depth+1 > p.lim.MaxDepth {
		p.problem("too_deep")
	} else {
		br, h, _ := p.messageHeader(tee)
		p.entity(h, br, depth+1, true)
		if p.stop {
			return
		}
		p.drain(br, cte)
	}
	p.drain(tee, cte)
	p.m.Attachments = append(p.m.Attachments, hw.attachment(filename, mt, disp == "inline"))
}

// base64Reader decodes base64 as message.New does (spaces and tabs are
// line breaks, which are skipped), but a buffer at a time with
// base64.StdEncoding.Decode: base64.NewDecoder filters line breaks out a
// byte at a time first (half of Parse's time on a large attachment).
type base64Reader struct {
	r       io.Reader
	in, dst []byte
	carry   int    // in[:carry]: an incomplete quantum left by the last read
	out     []byte // decoded, not yet returned
	err     error
}

// newBase64Reader reads r with buffers in and dst (len(dst) >= len(in)*3/4).
func newBase64Reader(r io.Reader, in, dst []byte) *base64Reader {
	return &base64Reader{r: r, in: in, dst: dst}
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 && d.err == nil {
		d.fill()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	if n == 0 {
		return 0, d.err
	}
	return n, nil
}

func (d *base64Reader) fill() {
	n, err := d.r.Read(d.in[d.carry:])
	buf := d.in[:d.carry+n]
	if b := buf[d.carry:]; bytes.IndexByte(b, ' ') >= 0 || bytes.IndexByte(b, '\t') >= 0 {
		for i, c := range b {
			if c == ' ' || c == '\t' {
				b[i] = '\n'
			}
		}
	}
	// Decode whole quanta; the bytes of an incomplete one wait for the next
	// read (without the line breaks among them).
	end := len(buf)
	if err == nil {
		for rem := (end - bytes.Count(buf, []byte{'\n'}) - bytes.Count(buf, []byte{'\r'})) % 4; rem > 0; {
			if end--; buf[end] != '\n' && buf[end] != '\r' {
				rem--
			}
		}
	}
	m, derr := base64.StdEncoding.Decode(d.dst, buf[:end])
	d.out = d.dst[:m]
	d.carry = 0
	for _, c := range buf[end:] {
		if c != '\n' && c != '\r' {
			d.in[d.carry] = c
			d.carry++
		}
	}
	d.err = cmp.Or(derr, err)
}

// hashCounter hashes and counts an attachment's bytes.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (w *hashCounter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return w.h.Write(b)
}

func (w *hashCounter) attachment(filename, mt string, inline bool) Attachment {
	return Attachment{Filename: filename, ContentType: mt, Size: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil)), Inline: inline}
}

// drain reads r to its end, reporting decoding errors.
func (p *parser) drain(r io.Reader, cte string) {
	_, err := io.Copy(io.Discard, r)
	p.readErr(err, cte)
}

// readErr turns an error met while reading a decoded body into a problem.
func (p *parser) readErr(err error, cte string) {
	if err == nil || err == io.EOF || p.src.err != nil {
		return
	}
	var cie base64.CorruptInputError
	switch {
	case errors.As(err, &cie) || cte == "base64":
		p.problem("bad_base64")
	case cte == "quoted-printable":
		p.problem("bad_quoted_printable")
	case errors.Is(err, io.ErrUnexpectedEOF):
		p.problem("missing_final_boundary")
	default:
		p.problem("bad_body")
	}
}

// attachment hashes one attachment while streaming it.
func (p *parser) attachment(body io.Reader, h message.Header, mt, filename, disp, cte string) {
	hw := &hashCounter{h: sha256.New()}
	if p.buf == nil {
		p.buf = p.slab()
	}
	_, err := io.CopyBuffer(hw, body, p.buf)
	// A part cut short by a bad encoding keeps what decoded.
	p.readErr(err, cte)
	lname := strings.ToLower(filename)
	a := hw.attachment(filename, mt, disp == "inline" || (disp == "" && h.Get("Content-Id") != ""))
	a.Winmail = lname == "winmail.dat" || mt == "application/ms-tnef" || mt == "application/vnd.ms-tnef"
	a.Screenshot = strings.HasPrefix(mt, "image/") || (mt == "application/octet-stream" && isImageExt(path.Ext(lname)))
	p.m.Attachments = append(p.m.Attachments, a)
}

func isImageExt(ext string) bool {
	return slices.Contains([]string{".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic"}, ext)
}

// text reads one body text part (bounded) and appends it to the plain or HTML
// text.
func (p *parser) text(body io.Reader, isHTML bool, charset, cte string, unknownCharset bool) {
	limit := p.lim.MaxTextBytes - len(p.plain)
	if isHTML {
		// HTML is only used when there is no plain text (it is usually the
		// other alternative).
		limit = p.lim.MaxTextBytes*htmlInputFactor - p.htmlLen
		if len(bytes.Trim(p.plain, " \t\r\n")) > 0 {
			limit = 0
		}
	}
	if limit <= 0 {
		return // the parent skips the rest of the part
	}
	if p.raw.Cap() == 0 {
		p.raw = *bytes.NewBuffer(p.slab()[:0]) // grows past 4 KiB on its own
	}
	p.raw.Reset()
	n, err := p.raw.ReadFrom(io.LimitReader(body, int64(limit)))
	p.readErr(err, cte)
	data := p.raw.Bytes()
	if n == int64(limit) {
		data = trimPartialRune(data) // cut by the limit
	}
	p.textBytes(data, isHTML, charset, unknownCharset)
}

// textBytes appends decoded body bytes to the plain or HTML text.
func (p *parser) textBytes(data []byte, isHTML bool, charset string, unknownCharset bool) {
	if len(data) == 0 {
		return
	}
	if !utf8.Valid(data) && !unknownCharset && (charset == "" || charset == "us-ascii" || charset == "ascii") {
		// Undeclared 8-bit text: Windows-1252 is the usual culprit.
		if d, err := charmap.Windows1252.NewDecoder().Bytes(data); err == nil {
			data = d
			p.problem("undeclared_charset")
		}
	}
	if isHTML {
		if room := p.lim.MaxTextBytes*htmlInputFactor - p.htmlLen; len(data) > room {
			data = data[:max(room, 0)]
		}
		p.htmlRaw = append(p.htmlRaw, bytes.Clone(data))
		p.htmlLen += len(data)
		return
	}
	room := p.lim.MaxTextBytes - len(p.plain)
	if p.plain == nil {
		p.plain = make([]byte, 0, min(len(data), room))
	}
	if len(p.plain) > 0 && room > 0 {
		p.plain = append(p.plain, '\n')
		room--
	}
	p.plain = appendText(p.plain, data, room)
}

// appendText appends data to dst with CRLF and lone CR turned into LF, other
// control characters (but tab) dropped, invalid UTF-8 replaced, and at most
// max bytes added (cut on a rune boundary).
func appendText(dst, data []byte, max int) []byte {
	start := len(dst)
	span := 0 // data[:span] is clean and not yet appended
	flush := func() {
		dst = append(dst, data[:span]...)
		data = data[span:]
		span = 0
	}
	for span < len(data) {
		if len(dst)-start+span >= max {
			break
		}
		c := data[span]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f || c == '\n' || c == '\t' {
				span++
				continue
			}
			flush()
			if c == '\r' {
				dst = append(dst, '\n')
				if len(data) > 1 && data[1] == '\n' {
					data = data[1:]
				}
			}
			data = data[1:]
			continue
		}
		r, size := utf8.DecodeRune(data[span:])
		if r == utf8.RuneError && size == 1 || r >= 0x80 && r < 0xa0 {
			flush()
			if r == utf8.RuneError {
				if len(dst)-start+3 > max {
					break
				}
				dst = append(dst, "\uFFFD"...)
			}
			data = data[size:]
			continue
		}
		if len(dst)-start+span+size > max {
			break
		}
		span += size
	}
	if span > 0 {
		if room := max - (len(dst) - start); span > room {
			span = room
		}
		flush()
	}
	return dst
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b (a cut
// made by a limit).
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// Default returns a Parser with the default options.
func Default() *Parser {
	p, err := New(Options{})
	if err != nil {
		panic(err) // DefaultTicketPattern compiles (TestDefault)
	}
	return p
}
