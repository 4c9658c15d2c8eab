package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"supportd/internal/mailtext"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Limits applied while composing: text taken from incoming mail can be up
// to the 1 MiB header cap of go-message; nothing that large belongs in a
// reply header.
const (
	maxHeaderTextRunes = 400 // subject, names, X-Support-* values
	maxReferences      = 20  // RFC 5322 §3.6.4 lets a long chain be trimmed
)

// Reply is an automatic reply to a customer. Every string may come from
// the incoming message; ComposeReply sanitises all of them.
type Reply struct {
	From   mail.Address // Name and Address of the support mailbox
	To, Cc []string     // "addr" or "Name <addr>"
	// Subject is used as given (the caller adds "[CS-004211] Re: ").
	Subject string
	// InReplyTo is the Message-ID of the message answered (with or without
	// angle brackets); References are that message's References. The
	// reply's References are those plus InReplyTo (RFC 5322 §3.6.4).
	InReplyTo  string
	References []string
	// MessageID is required: a stable id derived from ticket and message,
	// so a resent reply is recognisable (RFC 1047).
	MessageID string
	Date      time.Time // required (no clock is read here)
	Body      string    // text/plain, UTF-8; line endings are normalised
	// Extra holds additional X-* fields (e.g. X-Support-Ticket); keys
	// must be X- field names, values are sanitised.
	Extra map[string]string
	// Relayed marks a person's message we pass on (a staff reply): it gets
	// no Auto-Submitted / X-Auto-Response-Suppress, so the customer's
	// auto-responders treat it as the human message it is.
	Relayed bool
	// Attachments follow the text part (multipart/mixed) when present.
	Attachments []Attachment
}

// Attachment is a file attached to a composed message.
type Attachment struct {
	Filename    string // sanitised; "" for none
	ContentType string // "application/octet-stream" when empty or invalid
	Data        []byte
}

// ComposeReply builds the RFC 5322 bytes of r: a single text/plain UTF-8
// quoted-printable part with Auto-Submitted: auto-replied and
// X-Auto-Response-Suppress: All (RFC 3834; no Precedence field, which RFC
// 3834 §3.1.8 advises against), In-Reply-To, References, Message-ID, Date.
// CR, LF and other control characters in any value become spaces, and
// values are written through go-message's typed setters (RFC 2047
// encoding), so no input can add a header field.
func ComposeReply(r Reply) ([]byte, error) {
	var h mail.Header
	from, err := cleanAddress(r.From.Name, r.From.Address)
	if err != nil {
		return nil, fmt.Errorf("compose reply: From: %w", err)
	}
	to, err := parseAddressList(r.To)
	if err != nil {
		return nil, fmt.Errorf("compose reply: To: %w", err)
	}
	if len(to) == 0 {
		return nil, errors.New("compose reply: no To address")
	}
	cc, err := parseAddressList(r.Cc)
	if err != nil {
		return nil, fmt.Errorf("compose reply: Cc: %w", err)
	}
	id, ok := mailtext.MsgID(r.MessageID)
	if !ok {
		return nil, fmt.Errorf("compose reply: invalid Message-ID %q", r.MessageID)
	}
	if r.Date.IsZero() {
		return nil, errors.New("compose reply: Date is required")
	}
	var refs []string
	for _, ref := range r.References {
		if id, ok := mailtext.MsgID(ref); ok && !slices.Contains(refs, id) {
			refs = append(refs, id)
		}
	}
	parent, hasParent := mailtext.MsgID(r.InReplyTo)
	if hasParent {
		refs = slices.DeleteFunc(refs, func(s string) bool { return s == parent })
		refs = append(refs, parent)
	}
	if len(refs) > maxReferences {
		// Keep the thread root and the most recent ancestors.
		refs = append(refs[:1:1], refs[len(refs)-maxReferences+1:]...)
	}

	// go-message writes fields in reverse order of Set.
	if len(r.Attachments) == 0 {
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	} else {
		h.SetContentType("multipart/mixed", nil)
	}
	if err := setExtra(&h, r.Extra); err != nil {
		return nil, fmt.Errorf("compose reply: %w", err)
	}
	if !r.Relayed {
		h.Set("X-Auto-Response-Suppress", "All")
		h.Set("Auto-Submitted", "auto-replied")
	}
	h.SetMsgIDList("References", refs)
	if hasParent {
		h.SetMsgIDList("In-Reply-To", []string{parent})
	}
	h.SetMessageID(id)
	h.SetDate(r.Date)
	setText(&h, "Subject", r.Subject)
	setAddressList(&h, "Cc", cc)
	setAddressList(&h, "To", to)
	setAddressList(&h, "From", []*mail.Address{from})

	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose reply: %w", err)
	}
	if len(r.Attachments) > 0 {
		if err := writeParts(w, r.Body, r.Attachments); err != nil {
			return nil, fmt.Errorf("compose reply: %w", err)
		}
	} else if _, err := io.WriteString(w, normaliseBody(r.Body)); err != nil {
		return nil, fmt.Errorf("compose reply: body: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compose reply: body: %w", err)
	}
	return buf.Bytes(), nil
}

