package mailparse

import "strings"

// appendSimpleAddresses parses the common shapes of an address list —
// "a@b.c", "<a@b.c>", "Name Words <a@b.c>", "\"Last, First\" <a@b.c>",
// separated by commas — and appends them to out with exactly the names and
// addresses net/mail (RFC 5322 §3.4) would give. Anything else (non-ASCII,
// encoded words, comments, quoted pairs, groups, domain literals, quoted
// local parts, folding, malformed input) returns ok false, and the caller
// uses the full parser: this is only a shortcut for the usual case.
func appendSimpleAddresses(out []Address, v string) (_ []Address, ok bool) {
	if strings.Contains(v, "=?") {
		return out, false
	}
	n0 := len(out)
	s := v
	i := 0
	sep := true // a comma (or the start) came before the next entry
	for {
		// Between entries: white space and commas (empty entries are
		// allowed, RFC 5322 §4.4 obs-addr-list).
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			if s[i] == ',' {
				sep = true
			}
			i++
		}
		if i == len(s) {
			break
		}
		if !sep {
			return out[:n0], false // two entries without a comma
		}
		a, next, ok := simpleAddress(s, i)
		if !ok {
			return out[:n0], false
		}
		out = append(out, a)
		i, sep = next, false
	}
	if len(out) == n0 {
		return out, false // net/mail: "no address"
	}
	return out, true
}

// simpleAddress parses one entry of appendSimpleAddresses at s[i:]. The
// returned name is not cleaned and the address not normalised.
func simpleAddress(s string, i int) (Address, int, bool) {
	// addr-spec first, as net/mail does.
	if j, ok := dotAtom(s, i); ok && j < len(s) && s[j] == '@' {
		k, ok := dotAtom(s, j+1)
		if !ok || k < len(s) && !isSimpleEnd(s[k]) {
			return Address{}, 0, false
		}
		return Address{Addr: s[i:k]}, k, true
	}
	// phrase "<" addr-spec ">"
	var name strings.Builder
	start, end := i, i // s[start:end] is the name while it needs no copy
	copied := false
	words := 0
	for i < len(s) && s[i] != '<' {
		var w string
		wasQuoted := false
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if c := s[j]; c != '\t' && (c < 0x20 || c > 0x7e || c == '\\') {
					return Address{}, 0, false
				}
				j++
			}
			if j == len(s) {
				return Address{}, 0, false
			}
			w, i = s[i+1:j], j+1
			wasQuoted = true
		default:
			j := i
			for j < len(s) && (isAtextASCII(s[j]) || s[j] == '.') { // net/mail reads a dot-atom here
				j++
			}
			if j == i {
				return Address{}, 0, false // '@', ':', '(' … : not simple
			}
			w, i = s[i:j], j
		}
		// A word must end at white space, a quote or the '<'.
		if i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '"' && s[i] != '<' {
			return Address{}, 0, false
		}
		// The name is the words joined by one space.
		if words == 0 && !wasQuoted {
			start, end = i-len(w), i
		} else if words > 0 && !copied && !wasQuoted && end+1 == i-len(w) && s[end] == ' ' {
			end = i
		} else {
			if !copied {
				name.WriteString(s[start:end])
				copied = true
			}
			if words > 0 {
				name.WriteByte(' ')
			}
			name.WriteString(w)
		}
		words++
	}
	if i == len(s) {
		return Address{}, 0, false
	}
	// s[i] == '<'
	j, ok := dotAtom(s, i+1)
	if !ok || j == len(s) || s[j] != '@' {
		return Address{}, 0, false
	}
	k, ok := dotAtom(s, j+1)
	if !ok || k == len(s) || s[k] != '>' {
		return Address{}, 0, false
	}
	a := Address{Addr: s[i+1 : k]}
	switch {
	case copied:
		a.Name = name.String()
	case words > 0:
		a.Name = s[start:end]
	}
	k++
	if k < len(s) && !isSimpleEnd(s[k]) {
		return Address{}, 0, false
	}
	return a, k, true
}

// dotAtom returns the end of the RFC 5322 dot-atom of ASCII atext at s[i:]
// (no leading, trailing or double dot).
func dotAtom(s string, i int) (int, bool) {
	j := i
	for j < len(s) && (isAtextASCII(s[j]) || s[j] == '.') {
		if s[j] == '.' && (j == i || s[j-1] == '.') {
			return j, false
		}
		j++
	}
	return j, j > i && s[j-1] != '.'
}

// isAtextASCII reports whether c is RFC 5322 atext (dot excluded).
func isAtextASCII(c byte) bool {
	if c < '!' || c > '~' {
		return false
	}
	switch c {
	case '.', '(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '"':
		return false
	}
	return true
}

// isSimpleEnd reports whether c may follow an entry.
func isSimpleEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == ','
}
