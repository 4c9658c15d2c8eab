// The boundary scanning below is adapted from go-message's textproto
// multipart reader, itself derived from Go's mime/multipart:
// Copyright 2010 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package mailparse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-message"
)

// peekBufferSize must be at least 76: "\r\n--" + a 70-byte boundary + "-".
const peekBufferSize = 4096

// errMultipartEOF is returned by nextPart when the body ends without the
// final boundary.
var errMultipartEOF = errors.New("multipart: no final boundary")

// multipartReader iterates over the parts of a multipart body (RFC 2046
// §5.1); unlike go-message's, it reads part headers tolerantly and within
// MaxHeaderBytes.
type multipartReader struct {
	p         *parser
	budget    *budgetReader
	bufReader *bufio.Reader

	currentPart *part
	partsRead   int

	nl               []byte // "\r\n" or "\n" (set after seeing first boundary line)
	nlDashBoundary   []byte // nl + "--boundary"
	dashBoundaryDash []byte // "--boundary--"
	dashBoundary     []byte // "--boundary"
}

func newMultipartReader(p *parser, r io.Reader, boundary string) *multipartReader {
	b := []byte("\r\n--" + boundary + "--")
	bud := &budgetReader{r: r}
	return &multipartReader{
		p:                p,
		budget:           bud,
		bufReader:        p.reader(bud),
		nl:               b[:2],
		nlDashBoundary:   b[:len(b)-2],
		dashBoundaryDash: b[2:],
		dashBoundary:     b[2 : len(b)-2],
	}
}

// part is one part of a multipart body: its header and its raw body.
type part struct {
	Header   message.Header
	tooLarge bool // the header went past MaxHeaderBytes

	mr      *multipartReader
	n       int   // known data bytes waiting in mr.bufReader
	total   int64 // total data bytes read already
	err     error // error to return when n == 0
	readErr error // read error observed from mr.bufReader
}

// Read reads the body of a part, after its headers and before the next part
// (if any) begins.
func (pt *part) Read(d []byte) (int, error) {
	br := pt.mr.bufReader
	for pt.n == 0 && pt.err == nil {
		peek, _ := br.Peek(br.Buffered())
		pt.n, pt.err = scanUntilBoundary(peek, pt.mr.dashBoundary, pt.mr.nlDashBoundary, pt.total, pt.readErr)
		if pt.n == 0 && pt.err == nil {
			_, pt.readErr = br.Peek(len(peek) + 1)
			if pt.readErr == io.EOF {
				pt.readErr = io.ErrUnexpectedEOF
			}
		}
	}
	if pt.n == 0 {
		return 0, pt.err
	}
	n, _ := br.Read(d[:min(len(d), pt.n)])
	pt.total += int64(n)
	pt.n -= n
	if pt.n == 0 {
		return n, pt.err
	}
	return n, nil
}

// scanUntilBoundary returns how many bytes of buf belong to the part body
// (before a "\n--boundary" that may start there) and the error to return
// once they are read; at the start (total == 0) "--boundary" counts too.
func scanUntilBoundary(buf, dashBoundary, nlDashBoundary []byte, total int64, readErr error) (int, error) {
	if total == 0 {
		// At beginning of body, allow dashBoundary.
		if bytes.HasPrefix(buf, dashBoundary) {
			switch matchAfterPrefix(buf, dashBoundary, readErr) {
			case -1:
				return len(dashBoundary), nil
			case 0:
				return 0, nil
			case +1:
				return 0, io.EOF
			}
		}
		if bytes.HasPrefix(dashBoundary, buf) {
			return 0, readErr
		}
	}

	// Search for "\n--boundary".
	if i := bytes.Index(buf, nlDashBoundary); i >= 0 {
		switch matchAfterPrefix(buf[i:], nlDashBoundary, readErr) {
		case -1:
			return i + len(nlDashBoundary), nil
		case 0:
			return i, nil
		case +1:
			return i, io.EOF
		}
	}
	if bytes.HasPrefix(nlDashBoundary, buf) {
		return 0, readErr
	}

	// Up to the last \n is body, and the rest too unless it may begin a
	// boundary.
	i := bytes.LastIndexByte(buf, nlDashBoundary[0])
	if i >= 0 && bytes.HasPrefix(nlDashBoundary, buf[i:]) {
		return i, nil
	}
	return len(buf), readErr
}