// writeParts writes a text part and the attachments into the multipart
// writer w.
func writeParts(w *message.Writer, body string, atts []Attachment) error {
	var th message.Header
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	pw, err := w.CreatePart(th)
	if err != nil {
		return fmt.Errorf("text part: %w", err)
	}
	if _, err := io.WriteString(pw, normaliseBody(body)); err != nil {
		return fmt.Errorf("text part: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("text part: %w", err)
	}
	for i, a := range atts {
		var ah message.Header
		ct := strings.ToLower(strings.TrimSpace(a.ContentType))
		if t, _, err := mime.ParseMediaType(ct); err != nil || !strings.Contains(t, "/") || strings.HasPrefix(t, "multipart/") || strings.HasPrefix(t, "message/") {
			ct = "application/octet-stream"
		} else {
			ct = t
		}
		ah.SetContentType(ct, nil)
		ah.Set("Content-Transfer-Encoding", "base64")
		params := map[string]string{}
		if name := cleanText(a.Filename); name != "" {
			params["filename"] = name
		}
		ah.SetContentDisposition("attachment", params)
		aw, err := w.CreatePart(ah)
		if err != nil {
			return fmt.Errorf("attachment %d: %w", i+1, err)
		}
		if _, err := aw.Write(a.Data); err != nil {
			return fmt.Errorf("attachment %d: %w", i+1, err)
		}
		if err := aw.Close(); err != nil {
			return fmt.Errorf("attachment %d: %w", i+1, err)
		}
	}
	return nil
}

// StaffCopy is a routed copy of an incoming message for the staff queue:
// a new message whose first part is a text/plain preface and whose second
// part is the original, unchanged, as message/rfc822.
//
// Reply-To is deliberately not set to the customer: a staff member's
// "reply" would then go to the customer with the internal subject tags
// ([P4][Lapsed]) and the X-Support preface, outside the ticket thread.
// Staff answer the attached original (mail clients reply to an attached
// message's sender) or through the ticket.
type StaffCopy struct {
	From, To string // supportd's address and the staff queue address
	// ReplyTo is the ticket's signed reply address: a staff member's Reply
	// reaches supportd, which relays it to the customer (§10).
	ReplyTo string
	// Subject is used as given; StaffSubject builds the usual one.
	Subject string
	// Headers are X-Support-* fields (ticket, priority, status, SLA
	// deadline, build, major, server OS, browser, missing); values are
	// sanitised, keys must be X- field names.
	Headers map[string]string
	Preface string
	// MessageID "" derives a stable id from the other fields, so a copy
	// forwarded twice is recognisable.
	MessageID string
	// Date zero leaves the Date field out (the submission server adds it,
	// RFC 6409 §8.3).
	Date time.Time
	// MaxOriginalBytes > 0 fails the copy when the original is longer
	// (the caller's size limit, e.g. limits.max_message_bytes).
	MaxOriginalBytes int64
	// Boundary fixes the MIME boundary (golden tests); "" picks a random
	// one, which a sender cannot plant in the original.
	Boundary string
}

// Compose builds the staff copy, streaming original into the attachment.
// Bare CR or LF in the original become CRLF and lines over 998 octets are
// broken; a well-formed original is attached byte for byte.
func (c StaffCopy) Compose(original io.Reader) ([]byte, error) {
	from, err := parseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: From: %w", err)
	}
	to, err := parseAddressList([]string{c.To})
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: To: %w", err)
	}
	id := c.MessageID
	if id == "" {
		id = c.derivedID(from.Address)
	}
	id, ok := mailtext.MsgID(id)
	if !ok {
		return nil, fmt.Errorf("compose staff copy: invalid Message-ID %q", c.MessageID)
	}
	boundary := c.Boundary
	if boundary != "" && !validBoundary(boundary) {
		return nil, fmt.Errorf("compose staff copy: invalid boundary %q", boundary)
	}

	var h mail.Header
	if err := setExtra(&h, c.Headers); err != nil {
		return nil, fmt.Errorf("compose staff copy: %w", err)
	}
	params := map[string]string{}
	if boundary != "" {
		params["boundary"] = boundary
	}
	h.SetContentType("multipart/mixed", params)
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set("Auto-Submitted", "auto-generated")
	h.SetMessageID(id)
	h.SetDate(c.Date)
	setText(&h, "Subject", c.Subject)
	if c.ReplyTo != "" {
		rt, err := parseAddressList([]string{c.ReplyTo})
		if err != nil {
			return nil, fmt.Errorf("compose staff copy: Reply-To: %w", err)
		}
		setAddressList(&h, "Reply-To", rt)
	}
	setAddressList(&h, "To", to)
	setAddressList(&h, "From", []*mail.Address{from})

	var buf bytes.Buffer
	mw, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: %w", err)
	}
	var ph message.Header
	ph.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	ph.Set("Content-Transfer-Encoding", "quoted-printable")
	ph.SetContentDisposition("inline", nil)
	pw, err := mw.CreatePart(ph)
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: preface: %w", err)
	}
	if _, err := io.WriteString(pw, normaliseBody(c.Preface)); err != nil {
		return nil, fmt.Errorf("compose staff copy: preface: %w", err)
	}
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("compose staff copy: preface: %w", err)
	}

	var ah message.Header
	ah.SetContentType("message/rfc822", nil)
	// RFC 2046 §5.2.1: message/rfc822 is 7bit, 8bit or binary, never
	// base64. go-message's 8bit writer ends every line in CRLF and breaks
	// lines over 998 octets (RFC 5322 §2.1.1); a well-formed original is
	// copied byte for byte.
	ah.Set("Content-Transfer-Encoding", "8bit")
	ah.SetContentDisposition("attachment", map[string]string{"filename": "original.eml"})
	aw, err := mw.CreatePart(ah)
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: original: %w", err)
	}
	src := original
	if c.MaxOriginalBytes > 0 {
		src = io.LimitReader(original, c.MaxOriginalBytes+1)
	}
	n, err := io.Copy(aw, src)
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: read original: %w", err)
	}
	if c.MaxOriginalBytes > 0 && n > c.MaxOriginalBytes {
		return nil, fmt.Errorf("compose staff copy: original exceeds %d bytes", c.MaxOriginalBytes)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("compose staff copy: original: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose staff copy: %w", err)
	}
	return buf.Bytes(), nil
}

