package mailparse

import "time"

// Limits bound every reader of untrusted bytes. A zero field means the default
// (see DefaultLimits).
type Limits struct {
	MaxMessageBytes int64 // whole message; beyond it the rest is not read (problem "message_too_large")
	MaxHeaderBytes  int   // one header block (top level or part)
	MaxParts        int   // MIME parts walked in total
	MaxDepth        int   // multipart nesting depth
	MaxTextBytes    int   // decoded body text kept for field extraction
}

// DefaultLimits are the limits used for zero fields of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes: 50 << 20,
		MaxHeaderBytes:  256 << 10,
		MaxParts:        500,
		MaxDepth:        20,
		MaxTextBytes:    1 << 20,
	}
}

// Options configure a Parser (New). Zero fields mean defaults.
type Options struct {
	Limits Limits
	// TicketPattern is the regular expression of a ticket id; "" means DefaultTicketPattern.
	TicketPattern string
	// ServerOSes are the supported web-server operating systems, normalised names;
	// nil means DefaultServerOSes.
	ServerOSes []string
}

// DefaultTicketPattern matches ticket ids such as CS-004211 (the vendor's web
// page) and CS-M00042 (issued by supportd, tickets.id_format).
const DefaultTicketPattern = `CS-(?:\d{6}|M\d{5})`

// Address is a parsed mailbox. Addr is lower-cased for the domain part.
type Address struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// Browser is a normalised browser name (Edge, Chrome, Firefox, Safari, Opera,
// Internet Explorer) and its version ("" when not given).
type Browser struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Attachment describes one attachment or inline part, hashed while streaming.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Screenshot  bool   `json:"screenshot"`
	Inline      bool   `json:"-"`
	Winmail     bool   `json:"-"`
}

// Message is everything supportd reads from one email. Fields the message does not
// carry are zero. Parse never returns a nil Message for a non-nil reader.
type Message struct {
	// Envelope-ish headers (RFC 5322, RFC 2047 decoded, CR/LF removed).
	// From is the From field's one mailbox, or, when FromAmbiguous, only
	// what MTAs read from it for a reply (nil when no single address can
	// be read). Author gives the address entitlement may be checked for.
	From          *Address  `json:"from"`
	FromAmbiguous bool      `json:"from_ambiguous,omitempty"` // From is not exactly one mailbox (problem "ambiguous_from")
	Sender        *Address  `json:"sender"`
	ReplyTo       []Address `json:"reply_to"`
	To            []Address `json:"to"`
	Cc            []Address `json:"cc"`
	Subject       string    `json:"subject"`
	MessageID     string    `json:"message_id"`  // with angle brackets, "" if absent or empty
	InReplyTo     []string  `json:"in_reply_to"` // with angle brackets
	References    []string  `json:"references"`  // with angle brackets
	Date          time.Time `json:"date"`
	ReturnPath    string    `json:"return_path"`     // address inside <>, "" for the null path
	HasReturnPath bool      `json:"has_return_path"` // a Return-Path header was present (null path: HasReturnPath && ReturnPath == "")
	DeliveredTo   string    `json:"-"`               // the topmost Delivered-To address, lower-cased, "" if none

	AutoSubmitted         string   `json:"auto_submitted"` // lower-cased value, "" if absent
	Precedence            string   `json:"precedence"`     // lower-cased
	AutoSubmittedAll      []string `json:"-"`              // every copy of Auto-Submitted, comments kept (at most 16)
	PrecedenceAll         []string `json:"-"`              // every copy of Precedence, comments kept
	XAutoreply            []string `json:"-"`              // every X-Autoreply and X-Autorespond value
	ListID                string   `json:"list_id"`
	ListUnsubscribe       string   `json:"list_unsubscribe"`
	XAutoResponseSuppress string   `json:"x_auto_response_suppress"`
	XLoop                 []string `json:"x_loop"`
	AuthenticationResults []string `json:"authentication_results"` // raw values, top to bottom
	ContentType           string   `json:"content_type"`           // top-level media type, lower-cased, e.g. "multipart/report"
	ReportType            string   `json:"report_type"`            // report-type parameter of multipart/report, lower-cased
	IsReport              bool     `json:"is_report"`              // DSN, MDN or other multipart/report, or a message/delivery-status part

	// Extracted support fields.
	TicketID        string       `json:"ticket_id"`
	Build           int          `json:"build"`                      // the build the customer is on now, 0 when none was found
	BuildsMentioned []int        `json:"builds_mentioned,omitempty"` // every build of the customer's own text, in order, each once
	ServerOS        string       `json:"server_os"`
	Browser         *Browser     `json:"browser"`
	Attachments     []Attachment `json:"attachments"`
	Text            string       `json:"text"` // body text (text/plain preferred, else HTML converted), UTF-8, bounded
	HasDescription  bool         `json:"has_description"`
	HasSteps        bool         `json:"has_steps"`

	Size     int64    `json:"size"`     // bytes read
	Problems []string `json:"problems"` // everything odd, as short stable tokens with detail ("bad_charset: x-foo")
}

// Author is the sender a DMARC check judges and entitlement is checked
// for: From when the From field is exactly one mailbox, nil otherwise.
func (m *Message) Author() *Address {
	if m.FromAmbiguous {
		return nil
	}
	return m.From
}

// Screenshots reports how many attachments are images.
func (m *Message) Screenshots() int {
	n := 0
	for _, a := range m.Attachments {
		if a.Screenshot {
			n++
		}
	}
	return n
}