// matchAfterPrefix: +1 if the boundary prefix at the start of buf is a
// boundary (followed by a dash, white space or the end), -1 if not, 0 if
// more input is needed.
func matchAfterPrefix(buf, prefix []byte, readErr error) int {
	if len(buf) == len(prefix) {
		if readErr != nil {
			return +1
		}
		return 0
	}
	c := buf[len(prefix)]
	if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-' {
		return +1
	}
	return -1
}

// nextPart returns the next part, io.EOF after the final boundary,
// errMultipartEOF when the body ends without one, or another error for a
// line that is neither a boundary nor an empty line between parts.
func (r *multipartReader) nextPart() (*part, error) {
	if r.currentPart != nil {
		_, _ = io.Copy(io.Discard, r.currentPart) // the rest of the part
	}
	expectNewPart := false
	for {
		line, err := r.bufReader.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer is no boundary: skip it.
			for err == bufio.ErrBufferFull {
				_, err = r.bufReader.ReadSlice('\n')
			}
			if err != nil {
				return nil, errMultipartEOF
			}
			if r.partsRead > 0 {
				return nil, fmt.Errorf("multipart: unexpected long line")
			}
			continue
		}
		if err == io.EOF && r.isFinalBoundary(line) {
			// "--boundary--" without a line break ends the body too.
			return nil, io.EOF
		}
		if err != nil {
			return nil, errMultipartEOF
		}

		if r.isBoundaryDelimiterLine(line) {
			r.partsRead++
			bp := &part{mr: r}
			r.budget.on, r.budget.left = true, int64(r.p.lim.MaxHeaderBytes)
			h, _ := r.p.readHeader(r.bufReader, func() { r.budget.on = false; bp.tooLarge = true })
			r.budget.on = false
			bp.Header = h
			r.currentPart = bp
			return bp, nil
		}

		if r.isFinalBoundary(line) {
			return nil, io.EOF
		}

		if expectNewPart {
			return nil, fmt.Errorf("multipart: expecting a new part; got line %q", string(line))
		}

		if r.partsRead == 0 {
			continue
		}

		// The line break between a part's body and the next boundary.
		if bytes.Equal(line, r.nl) {
			expectNewPart = true
			continue
		}

		return nil, fmt.Errorf("multipart: unexpected line in nextPart: %q", line)
	}
}

// isFinalBoundary reports whether line is the final boundary line indicating
// that all parts are over. It matches `^--boundary--[ \t]*(\r\n)?$`.
func (r *multipartReader) isFinalBoundary(line []byte) bool {
	if !bytes.HasPrefix(line, r.dashBoundaryDash) {
		return false
	}
	rest := bytes.TrimLeft(line[len(r.dashBoundaryDash):], " \t")
	return len(rest) == 0 || bytes.Equal(rest, r.nl)
}

func (r *multipartReader) isBoundaryDelimiterLine(line []byte) bool {
	// RFC 2046 §5.1: a delimiter starts a line; its CRLF belongs to it.
	if !bytes.HasPrefix(line, r.dashBoundary) {
		return false
	}
	rest := bytes.TrimLeft(line[len(r.dashBoundary):], " \t")
	// Bare \n line ends (against the spec, but common) are seen at the
	// first boundary.
	if r.partsRead == 0 && len(rest) == 1 && rest[0] == '\n' {
		r.nl = r.nl[1:]
		r.nlDashBoundary = r.nlDashBoundary[1:]
	}
	return bytes.Equal(rest, r.nl)
}
