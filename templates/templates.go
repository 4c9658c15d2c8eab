package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

//go:embed *.tmpl
var embedded embed.FS

// Template names (file names without ".tmpl").
const (
	AckActive  = "ack_active"
	AckTrial   = "ack_trial"
	AckFree    = "ack_free"
	AckUnknown = "ack_unknown"
	Lapsed     = "lapsed"
	// NeverPurchased: a known customer whose licence never had ASUP.
	NeverPurchased = "never_purchased"
	// SalesBrief: the internal brief to sales beside a lapsed or
	// never-purchased notice (never sent to the customer).
	SalesBrief  = "sales_brief"
	Unsupported = "unsupported"
	Staff       = "staff"
	Missing     = "missing"   // partial
	Extended    = "extended"  // partial
	Signature   = "signature" // partial: "Kind regards", support.signature, support.company
)

// Names lists every template file name this package knows, without ".tmpl".
var Names = []string{AckActive, AckTrial, AckFree, AckUnknown, Lapsed, NeverPurchased, Unsupported, SalesBrief, Staff, Missing, Extended, Signature}

// maxOverrideBytes bounds one override file.
const maxOverrideBytes = 256 << 10

// Data is everything a template may show. Strings are shown as given: the
// caller formats times and durations.
type Data struct {
	TicketID     string
	CustomerName string // company; "" when unknown (or hidden because unverified)
	Status       string // entitlement status
	Priority     int
	// Deadline is the SLA deadline, pre-formatted (sla.FormatDeadline: support
	// zone with offset, and UTC); "" when no SLA applies.
	Deadline string
	// TargetDeadline is the "generally within" deadline for out-of-hours mail,
	// pre-formatted like Deadline; "" when none.
	TargetDeadline string
	TargetText     string // the response target, e.g. "2 hours"
	InHours        bool
	Missing        []string // missing-information tokens (triage.MissingOrder)
	SupportHours   string   // human text, e.g. "Monday to Friday, 06:00–18:00 Adelaide time"
	// SupportedMajors are the supported major versions, newest first.
	SupportedMajors []int
	Build           int // 0 when unknown
	Major           int // 0 when unknown
	ExtendedSupport bool
	OriginalSubject string
	SalesAddress    string
	// LocalDeadline and LocalTargetDeadline are Deadline and TargetDeadline
	// in the sender's own UTC offset (from their Date header); "" when it
	// is the support zone's.
	LocalDeadline, LocalTargetDeadline string
	// ZoneNote explains the support time zone and its daylight saving, e.g.
	// "Adelaide time is UTC+09:30, and UTC+10:30 during daylight saving".
	ZoneNote string
	// PhoneNumber and PhoneHours: priority phone support (support.phone);
	// "" when no number is configured.
	PhoneNumber, PhoneHours string
	// Company and Product are ours (support.company, support.product);
	// Team signs the reply (support.signature; "" means "Technical Support
	// Team"), one or more lines.
	Company, Product, Team string
	// The sales brief: the customer's id, licence, ASUP expiry ("never"),
	// days since it lapsed (0 when never held), the subscriptions they
	// held, their known contacts and the first lines of their message
	// (ExtendedSupport is the customer's contract there, active or not).
	CustomerID, License, ASUPExpires string
	DaysLapsed                       int
	Subscriptions, Contacts          []string
	FirstLines                       []string
	// For the staff preface.
	Action   string
	From     string
	ServerOS string
	Browser  string
	// ReplyAddress is the ticket's signed reply address; State the ticket's
	// state (open, answered, closed); Notes further lines (why no reply went
	// out, what was sent, parser notes), shown as given.
	ReplyAddress string
	State        string
	Notes        []string
}

// Renderer renders the templates. It is safe for concurrent use.
type Renderer struct {
	set     *template.Template
	sources map[string]string // template name → file it came from
}