func (c StaffCopy) derivedID(fromAddr string) string {
	hs := sha256.New()
	for _, s := range []string{c.From, c.To, c.Subject, c.Preface} {
		fmt.Fprintf(hs, "%d:%s;", len(s), s)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		fmt.Fprintf(hs, "%d:%s=%d:%s;", len(k), k, len(c.Headers[k]), c.Headers[k])
	}
	domain := "supportd.invalid"
	if at := strings.LastIndexByte(fromAddr, '@'); at >= 0 {
		domain = fromAddr[at+1:]
	}
	return "staff." + hex.EncodeToString(hs.Sum(nil)[:16]) + "@" + domain
}

// setExtra sets X-* fields in sorted key order (written in reverse).
func setExtra(h *mail.Header, extra map[string]string) error {
	keys := slices.Sorted(maps.Keys(extra))
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		if !validExtraKey(k) {
			return fmt.Errorf("invalid extra header name %q (want X-…)", k)
		}
		if reservedExtra[strings.ToLower(k)] {
			return fmt.Errorf("extra header %q is set by the composer", k)
		}
		setText(h, k, extra[k])
	}
	return nil
}

// setText sets an unstructured field to cleanText(v), RFC 2047-encoded
// when needed. Text that itself looks like an encoded word ("=?utf-8?q?
// a=0D=0AB?=", e.g. a subject that was double-encoded by its sender) is
// always encoded, so a reader cannot decode it into a line break.
func setText(h *mail.Header, k, v string) {
	v = cleanText(v)
	if !strings.Contains(v, "=?") {
		h.SetText(k, v)
		return
	}
	h.Set(k, forceEncode(v))
}

