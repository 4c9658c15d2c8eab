package triage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"regexp"
	"strings"
)

// ReplyMarker begins every staff copy. Everything from the quote that
// contains it down is cut from a staff reply before it is relayed.
const ReplyMarker = "-- reply above this line --"

// Staff reply commands (the first lines of a staff reply).
const (
	CmdNote  = "note"  // internal: recorded and copied to the staff queue, nothing to the customer
	CmdClose = "close" // close the ticket after relaying the rest, if any
	CmdOpen  = "open"  // reopen the ticket
)

// IsStaff reports whether addr is a staff member: an exact entry of staff, or
// an address of a domain listed as "@domain".
func IsStaff(addr string, staff []string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return false
	}
	for _, s := range staff {
		s = strings.ToLower(strings.TrimSpace(s))
		switch {
		case s == "":
		case s[0] == '@':
			if addr[at:] == s {
				return true
			}
		case s == addr:
			return true
		}
	}
	return false
}

// replyMACLen is how many base32 characters of the HMAC a reply address
// carries (50 bits: guessing one takes ~10^15 tries).
const replyMACLen = 10

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func replyMAC(secret []byte, ticket string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("supportd reply address\x00" + strings.ToLower(ticket)))
	return strings.ToLower(b32.EncodeToString(m.Sum(nil))[:replyMACLen])
}

// ReplyAddress is the signed reply address of ticket: base's local part with a
// "+" tag of the ticket id and a MAC keyed by secret, e.g.
// support+cs-m00001.k3x9q2ab7d@vendor.test. "" when base is not an address or
// secret is empty.
func ReplyAddress(secret []byte, ticket, base string) string {
	base = strings.ToLower(strings.TrimSpace(base))
	at := strings.LastIndexByte(base, '@')
	if at <= 0 || len(secret) == 0 || ticket == "" {
		return ""
	}
	local := base[:at]
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + "+" + strings.ToLower(ticket) + "." + replyMAC(secret, ticket) + base[at:]
}

// TicketFromReplyAddress returns the ticket id (lower-cased) that addr is the
// signed reply address of, for one of the bases (support.addresses), and
// whether its MAC is valid.
func TicketFromReplyAddress(secret []byte, addr string, bases []string) (string, bool) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || len(secret) == 0 {
		return "", false
	}
	local, domain := addr[:at], addr[at:]
	plus := strings.IndexByte(local, '+')
	if plus < 0 {
		return "", false
	}
	tag := local[plus+1:]
	dot := strings.LastIndexByte(tag, '.')
	if dot <= 0 {
		return "", false
	}
	ticket, mac := tag[:dot], tag[dot+1:]
	for _, b := range bases {
		b = strings.ToLower(strings.TrimSpace(b))
		bat := strings.LastIndexByte(b, '@')
		if bat <= 0 || b[bat:] != domain {
			continue
		}
		bl := b[:bat]
		if i := strings.IndexByte(bl, '+'); i >= 0 {
			bl = bl[:i]
		}
		if bl != local[:plus] {
			continue
		}
		if hmac.Equal([]byte(mac), []byte(replyMAC(secret, ticket))) {
			return ticket, true
		}
	}
	return "", false
}

// StaffText is what a staff member's reply asks for, read by CutStaffText.
type StaffText struct {
	// Commands are the known commands of the first lines (CmdNote, CmdClose,
	// CmdOpen), in order; Unknown the unknown ones ("#foo").
	Commands []string
	Unknown  []string
	// Text is the staff member's new text: above the reply marker and the
	// client's quote header, without commands. "" when there is none.
	Text string
	// Cut reports whether a quote was found and cut (the marker or a mail
	// client's quote header).
	Cut bool
}

// Has reports whether cmd was given.
func (r StaffText) Has(cmd string) bool {
	for _, c := range r.Commands {
		if c == cmd {
			return true
		}
	}
	return false
}

// maxStaffLines bounds the lines CutStaffReply looks at (the text is already
// bounded by the parser; this keeps the scan obviously linear).
const maxStaffLines = 20000

// quoteHeader matches the first line of a mail client's quote: "On … wrote:"
// (Gmail, Thunderbird, Apple Mail; also split over two lines, see
// CutStaffReply), "-----Original Message-----" (Outlook), localised forms
// are matched by the marker instead.
var (
	onWrote     = regexp.MustCompile(`(?i)^\s*on\s.{0,300}\swrote:\s*$`)
	originalMsg = regexp.MustCompile(`(?i)^\s*-{2,}\s*original message\s*-{2,}\s*$`)
	outlookFrom = regexp.MustCompile(`(?i)^\s*\*?from:\*?\s+\S`)
	outlookSent = regexp.MustCompile(`(?i)^\s*\*?(sent|date):\*?\s+\S`)
	commandLine = regexp.MustCompile(`^#([A-Za-z][A-Za-z0-9_-]{0,30})\b[ \t]*(.*)$`)
)

// CutStaffText reads a staff reply's text: the commands on its first lines,
// and the new text above the quoted staff copy. It cuts at the first of: a
// line containing ReplyMarker (quoted or not, together with the quote
// attribution and quoted lines just above it), a client quote header ("On …
// wrote:", "-----Original Message-----", an Outlook "From: … Sent: …"
// block). It never returns text from below the cut.
func CutStaffText(text string) StaffText {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	if len(lines) > maxStaffLines {
		lines = lines[:maxStaffLines]
	}
	var r StaffText
	cut := len(lines)
	for i, l := range lines {
		bare := strings.ToLower(strings.TrimLeft(l, "> \t"))
		switch {
		case strings.Contains(bare, strings.TrimSpace(ReplyMarker)), strings.Contains(bare, "reply above this line"):
		case onWrote.MatchString(l), originalMsg.MatchString(l):
		case i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "wrote:") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(l)), "on "):
		case outlookFrom.MatchString(l) && followedBy(lines[i+1:], outlookSent, 3):
		default:
			continue
		}
		cut, r.Cut = i, true
		break
	}
	lines = lines[:cut]
	// Drop what a client put between the new text and the cut: quoted lines,
	// an attribution line, blank lines.
	for len(lines) > 0 {
		last := strings.TrimSpace(lines[len(lines)-1])
		if last == "" || strings.HasPrefix(last, ">") || (r.Cut && onWrote.MatchString(last)) {
			lines = lines[:len(lines)-1]
			continue
		}
		break
	}
	// Commands: the first non-blank lines that start with '#'.
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	for i < len(lines) {
		m := commandLine.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			break
		}
		switch cmd := strings.ToLower(m[1]); cmd {
		case CmdNote, CmdClose, CmdOpen:
			r.Commands = append(r.Commands, cmd)
		default:
			r.Unknown = append(r.Unknown, "#"+m[1])
		}
		if rest := strings.TrimSpace(m[2]); rest != "" {
			lines[i] = rest // text on the command's line belongs to the text
			break
		}
		i++
	}
	r.Text = strings.TrimSpace(strings.Join(lines[i:], "\n"))
	return r
}

func followedBy(lines []string, re *regexp.Regexp, within int) bool {
	for i := 0; i < len(lines) && i < within; i++ {
		if re.MatchString(lines[i]) {
			return true
		}
	}
	return false
}