// New loads the embedded templates and, when overrideDir is not "", replaces
// each with the file of the same name (e.g. ack_active.tmpl) found there. A
// *.tmpl file in overrideDir with a name this package does not know is an error
// (most likely a typo that would otherwise be silently ignored). Every error
// names the file.
func New(overrideDir string) (*Renderer, error) {
	r := &Renderer{sources: make(map[string]string)}
	texts := make(map[string]string)
	for _, n := range Names {
		b, err := embedded.ReadFile(n + ".tmpl")
		if err != nil {
			return nil, fmt.Errorf("read embedded template %s.tmpl: %w", n, err)
		}
		texts[n] = string(b)
		r.sources[n] = "embedded:" + n + ".tmpl"
	}
	if overrideDir != "" {
		if err := loadOverrides(overrideDir, texts, r.sources); err != nil {
			return nil, err
		}
	}
	root := template.New("").Funcs(funcs).Option("missingkey=error")
	for _, n := range Names {
		if _, err := root.New(n).Parse(texts[n]); err != nil {
			return nil, fmt.Errorf("parse template %s: %w", r.sources[n], err)
		}
	}
	r.set = root
	// Execute every template now, with full and with empty data, so that an
	// override referring to a field that does not exist fails at start-up.
	// Partials first, so that a broken partial is reported under its own name.
	for _, n := range append([]string{Missing, Extended, Signature}, Names...) {
		for _, d := range []Data{sampleData(), {}} {
			if _, err := r.Render(n, d); err != nil {
				return nil, fmt.Errorf("check template %s: %w", r.sources[n], err)
			}
		}
	}
	return r, nil
}

func loadOverrides(dir string, texts, sources map[string]string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read template dir %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".tmpl") {
			continue
		}
		path := filepath.Join(dir, name)
		n := strings.TrimSuffix(name, ".tmpl")
		if _, ok := texts[n]; !ok {
			return fmt.Errorf("template %s: unknown template name %q (known: %s)", path, n, strings.Join(Names, ", "))
		}
		b, err := readBounded(path)
		if err != nil {
			return fmt.Errorf("read template %s: %w", path, err)
		}
		texts[n] = string(b)
		sources[n] = path
	}
	return nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, maxOverrideBytes+1))
	if err != nil {
		return nil, err
	}
	if n > maxOverrideBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxOverrideBytes)
	}
	return buf.Bytes(), nil
}

// Source reports where the template name came from: "embedded:<name>.tmpl" or
// the override file's path.
func (r *Renderer) Source(name string) string { return r.sources[strings.TrimSuffix(name, ".tmpl")] }

// ErrUnknownTemplate is returned by Render for a name that is not a template.
var ErrUnknownTemplate = errors.New("unknown template")

