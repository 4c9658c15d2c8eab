package mailparse

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlText converts HTML to text (doc.go): table cells are separated by a
// tab, so "Build Number | 8973" in a table reads "Build Number\t8973".
type htmlText struct {
	out     []byte
	start   int // len(out) when the conversion began
	max     int
	full    bool
	skip    int // inside script/style/head/...
	pre     int
	quote   int
	cell    int   // inside a table cell
	rowCell []int // cells seen in the current row, per open table
	lists   []int // -1 for <ul>, the next number for <ol>
	space   bool  // a collapsed space is pending
	lineLen int   // bytes written on the current line (0: at line start)
	blank   int   // consecutive line breaks just written
}

// htmlToText appends the text of the HTML document data to dst, adding at most
// max bytes.
func htmlToText(dst, data []byte, max int) []byte {
	if max <= 0 {
		return dst
	}
	w := &htmlText{out: dst, start: len(dst), max: max, blank: 2}
	z := html.NewTokenizer(bytes.NewReader(data))
	z.SetMaxBuf(len(data) + 1)
	for !w.full {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return bytes.TrimRight(w.out, " \t\n")
		case html.TextToken:
			if w.skip == 0 {
				w.text(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			w.startTag(a, tt == html.SelfClosingTagToken, z, hasAttr)
		case html.EndTagToken:
			name, _ := z.TagName()
			w.endTag(atom.Lookup(name))
		}
	}
	return bytes.TrimRight(w.out, " \t\n")
}

func (w *htmlText) write(s string) {
	if w.full {
		return
	}
	if len(w.out)-w.start+len(s) > w.max {
		// Cut on a rune boundary and stop.
		room := w.max - (len(w.out) - w.start)
		for room > 0 && room < len(s) && !utf8.RuneStart(s[room]) {
			room--
		}
		w.out = append(w.out, s[:room]...)
		w.full = true
		return
	}
	w.out = append(w.out, s...)
}

// lineStart writes the blockquote prefix when a line begins.
func (w *htmlText) lineStart() {
	if w.lineLen == 0 && w.quote > 0 {
		w.write(strings.Repeat("> ", min(w.quote, 10)))
		w.lineLen += 2 * min(w.quote, 10)
	}
}

func (w *htmlText) text(b []byte) {
	if w.pre > 0 {
		for _, r := range string(b) {
			switch r {
			case '\r':
			case '\n':
				w.br()
			default:
				w.lineStart()
				w.write(string(r))
				w.lineLen++
				w.blank = 0
			}
		}
		return
	}
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if unicode.IsSpace(r) || r == utf8.RuneError && size == 1 {
			if w.lineLen > 0 {
				w.space = true
			}
			continue
		}
		if isControl(r) || r == 0x200b || r == 0xfeff {
			continue
		}
		w.lineStart()
		if w.space {
			if last := w.out[len(w.out)-1]; last != ' ' && last != '\t' && last != '\n' {
				w.write(" ")
			}
			w.space = false
		}
		w.write(string(r))
		w.lineLen += size
		w.blank = 0
	}
}

// br ends the current line (at most one empty line in a row).
func (w *htmlText) br() {
	w.space = false
	if w.cell > 0 {
		w.space = w.lineLen > 0
		return
	}
	if w.blank >= 2 {
		return
	}
	w.write("\n")
	w.lineLen = 0
	w.blank++
}

// block makes sure the next text starts on a new line.
func (w *htmlText) block() {
	if w.cell > 0 {
		w.space = w.lineLen > 0
		return
	}
	if w.lineLen > 0 {
		w.br()
	}
}

// skipped are the elements whose content is not text; blocks start and end
// on a line of their own.
var (
	skipped = map[atom.Atom]bool{atom.Script: true, atom.Style: true, atom.Title: true, atom.Noscript: true, atom.Template: true}
	blocks  = map[atom.Atom]bool{atom.P: true, atom.Div: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true,
		atom.H6: true, atom.Address: true, atom.Article: true, atom.Section: true, atom.Header: true, atom.Footer: true, atom.Dl: true,
		atom.Dt: true, atom.Dd: true, atom.Center: true, atom.Form: true, atom.Fieldset: true, atom.Caption: true}
)

func (w *htmlText) startTag(a atom.Atom, selfClosing bool, z *html.Tokenizer, hasAttr bool) {
	if skipped[a] && !selfClosing {
		w.skip++
	}
	if w.skip > 0 || skipped[a] {
		return
	}
	if blocks[a] {
		w.block()
	}
	switch a {
	case atom.Br:
		w.br()
	case atom.Hr:
		w.block()
		if w.cell == 0 {
			w.text([]byte("----"))
			w.block()
		}
	case atom.Pre:
		w.block()
		if !selfClosing {
			w.pre++
		}
	case atom.Blockquote:
		w.block()
		if !selfClosing {
			w.quote++
		}
	case atom.Ul:
		w.block()
		if !selfClosing {
			w.lists = append(w.lists, -1)
		}
	case atom.Ol:
		w.block()
		if !selfClosing {
			n := 1
			if hasAttr {
				for {
					k, v, more := z.TagAttr()
					if string(k) == "start" {
						if s, err := strconv.Atoi(strings.TrimSpace(string(v))); err == nil && s >= 0 && s < 1e6 {
							n = s
						}
					}
					if !more {
						break
					}
				}
			}
			w.lists = append(w.lists, n)
		}
	case atom.Li:
		w.block()
		prefix := "- "
		if n := len(w.lists); n > 0 && w.lists[n-1] >= 0 {
			prefix = strconv.Itoa(w.lists[n-1]) + ". "
			w.lists[n-1]++
		}
		w.text([]byte(prefix))
		w.space = false
		w.write(" ")
		w.lineLen++
	case atom.Table:
		w.block()
		w.rowCell = append(w.rowCell, 0)
	case atom.Tr:
		if w.cell == 0 {
			w.block()
		}
		if n := len(w.rowCell); n > 0 {
			w.rowCell[n-1] = 0
		}
	case atom.Td, atom.Th:
		if n := len(w.rowCell); n > 0 {
			if w.rowCell[n-1] > 0 && w.lineLen > 0 {
				w.write("\t")
				w.lineLen++
				w.space = false
			}
			w.rowCell[n-1]++
		}
		if !selfClosing {
			w.cell++
		}
	}
}

func (w *htmlText) endTag(a atom.Atom) {
	if skipped[a] && w.skip > 0 {
		w.skip--
	}
	if w.skip > 0 || skipped[a] {
		return
	}
	switch {
	case blocks[a] || a == atom.Li:
		w.block()
	case a == atom.Pre:
		if w.pre > 0 {
			w.pre--
		}
		w.block()
	case a == atom.Blockquote:
		w.block()
		if w.quote > 0 {
			w.quote--
		}
	case a == atom.Ul || a == atom.Ol:
		if n := len(w.lists); n > 0 {
			w.lists = w.lists[:n-1]
		}
		w.block()
	case a == atom.Td || a == atom.Th:
		if w.cell > 0 {
			w.cell--
		}
	case a == atom.Tr:
		if w.cell == 0 {
			w.block()
		}
	case a == atom.Table:
		if n := len(w.rowCell); n > 0 {
			w.rowCell = w.rowCell[:n-1]
		}
		w.block()
	}
}