// forceEncode B-encodes s as UTF-8 encoded words of at most 75 octets
// (RFC 2047 §2), split at rune boundaries.
func forceEncode(s string) string {
	const maxChunk = 45 // 45 octets -> 60 base64 chars + 12 = 72
	var words []string
	for len(s) > 0 {
		n := min(len(s), maxChunk)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

var reservedExtra = map[string]bool{"x-auto-response-suppress": true}

func validExtraKey(k string) bool {
	if len(k) < 3 || len(k) > 76 || !strings.HasPrefix(strings.ToUpper(k), "X-") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// cleanText makes incoming text safe for a header (mailtext.Sanitize),
// capped at maxHeaderTextRunes.
func cleanText(s string) string { return mailtext.Sanitize(s, maxHeaderTextRunes) }

func validBoundary(b string) bool {
	if len(b) == 0 || len(b) > 70 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("'()+_,-./:=?", c) >= 0) {
			return false
		}
	}
	return true
}

// setAddressList formats addresses like mail.Header.SetAddressList, except
// that a display name which is not printable ASCII is B-encoded: net/mail
// Q-encodes names with a backslash into an encoded word its own parser
// then rejects.
func setAddressList(h *mail.Header, key string, addrs []*mail.Address) {
	if len(addrs) == 0 {
		h.Del(key)
		return
	}
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		plain := &mail.Address{Address: a.Address}
		if a.Name == "" {
			parts[i] = plain.String()
			continue
		}
		if isPrintableASCII(a.Name) {
			// A quoted-string, inside which nothing is decoded (RFC 2047 §5).
			parts[i] = a.String()
			continue
		}
		parts[i] = forceEncode(a.Name) + " " + plain.String()
	}
	h.Set(key, strings.Join(parts, ", "))
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func parseAddressList(list []string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, s := range list {
		a, err := parseAddress(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// parseAddress parses "addr" or "Name <addr>" and sanitises the result.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		// net/mail would unfold, but an address is never multi-line here.
		return nil, fmt.Errorf("address %q contains a line break", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	return cleanAddress(a.Name, a.Address)
}

func cleanAddress(name, addr string) (*mail.Address, error) {
	if !validPath(addr, false) || !utf8.ValidString(addr) {
		return nil, fmt.Errorf("invalid address %q", addr)
	}
	return &mail.Address{Name: cleanText(name), Address: addr}, nil
}

// normaliseBody repairs UTF-8 and makes every line break "\n" (the
// quoted-printable writer emits CRLF for each), ending with one.
func normaliseBody(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