// Render executes the template name ("ack_active", or "ack_active.tmpl") with d
// and returns the normalised body.
func (r *Renderer) Render(name string, d Data) (string, error) {
	name = strings.TrimSuffix(name, ".tmpl")
	t := r.set.Lookup(name)
	if t == nil || name == "" {
		return "", fmt.Errorf("render %q: %w", name, ErrUnknownTemplate)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return normalise(b.String()), nil
}

// TemplateName maps a triage action and an entitlement status to a template:
// acknowledge → ack_<status> (ack_unknown for any status without its own),
// lapsed_notice → lapsed (never_purchased when the status given is
// "never_purchased"), unsupported_version → unsupported; "" for actions
// that send no reply (suppress, follow_up).
func TemplateName(action, status string) string {
	switch action {
	case "acknowledge":
		switch status {
		case "active":
			return AckActive
		case "trial":
			return AckTrial
		case "free":
			return AckFree
		}
		return AckUnknown
	case "lapsed_notice":
		if status == NeverPurchased {
			return NeverPurchased
		}
		return Lapsed
	case "unsupported_version":
		return Unsupported
	}
	return ""
}

// missingText is the human text of each missing-information token.
var missingText = map[string]string{
	"build":              "The build number you are running (for example 8973)",
	"server_os":          "The operating system of your web server (for example Windows Server 2019)",
	"browser":            "The web browser and version you use (for example Edge 85.0.564.51)",
	"screenshots":        "Screenshots of any errors",
	"description":        "A description of what you were doing at the time",
	"steps_to_reproduce": "The steps to reproduce the problem",
}

// MissingText returns the checklist text of a missing-information token (the
// token itself when unknown).
func MissingText(token string) string {
	if s, ok := missingText[token]; ok {
		return s
	}
	return token
}

var funcs = template.FuncMap{
	"missingText": MissingText,
	"majors":      joinMajors,
	"versions": func(ms []int) string {
		if len(ms) == 1 {
			return "version " + joinMajors(ms)
		}
		return "versions " + joinMajors(ms)
	},
	"join": strings.Join,
	"wrap": Wrap,
	"default": func(def, s string) string {
		if strings.TrimSpace(s) == "" {
			return def
		}
		return s
	},
}

// Wrap breaks s into lines of at most width characters (runes) at spaces.
// Every line is taken to start after len(indent) columns: the first sits
// after a label as wide as indent, the others start with indent. A word
// longer than a line is cut. Customer text shown in a template goes through
// it, so no rendered line is over 78 characters.
func Wrap(width int, indent, s string) string {
	room := max(width-len([]rune(indent)), 1)
	var lines []string
	var line []rune
	for _, w := range strings.Fields(s) {
		r := []rune(w)
		for len(r) > 0 {
			switch {
			case len(line) == 0 && len(r) > room:
				lines, r = append(lines, string(r[:room])), r[room:]
			case len(line) == 0:
				line, r = r, nil
			case len(line)+1+len(r) <= room:
				line, r = append(append(line, ' '), r...), nil
			default:
				lines, line = append(lines, string(line)), nil
			}
		}
	}
	if len(line) > 0 {
		lines = append(lines, string(line))
	}
	return strings.Join(lines, "\n"+indent)
}

// joinMajors writes major versions as "9 and 8", "10, 9 and 8".
func joinMajors(ms []int) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = strconv.Itoa(m)
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// normalise makes the body tidy whatever the template's whitespace: LF line
// endings, no trailing spaces, no leading blank lines, at most one blank line
// in a row, exactly one final newline.
func normalise(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var out []string
	blank := true // drop leading blank lines
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if line == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, line)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}

func sampleData() Data {
	return Data{
		TicketID: "CS-004211", CustomerName: "Acme Pty Ltd", Status: "active", Priority: 1,
		Deadline:       "2026-11-26 10:30 ACDT (+10:30) / 2026-11-26 00:00 UTC",
		TargetDeadline: "2026-11-26 10:30 ACDT (+10:30) / 2026-11-26 00:00 UTC",
		TargetText:     "2 hours", InHours: true, Missing: []string{"build", "browser"},
		SupportHours: "Monday to Friday, 06:00–18:00 Adelaide time", SupportedMajors: []int{9, 8},
		Build: 7123, Major: 7, ExtendedSupport: true, OriginalSubject: "Login page error",
		SalesAddress: "sales@vendor.test", Team: "Support", Action: "acknowledge",
		LocalDeadline: "Thursday 26 November 2026, 01:00 (UTC+01:00)", LocalTargetDeadline: "Thursday 26 November 2026, 01:00 (UTC+01:00)",
		ZoneNote:    "Adelaide time is UTC+09:30, and UTC+10:30 during daylight saving",
		PhoneNumber: "+61 8 0000 0000", PhoneHours: "Monday to Friday, 08:30-17:00 Adelaide time",
		Company: "Example Software", Product: "Example", CustomerID: "C100", License: "enterprise",
		ASUPExpires: "2026-01-31", DaysLapsed: 300, Subscriptions: []string{"reset_portal"},
		Contacts: []string{"alice@acme.test"}, FirstLines: []string{"The login page fails."},
		From: "alice@acme.test", ServerOS: "Windows Server 2019", Browser: "Edge 85.0.564.51",
	}
}
