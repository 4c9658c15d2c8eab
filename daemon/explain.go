package daemon

import (
	"time"

	"supportd/triage"
)

// Explanation is the JSON of `supportd explain` (docs/design.md §7). Field names are a
// contract; every key is always present, null where unknown.
type Explanation struct {
	MessageID        *string            `json:"message_id"`
	From             *string            `json:"from"`
	TicketID         *string            `json:"ticket_id"` // null: the message opens no ticket (suppressed, naming none)
	TicketNew        bool               `json:"ticket_new"`
	Fields           ExplainFields      `json:"fields"`
	Missing          []string           `json:"missing"`
	Entitlement      ExplainEntitlement `json:"entitlement"`
	VersionSupported *bool              `json:"version_supported"`
	SLA              ExplainSLA         `json:"sla"`
	Action           string             `json:"action"`
	SuppressReason   *string            `json:"suppress_reason"`
	Reply            *triage.Reply      `json:"reply"`
	Route            triage.Route       `json:"route"`
	Problems         []string           `json:"problems"`
}

type ExplainFields struct {
	Build           *int                `json:"build"`
	BuildsMentioned []int               `json:"builds_mentioned"` // every build of the customer's own text, in order; [] for none
	MajorVersion    *int                `json:"major_version"`
	ServerOS        *string             `json:"server_os"`
	Browser         *ExplainBrowser     `json:"browser"`
	Attachments     []ExplainAttachment `json:"attachments"`
}

// ExplainBrowser is mailparse.Browser with null for a version the message did not
// give (docs/design.md §7: omit nothing, use null).
type ExplainBrowser struct {
	Name    string  `json:"name"`
	Version *string `json:"version"`
}

// ExplainAttachment is mailparse.Attachment with null for a part that has no
// file name.
type ExplainAttachment struct {
	Filename    *string `json:"filename"`
	ContentType string  `json:"content_type"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	Screenshot  bool    `json:"screenshot"`
}

type ExplainEntitlement struct {
	CustomerID      *string `json:"customer_id"`
	Status          string  `json:"status"`
	Priority        int     `json:"priority"`
	VerifiedSender  bool    `json:"verified_sender"`
	ASUPExpires     *string `json:"asup_expires"`
	ExtendedSupport bool    `json:"extended_support"`
}

type ExplainSLA struct {
	InHours  bool    `json:"in_hours"`
	Clock    string  `json:"clock"`
	Deadline *string `json:"deadline"`
	Target   *string `json:"target"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Explain turns an assessment into the docs/design.md §7 JSON document.
func (a *Assessment) Explain(targetText func(time.Duration) string) Explanation {
	m, d, ent := a.Msg, a.Decision, a.Input.Entitlement
	x := Explanation{
		MessageID: strPtr(m.MessageID),
		TicketID:  strOrNil(d.TicketID),
		TicketNew: d.TicketNew,
		Missing:   nonNil(d.Missing),
		Action:    string(d.Action),
		Reply:     d.Reply,
		Route:     d.Route,
		Problems:  nonNil(m.Problems),
	}
	if m.From != nil {
		x.From = strPtr(m.From.Addr)
	}
	if m.Build != 0 {
		b := m.Build
		x.Fields.Build = &b
	}
	x.Fields.BuildsMentioned = append([]int{}, m.BuildsMentioned...)
	if a.Input.Version.Known {
		mv, sup := a.Input.Version.Major, a.Input.Version.Supported
		x.Fields.MajorVersion, x.VersionSupported = &mv, &sup
	}
	x.Fields.ServerOS = strPtr(m.ServerOS)
	if m.Browser != nil {
		x.Fields.Browser = &ExplainBrowser{Name: m.Browser.Name, Version: strPtr(m.Browser.Version)}
	}
	x.Fields.Attachments = make([]ExplainAttachment, len(m.Attachments))
	for i, at := range m.Attachments {
		x.Fields.Attachments[i] = ExplainAttachment{
			Filename: strPtr(at.Filename), ContentType: at.ContentType,
			Size: at.Size, SHA256: at.SHA256, Screenshot: at.Screenshot,
		}
	}
	x.Entitlement = ExplainEntitlement{
		Status:          string(ent.Status),
		Priority:        ent.Priority,
		VerifiedSender:  ent.VerifiedSender,
		ExtendedSupport: ent.ExtendedSupport,
	}
	if ent.Customer != nil {
		x.Entitlement.CustomerID = strPtr(ent.Customer.ID)
		if !ent.Customer.ASUPExpires.IsZero() {
			x.Entitlement.ASUPExpires = strPtr(ent.Customer.ASUPExpires.String())
		}
	}
	x.SLA = ExplainSLA{InHours: a.SLA.InHours, Clock: a.SLA.Clock}
	if !a.SLA.Deadline.IsZero() {
		x.SLA.Deadline = strPtr(a.SLA.Deadline.Format(time.RFC3339))
		x.SLA.Target = strPtr(targetText(a.SLA.Target))
	}
	if d.SuppressReason != "" {
		x.SuppressReason = strPtr(d.SuppressReason)
	}
	if x.Reply != nil {
		r := *x.Reply
		r.Cc = nonNil(r.Cc)
		r.To = nonNil(r.To)
		x.Reply = &r
	}
	x.Route.Keywords = nonNil(x.Route.Keywords)
	x.Route.ForwardTo = nonNil(x.Route.ForwardTo)
	return x
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// strOrNil is nil for "", else a pointer to s (JSON null for "no value").
func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
