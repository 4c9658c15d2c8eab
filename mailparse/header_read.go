// readHeaderFields and its helpers follow go-message's textproto.ReadHeader
// (github.com/emersion/go-message v0.18.2, textproto/header.go) line for line:
// Copyright (c) 2016 emersion. MIT License.

package mailparse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	nettextproto "net/textproto"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// headerKV is one header field as read: canonical key, unfolded value.
type headerKV struct{ k, v string }

// header is a header block in file order. It answers Get, Values and Has
// as go-message's Header does (the first field of a key wins; keys are
// canonical), without building its map and field objects; goHeader builds
// that Header for the parts handed to message.New.
type header []headerKV

// Get returns the value of the first field named k, "" if none.
func (h header) Get(k string) string {
	k = nettextproto.CanonicalMIMEHeaderKey(k)
	for i := range h {
		if h[i].k == k {
			return h[i].v
		}
	}
	return ""
}

// Has reports whether a field named k is present.
func (h header) Has(k string) bool {
	k = nettextproto.CanonicalMIMEHeaderKey(k)
	for i := range h {
		if h[i].k == k {
			return true
		}
	}
	return false
}

// Values returns the values of the fields named k, in file order.
func (h header) Values(k string) []string {
	k = nettextproto.CanonicalMIMEHeaderKey(k)
	var out []string
	for i := range h {
		if h[i].k == k {
			out = append(out, h[i].v)
		}
	}
	return out
}

// goHeader returns h as a go-message header. Add prepends (Get returns the
// last added), so fields are added in reverse file order, as
// textproto.ReadHeader's construction does.
func (h header) goHeader() message.Header {
	var th textproto.Header
	for i := len(h) - 1; i >= 0; i-- {
		th.Add(h[i].k, h[i].v)
	}
	return message.Header{Header: th}
}

// The malformed-header errors of go-message's ReadHeader; readHeader
// recognises them by their "malformed MIME header" text.
var (
	errMalformedInitial = errors.New("message: malformed MIME header initial line")
	errMalformedLine    = errors.New("message: malformed MIME header line")
	errMalformedKey     = errors.New("message: malformed MIME header key")
)

// readHeaderFields reads a header block from r exactly as textproto.ReadHeader
// does and appends its fields to fs in file order. It reuses line for the raw
// lines (ReadHeader allocates 256 bytes per field) and returns it, possibly
// grown, for the next call.
func readHeaderFields(r *bufio.Reader, fs []headerKV, bufs *headerBufs) ([]headerKV, error) {
	first := len(fs)
	bufs.vals, bufs.ends = bufs.vals[:0], bufs.ends[:0]
	fs, line, err := readHeaderFieldsInto(r, fs, bufs, bufs.line)
	bufs.line = line
	if len(bufs.vals) <= maxSharedValues {
		// One string for the block's values, not one each: a small header
		// keeps no large string alive through a value Message keeps.
		all := string(bufs.vals)
		start := 0
		for i, end := range bufs.ends {
			fs[first+i].v = all[start:end]
			start = end
		}
	} else {
		start := 0
		for i, end := range bufs.ends {
			fs[first+i].v = string(bufs.vals[start:end])
			start = end
		}
	}
	return fs, err
}

// maxSharedValues bounds the value bytes of a header block that share one
// string.
const maxSharedValues = 8 << 10

// headerBufs are the buffers readHeaderFields reuses: the raw line, the
// unfolded values of the block and where each ends.
type headerBufs struct {
	line, vals []byte
	ends       []int
}

// readHeaderFieldsInto is readHeaderFields's loop: it appends each field
// with an empty value, and the unfolded value to bufs.vals.
func readHeaderFieldsInto(r *bufio.Reader, fs []headerKV, bufs *headerBufs, line []byte) ([]headerKV, []byte, error) {
	// The first line cannot start with a leading space.
	if buf, err := r.Peek(1); err == nil && isWSP(buf[0]) {
		l, err := readLineSlice(r, line[:0])
		if cap(l) > cap(line) {
			line = l[:0]
		}
		if err != nil {
			return fs, line, err
		}
		return fs, line, errMalformedInitial
	}
	for {
		kv, err := readContinuedLineSlice(r, line[:0])
		if cap(kv) > cap(line) {
			line = kv[:0]
		}
		if len(kv) == 0 {
			return fs, line, err
		}
		// Key ends at first colon; should not have trailing spaces but they
		// appear in the wild, violating specs, so we remove them if present.
		i := bytes.IndexByte(kv, ':')
		if i < 0 {
			return fs, line, errMalformedLine
		}
		keyBytes := trimWSP(kv[:i])
		// RFC 5322 §2.2: printable US-ASCII but ':'.
		for _, c := range keyBytes {
			if c < 33 || c > 126 || c == ':' {
				return fs, line, errMalformedKey
			}
		}
		key, ok := commonKeys[string(keyBytes)] // no allocation for the usual keys
		if !ok {
			key = nettextproto.CanonicalMIMEHeaderKey(string(keyBytes))
		}
		// An empty key is skipped, not an error.
		if key == "" {
			continue
		}
		fs = append(fs, headerKV{k: key})
		bufs.vals = appendUnfolded(bufs.vals, kv[i+1:])
		bufs.ends = append(bufs.ends, len(bufs.vals))
		if err != nil {
			return fs, line, err
		}
	}
}

