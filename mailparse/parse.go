package mailparse

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime/quotedprintable"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // every charset go-message knows (ISO-8859-x, Windows-125x, Shift_JIS, ISO-2022-JP, GBK, Big5…)
	"golang.org/x/text/encoding/charmap"
)

// errHeaderTooLarge is returned by the source reader while a header block is
// read past Limits.MaxHeaderBytes.
var errHeaderTooLarge = errors.New("mailparse: header too large")

// htmlInputFactor bounds the HTML markup read for one part relative to
// MaxTextBytes (markup is much larger than the text it yields).
const htmlInputFactor = 4

// copyBufSize is the size of the buffer reused for hashing and draining.
const copyBufSize = 32 << 10

// resolved returns opts with every zero field replaced by its default.
func resolved(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := DefaultLimits()
	if o.Limits.MaxMessageBytes <= 0 {
		o.Limits.MaxMessageBytes = d.MaxMessageBytes
	}
	if o.Limits.MaxHeaderBytes <= 0 {
		o.Limits.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if o.Limits.MaxParts <= 0 {
		o.Limits.MaxParts = d.MaxParts
	}
	if o.Limits.MaxDepth <= 0 {
		o.Limits.MaxDepth = d.MaxDepth
	}
	if o.Limits.MaxTextBytes <= 0 {
		o.Limits.MaxTextBytes = d.MaxTextBytes
	}
	if o.TicketPattern == "" {
		o.TicketPattern = DefaultTicketPattern
	}
	if o.ServerOSes == nil {
		o.ServerOSes = DefaultServerOSes
	}
	return o
}

// source wraps the caller's reader: it counts bytes, stops at
// MaxMessageBytes, bounds the top-level header block and remembers the first
// real I/O error (the only error Parse returns).
type source struct {
	r         io.Reader
	n         int64
	max       int64
	hdrOn     bool
	hdrLeft   int64
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
	if s.hdrOn {
		if s.hdrLeft <= 0 {
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > s.hdrLeft {
			p = p[:s.hdrLeft]
		}
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
	if s.hdrOn {
		s.hdrLeft -= int64(k)
	}
	if err == io.EOF {
		s.eof = true
	} else if err != nil {
		s.err = err
	}
	return k, err
}

// probe checks whether the input goes on past the limit.
func (s *source) probe() {
	if s.truncated || s.eof || s.err != nil {
		return
	}
	var b [1]byte
	for i := 0; i < 100; i++ {
		k, err := s.r.Read(b[:])
		if k > 0 {
			s.truncated = true
			return
		}
		if err == io.EOF {
			s.eof = true
			return
		}
		if err != nil {
			s.err = err
			return
		}
	}
}

// budgetReader bounds the header block of an encapsulated message.
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
	if !c.off && k > 0 {
		room := c.max - len(c.buf)
		if room > 0 {
			if room > k {
				room = k
			}
			c.buf = append(c.buf, p[:room]...)
		}
	}
	return k, err
}

// parser holds the state of one Parse call.
type parser struct {
	opts     Options
	lim      Limits
	m        *Message
	src      *source
	problems []string
	parts    int
	stop     bool

	plain   []byte   // text/plain body text, bounded by MaxTextBytes
	htmlRaw [][]byte // decoded HTML parts, converted only when no plain text exists
	htmlLen int
	buf     []byte // from sc
	sum     hash.Hash
	sc      *scratch
	limited io.LimitedReader // text's, one part at a time
}

// scratch holds the buffers one Parse needs, reused across calls.
type scratch struct {
	buf []byte
	br  *bufio.Reader
	raw bytes.Buffer
	sum hash.Hash
	b64 *b64Reader // made on first use
	// readers are free bufio.Readers of peekBufferSize for the bodies of
	// multiparts and encapsulated messages, one per nesting level in use.
	readers []*bufio.Reader
	lines   []line // Extract's lines of the body text
	capture []byte // the active prefixCapture's buffer
	fields  []headerKV
	hdr     headerBufs // readHeaderFields' buffers
	plain   []byte     // the parser's plain text, copied into Message.Text
	decoded []byte     // undeclared 8-bit text decoded as Windows-1252
}

// maxFreeReaders bounds the readers a scratch keeps (DefaultLimits.MaxDepth
// deep messages are rare: beyond this they are allocated per message).
const maxFreeReaders = 8

// reader returns a free bufio.Reader of peekBufferSize reading r.
func (sc *scratch) reader(r io.Reader) *bufio.Reader {
	if n := len(sc.readers); n > 0 {
		br := sc.readers[n-1]
		sc.readers = sc.readers[:n-1]
		br.Reset(r)
		return br
	}
	// Not bufio.NewReaderSize(r, …): it returns r itself when r is a
	// large enough bufio.Reader, which release would then reset.
	br := bufio.NewReaderSize(nil, peekBufferSize)
	br.Reset(r)
	return br
}

// release gives back a reader from reader once its body is done with.
func (sc *scratch) release(br *bufio.Reader) {
	br.Reset(nil)
	if len(sc.readers) < maxFreeReaders {
		sc.readers = append(sc.readers, br)
	}
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{buf: make([]byte, copyBufSize), br: bufio.NewReaderSize(nil, 16<<10), sum: sha256.New()}
}}

func (p *parser) problem(token string) {
	p.problems = append(p.problems, token)
}

// Parse reads one message from r and returns everything supportd needs from
// it. It never panics and always returns a non-nil *Message; a malformed
// message is not an error (its oddities are listed in Message.Problems). The
// error is only for a failure of r itself; the Message then holds what was
// read before it.
func Parse(r io.Reader, opts *Options) (*Message, error) {
	o := resolved(opts)
	m := &Message{Problems: []string{}}
	sc := scratchPool.Get().(*scratch)
	defer func() {
		if sc.raw.Cap() > 1<<20 {
			sc.raw = bytes.Buffer{} // do not keep a huge buffer alive
		}
		if cap(sc.lines) > 4096 {
			sc.lines = nil
		}
		if cap(sc.capture) > 64<<10 {
			sc.capture = nil
		}
		if cap(sc.hdr.line) > 64<<10 || cap(sc.hdr.vals) > 64<<10 || cap(sc.hdr.ends) > 4096 {
			sc.hdr = headerBufs{}
		}
		if cap(sc.fields) > 1024 {
			sc.fields = nil
		}
		if cap(sc.plain) > 1<<20 {
			sc.plain = nil
		}
		if cap(sc.decoded) > 1<<20 {
			sc.decoded = nil
		}
		if sc.b64 != nil {
			sc.b64.reset(nil) // do not keep the caller's reader alive
		}
		scratchPool.Put(sc)
	}()
	p := &parser{opts: o, lim: o.Limits, m: m, buf: sc.buf, sum: sc.sum, sc: sc, plain: sc.plain[:0]}
	defer func() { sc.plain = p.plain[:0] }()
	if r == nil {
		p.problem("empty_message")
		p.finish()
		return m, nil
	}
	p.src = &source{r: r, max: o.Limits.MaxMessageBytes}
	// Last line of defence: a bug in a decoder must cost one message's
	// details, never the daemon.
	func() {
		defer func() {
			if v := recover(); v != nil {
				p.problem("internal_error: " + clean(fmt.Sprint(v), 80))
			}
		}()
		p.walk()
	}()
	func() {
		defer func() {
			if v := recover(); v != nil {
				m.Problems = normaliseProblems(append(m.Problems, "internal_error: "+clean(fmt.Sprint(v), 80)))
			}
		}()
		p.finish()
	}()
	if p.src.err != nil {
		return m, fmt.Errorf("mailparse: read message: %w", p.src.err)
	}
	return m, nil
}

// walk reads the header and the MIME tree.
func (p *parser) walk() {
	br := p.sc.br
	br.Reset(p.src)
	defer br.Reset(nil)
	p.src.hdrOn = true
	p.src.hdrLeft = int64(p.lim.MaxHeaderBytes)
	h, ok := p.readHeader(br, func() { p.src.hdrOn = false })
	p.src.hdrOn = false
	if !ok && p.src.n == 0 {
		p.problem("empty_message")
	}
	p.headers(h)
	p.entity(h, br, 0, false)
	// Drain what is left so that Size and message_too_large are exact. The
	// source is bounded by MaxMessageBytes.
	if p.src.err == nil {
		_, _ = io.CopyBuffer(io.Discard, br, p.buf)
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
	p.sc.lines = extract(m, &p.opts, p.sc.lines)
}

// normaliseProblems sorts and de-duplicates problems, never returning nil.
func normaliseProblems(in []string) []string {
	if len(in) == 0 {
		return []string{}
	}
	sort.Strings(in)
	out := in[:1]
	for _, s := range in[1:] {
		if s != out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

// readHeader reads a header block from br, tolerating malformed lines (they
// are skipped and reported). onTooLarge is called when the header exceeds its
// budget: it must lift the budget, after which the rest of the block is
// discarded. ok is false when not a single byte of header could be read.
func (p *parser) readHeader(br *bufio.Reader, onTooLarge func()) (header, bool) {
	fs := p.sc.fields[:0]
	ok := false
	for i := 0; ; i++ {
		n := len(fs)
		var err error
		fs, err = readHeaderFields(br, fs, &p.sc.hdr)
		if len(fs) > n {
			ok = true
		}
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
		if strings.Contains(err.Error(), "malformed MIME header") {
			ok = true
			p.problem("malformed_header")
			// Skip the bad line only when what follows still looks like a
			// header; otherwise the body started without its blank line.
			if i > 10000 || !nextLooksLikeHeader(br) {
				break
			}
			continue
		}
		p.problem("malformed_header")
		break
	}
	h := append(header(nil), fs...)
	clear(fs) // do not keep this message's values alive
	p.sc.fields = fs[:0]
	return h, ok
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
	first := true
	atStart := false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if atStart && !first && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
				return
			}
			atStart = true
			first = false
		} else {
			atStart = false
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// mediaType parses a Content-Type-like header value tolerantly: the media type
// lower-cased and its parameters (RFC 2231 and RFC 2047 decoded).
func (p *parser) mediaType(h header, key string) (string, map[string]string, bool) {
	v := h.Get(key)
	if strings.TrimSpace(v) == "" {
		return "", nil, true // read only: a nil map answers "" like an empty one
	}
	t, params, err := parseParams(v)
	return t, params, err == nil
}

// entity walks one MIME entity: header h and its raw (still transfer-encoded)
// body.
func (p *parser) entity(h header, body io.Reader, depth int, encapsulated bool) {
	if p.stop {
		return
	}
	mt, params, ok := p.mediaType(h, "Content-Type")
	if !ok {
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
	fixedCharset := false
	if cs, ok := params["charset"]; ok && strings.HasPrefix(mt, "text/") {
		if fixed := fixCharsetName(cs); fixed != cs {
			params["charset"] = fixed
			fixedCharset = true
		}
	}
	// Leaf: go-message decodes the transfer encoding and the charset, except
	// base64 outside text/* and message/*, and base64 text that message.New
	// would not convert, which b64Reader decodes faster (no charset
	// applies), and a body message.New would return unchanged (it would only
	// parse the Content-Type again).
	cteRaw := h.Get("Content-Transfer-Encoding")
	cte := strings.ToLower(strings.TrimSpace(cteRaw))
	var (
		body2 io.Reader
		err   error
	)
	switch {
	case cte == "base64" && !strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "message/"),
		strings.ToLower(cteRaw) == "base64" && strings.HasPrefix(mt, "text/") && charsetIsUTF8(params):
		// One at a time: a leaf is read to its end before the next part.
		if p.sc.b64 == nil {
			p.sc.b64 = newB64Reader(nil)
		}
		p.sc.b64.reset(body)
		body2 = p.sc.b64
	case identityEncoding(cteRaw) && (!strings.HasPrefix(mt, "text/") || charsetIsUTF8(params)):
		body2 = body
	case strings.ToLower(cteRaw) == "quoted-printable" && !strings.HasPrefix(mt, "message/") &&
		(!strings.HasPrefix(mt, "text/") || charsetIsUTF8(params)):
		// What message.New would return, on a reused buffered reader
		// (quotedprintable.NewReader keeps a bufio.Reader of 4 KiB as is
		// instead of allocating one).
		br := p.sc.reader(body)
		defer p.sc.release(br)
		body2 = quotedprintable.NewReader(br)
	default:
		gh := h.goHeader()
		if fixedCharset {
			gh.SetContentType(mt, map[string]string{"charset": params["charset"]})
		}
		var ent *message.Entity
		ent, err = message.New(gh, body)
		if ent == nil {
			return
		}
		body2 = ent.Body
	}
	body = body2
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
	disp, dparams, dok := p.mediaType(h, "Content-Disposition")
	if !dok {
		p.problem("bad_content_disposition")
	}
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = cleanFilename(filename)

	if mt == "message/rfc822" || mt == "message/global" {
		p.encapsulated(body, mt, filename, disp, cte, depth)
		return
	}
	isText := mt == "text/plain" || mt == "text/html"
	if isText && disp != "attachment" && (depth == 0 || filename == "" || disp == "inline") {
		p.text(body, mt == "text/html", charset, cte, unknownCharset)
		return
	}
	p.attachment(body, h, mt, filename, disp, cte)
}

// identityEncoding reports whether go-message's message.New leaves a body
// with this Content-Transfer-Encoding undecoded (it compares the raw value,
// lower-cased, untrimmed).
func identityEncoding(cte string) bool {
	switch strings.ToLower(cte) {
	case "7bit", "8bit", "binary", "":
		return true
	}
	return false
}

// charsetIsUTF8 reports whether message.New leaves a text/* body with these
// parameters unconverted: no charset parameter, or UTF-8 or US-ASCII (an
// empty charset is an unknown one). When go-message cannot parse the
// Content-Type it converts nothing; when it can, its parameters are params.
func charsetIsUTF8(params map[string]string) bool {
	cs, ok := params["charset"]
	if !ok {
		return true
	}
	cs = strings.ToLower(cs)
	return cs == "utf-8" || cs == "us-ascii"
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
	// One capture is active at a time (it stops at the first part, before
	// any nested multipart starts), so its buffer comes from the scratch.
	capture := &prefixCapture{r: body, max: p.lim.MaxTextBytes, buf: p.sc.capture[:0]}
	mr := newMultipartReader(p, capture, boundary)
	defer p.sc.release(mr.bufReader)
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
				p.sc.capture = capture.buf[:0]
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
			p.sc.capture = capture.buf[:0]
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
	if i := strings.LastIndexByte(c, '='); i >= 0 {
		c = c[i+1:]
	}
	c = strings.Trim(c, "\"' \t;")
	if c == "" {
		return cs
	}
	return c
}

// encapsulated walks a message/rfc822 part: its body is parsed as a message
// (text and attachments count for this message; its headers do not) and the
// part itself is listed as an attachment, hashed while it is read.
func (p *parser) encapsulated(body io.Reader, mt, filename, disp, cte string, depth int) {
	hw := &hashCounter{h: sha256.New()}
	tee := io.TeeReader(body, hw)
	if depth+1 > p.lim.MaxDepth {
		p.problem("too_deep")
	} else {
		bud := &budgetReader{r: tee, on: true, left: int64(p.lim.MaxHeaderBytes)}
		br := p.sc.reader(bud)
		defer p.sc.release(br)
		h, _ := p.readHeader(br, func() { bud.on = false })
		bud.on = false
		p.entity(h, br, depth+1, true)
		if p.stop {
			return
		}
		p.drain(br, cte)
	}
	p.drain(tee, cte)
	p.m.Attachments = append(p.m.Attachments, Attachment{
		Filename:    filename,
		ContentType: mt,
		Size:        hw.n,
		SHA256:      hex.EncodeToString(hw.h.Sum(nil)),
		Inline:      disp == "inline",
	})
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (w *hashCounter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return w.h.Write(b)
}

// drain reads r to its end, reporting decoding errors.
func (p *parser) drain(r io.Reader, cte string) {
	_, err := io.CopyBuffer(io.Discard, r, p.buf)
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
func (p *parser) attachment(body io.Reader, h header, mt, filename, disp, cte string) {
	p.sum.Reset()
	hw := &hashCounter{h: p.sum}
	_, err := io.CopyBuffer(hw, body, p.buf)
	// A part cut short by a bad encoding keeps what decoded.
	p.readErr(err, cte)
	lname := strings.ToLower(filename)
	a := Attachment{
		Filename:    filename,
		ContentType: mt,
		Size:        hw.n,
		SHA256:      hex.EncodeToString(p.sum.Sum(nil)),
		Inline:      disp == "inline" || (disp == "" && h.Get("Content-Id") != ""),
		Winmail:     lname == "winmail.dat" || mt == "application/ms-tnef" || mt == "application/vnd.ms-tnef",
	}
	a.Screenshot = strings.HasPrefix(mt, "image/") ||
		(mt == "application/octet-stream" && isImageExt(path.Ext(lname)))
	p.m.Attachments = append(p.m.Attachments, a)
}

func isImageExt(ext string) bool {
	switch ext {
	case ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic":
		return true
	}
	return false
}

// text reads one body text part (bounded) and appends it to the plain or HTML
// text.
func (p *parser) text(body io.Reader, isHTML bool, charset, cte string, unknownCharset bool) {
	limit := p.lim.MaxTextBytes - len(p.plain)
	if isHTML {
		// HTML is only used when there is no plain text: once some plain
		// text exists, an HTML part (usually the other alternative) is
		// skipped unread.
		limit = p.lim.MaxTextBytes*htmlInputFactor - p.htmlLen
		if hasText(p.plain) {
			limit = 0
		}
	}
	if limit <= 0 {
		return // the parent skips the rest of the part
	}
	raw := &p.sc.raw
	raw.Reset()
	p.limited = io.LimitedReader{R: body, N: int64(limit)}
	n, err := io.CopyBuffer(raw, &p.limited, p.buf)
	p.limited.R = nil
	p.readErr(err, cte)
	data := raw.Bytes()
	if n == int64(limit) {
		data = trimPartialRune(data) // cut by the limit
	}
	p.textBytes(data, isHTML, charset, unknownCharset)
}

// hasText reports whether b holds anything but white space.
func hasText(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}

// textBytes appends decoded body bytes to the plain or HTML text.
func (p *parser) textBytes(data []byte, isHTML bool, charset string, unknownCharset bool) {
	if len(data) == 0 {
		return
	}
	valid := utf8.Valid(data)
	if !valid {
		if !unknownCharset && (charset == "" || charset == "us-ascii" || charset == "ascii") {
			// Undeclared 8-bit text: Windows-1252 is the usual culprit.
			p.sc.decoded = decodeWindows1252(p.sc.decoded[:0], data)
			data = p.sc.decoded
			valid = true // every byte decodes to a rune (TestWindows1252Valid)
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
	if len(p.plain) > 0 && room > 0 {
		p.plain = append(p.plain, '\n')
		room--
	}
	p.plain = appendTextValid(p.plain, data, room, valid)
}

// decodeWindows1252 appends src decoded as Windows-1252 to dst: what
// charmap.Windows1252's decoder yields (TestDecodeWindows1252), byte by byte
// from a table of its decodings, into room reserved at once.
func decodeWindows1252(dst, src []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 3*len(src))[:n+3*len(src)] // a byte decodes to at most 3
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c >= utf8.RuneSelf:
			e := &windows1252UTF8[c-utf8.RuneSelf]
			dst[n], dst[n+1], dst[n+2] = e.b[0], e.b[1], e.b[2]
			n += int(e.n)
			i++
		case i+1 < len(src) && src[i+1] < utf8.RuneSelf:
			// A run of ASCII (prose), copied at once.
			k := asciiPrefix(src[i:])
			n += copy(dst[n:], src[i:i+k])
			i += k
		default:
			// One ASCII byte among others (a DBCS trail byte).
			dst[n] = c
			n++
			i++
		}
	}
	return dst[:n]
}

// windows1252UTF8 holds the UTF-8 encoding of charmap.Windows1252's decoding
// of each byte from 0x80.
var windows1252UTF8 = func() (t [128]struct {
	b [3]byte
	n uint8
}) {
	for i := range t {
		b := utf8.AppendRune(nil, charmap.Windows1252.DecodeByte(byte(i+utf8.RuneSelf)))
		t[i].n = uint8(copy(t[i].b[:], b))
	}
	return t
}()

// appendText appends data to dst with CRLF and lone CR turned into LF, other
// control characters (but tab) dropped, invalid UTF-8 replaced, and at most
// max bytes added (cut on a rune boundary).
func appendText(dst, data []byte, max int) []byte {
	return appendTextValid(dst, data, max, false)
}

// appendTextValid is appendText for data known to be valid UTF-8 when valid
// is true (it is then not validated again).
func appendTextValid(dst, data []byte, max int, valid bool) []byte {
	if len(data) <= max {
		switch plainCleanCR(data, valid) {
		case 0:
			return append(dst, data...)
		case 1:
			// Only CRs to turn into LFs (CRLF text), and it all fits: copy
			// line by line instead of byte by byte.
			if len(data)-bytes.Count(data, crlf) <= max {
				for {
					i := bytes.IndexByte(data, '\r')
					if i < 0 {
						return append(dst, data...)
					}
					dst = append(dst, data[:i]...)
					dst = append(dst, '\n')
					data = data[i+1:]
					if len(data) > 0 && data[0] == '\n' {
						data = data[1:]
					}
				}
			}
		}
	}
	return appendTextSlow(dst, data, max)
}

// appendTextSlow is appendText byte by byte, for any input.
func appendTextSlow(dst, data []byte, max int) []byte {
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

var crlf = []byte("\r\n")

// plainCleanCR (valid: data is known to be valid UTF-8) reports 0 when data is valid UTF-8 without CR or control
// characters other than LF and TAB, 1 when it would be but for some CRs,
// 2 otherwise (C1 controls are checked by utf8 decoding only when non-ASCII
// bytes are present).
func plainCleanCR(data []byte, valid bool) int {
	// Classes of every byte ORed together, a chunk at a time (no branch
	// per byte), stopping at the first chunk with another control.
	var seen uint8
	for rest := data; len(rest) > 0; {
		chunk := rest[:min(len(rest), 256)]
		rest = rest[len(chunk):]
		for _, c := range chunk {
			seen |= byteClass[c]
		}
		if seen&classControl != 0 {
			return 2
		}
	}
	res := 0
	if seen&classCR != 0 {
		res = 1
	}
	if seen&classNonASCII == 0 {
		return res
	}
	if !valid && !utf8.Valid(data) {
		return 2
	}
	if hasC1(data) {
		return 2
	}
	return res
}

// hasC1 reports whether UTF-8 data holds a C1 control (U+0080..U+009F,
// encoded as C2 80..C2 9F). It skips to each C2 with IndexByte (vectorised),
// byte by byte once C2s come densely (Latin-1 symbols, mojibake).
func hasC1(data []byte) bool {
	i, hits := 0, 0
	for i+1 < len(data) && hits <= 8+i/64 {
		j := bytes.IndexByte(data[i:len(data)-1], 0xc2)
		if j < 0 {
			return false
		}
		i += j + 1
		if data[i] >= 0x80 && data[i] < 0xa0 {
			return true
		}
		hits++
	}
	for ; i+1 < len(data); i++ {
		if data[i] == 0xc2 && data[i+1] >= 0x80 && data[i+1] < 0xa0 {
			return true
		}
	}
	return false
}

// Byte classes for plainCleanCR.
const (
	classControl  = 1 << iota // a control character other than LF, TAB and CR
	classCR                   // CR
	classNonASCII             // a byte of a multi-byte UTF-8 sequence (or invalid)
)

var byteClass = func() (t [256]uint8) {
	for i := range t {
		switch c := byte(i); {
		case c == '\r':
			t[i] = classCR
		case c < 0x20 && c != '\n' && c != '\t' || c == 0x7f:
			t[i] = classControl
		case c >= utf8.RuneSelf:
			t[i] = classNonASCII
		}
	}
	return t
}()

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b (a cut
// made by a limit).
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}