// commonKeys maps the usual spellings of common header keys to their
// canonical form (computed by CanonicalMIMEHeaderKey, so always the same).
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Authentication-Results", "Auto-Submitted", "Cc", "Content-Class", "Content-Description",
		"Content-Disposition", "Content-ID", "Content-Id", "Content-Language", "Content-Transfer-Encoding",
		"Content-Type", "Date", "Delivered-To", "DKIM-Signature", "From", "Importance", "In-Reply-To",
		"List-Id", "List-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID", "Message-Id",
		"MIME-Version", "Mime-Version", "Precedence", "Priority", "Received", "Received-SPF", "References",
		"Reply-To", "Return-Path", "Sender", "Subject", "Thread-Index", "Thread-Topic", "To", "User-Agent",
		"X-Auto-Response-Suppress", "X-Loop", "X-Mailer", "X-MimeOLE", "X-MS-Has-Attach",
		"X-MS-TNEF-Correlator", "X-OriginalArrivalTime", "X-Originating-IP", "X-Priority", "X-Received",
		"ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results",
		"content-type", "content-transfer-encoding", "content-disposition", "from", "to", "subject", "date",
	} {
		m[k] = nettextproto.CanonicalMIMEHeaderKey(k)
	}
	return m
}()

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// trimWSP returns s without leading and trailing spaces and tabs.
func trimWSP(s []byte) []byte {
	i := 0
	for i < len(s) && isWSP(s[i]) {
		i++
	}
	n := len(s)
	for n > i && isWSP(s[n-1]) {
		n--
	}
	return s[i:n]
}

func readLineSlice(r *bufio.Reader, line []byte) ([]byte, error) {
	for {
		l, more, err := r.ReadLine()
		line = append(line, l...)
		if err != nil {
			return line, err
		}
		if !more {
			break
		}
	}
	return line, nil
}

func hasContinuationLine(r *bufio.Reader) bool {
	c, err := r.ReadByte()
	if err != nil {
		return false // bufio will keep err until next read.
	}
	_ = r.UnreadByte()
	return isWSP(c)
}

// readContinuedLineSlice reads one field and its continuation lines into buf
// (each line followed by CRLF); nil at the end of the input, an empty slice
// for the blank line ending the header.
func readContinuedLineSlice(r *bufio.Reader, buf []byte) ([]byte, error) {
	line, err := readLineSlice(r, buf)
	if err == io.EOF && len(line) == 0 {
		// Header without a body
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if len(line) == 0 { // blank line - no continuation
		return line, nil
	}
	line = append(line, '\r', '\n')
	// Read continuation lines.
	for hasContinuationLine(r) {
		line, err = readLineSlice(r, line)
		if err != nil {
			break // bufio will keep err until next read.
		}
		line = append(line, '\r', '\n')
	}
	return line, nil
}

// appendContinued appends one line of a folded value to the value that
// starts at start of b: without a trailing CR and surrounding spaces and
// tabs, after one space.
func appendContinued(b []byte, start int, l []byte) []byte {
	// Strip trailing \r, if any
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	l = trimWSP(l)
	if len(l) == 0 {
		return b
	}
	if len(b) > start {
		b = append(b, ' ')
	}
	return append(b, l...)
}

// appendUnfolded appends the unfolded value v to b: newlines and the spaces
// around them become one space.
func appendUnfolded(b, v []byte) []byte {
	start := len(b)
	for {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			return appendContinued(b, start, v)
		}
		b = appendContinued(b, start, v[:i])
		v = v[i+1:]
	}
}
