package store

import "time"

// TicketView is a ticket as `supportd tickets list|show --json` and the
// dashboard show it. The field names are a contract (docs/design.md §10); a value the
// ticket does not have is null, never omitted.
type TicketView struct {
	ID               string        `json:"id"`
	State            string        `json:"state"`
	CustomerID       *string       `json:"customer_id"`
	Company          *string       `json:"company"`
	Status           string        `json:"status"`
	Priority         int           `json:"priority"`
	Subject          string        `json:"subject"`
	Requester        string        `json:"requester"`
	Created          time.Time     `json:"created"`
	FirstResponseDue *time.Time    `json:"first_response_due"`
	FirstResponseAt  *time.Time    `json:"first_response_at"`
	ResponseDue      *time.Time    `json:"response_due"`
	Overdue          bool          `json:"overdue"`
	Breaches         int           `json:"breaches"`
	ReferencedTicket *string       `json:"referenced_ticket"`
	Messages         []MessageView `json:"messages,omitempty"` // show only
}

// MessageView is one message of a TicketView.
type MessageView struct {
	At        time.Time `json:"at"`
	Direction string    `json:"direction"` // in, out
	Kind      string    `json:"kind"`      // customer, staff, note, auto, warning
	From      *string   `json:"from"`
	MessageID *string   `json:"message_id"`
}

// View is t as shown at now, in loc; with messages for `show`.
func (t *Ticket) View(now time.Time, loc *time.Location, messages bool) TicketView {
	in := func(x time.Time) *time.Time {
		if x.IsZero() {
			return nil
		}
		x = x.In(loc)
		return &x
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	v := TicketView{ID: t.ID, State: t.State, CustomerID: str(t.CustomerID), Company: str(t.Company), Status: string(t.Status),
		Priority: t.Priority, Subject: t.Subject, Requester: t.From, Created: t.Created.In(loc),
		FirstResponseDue: in(t.Deadline), FirstResponseAt: in(t.FirstResponseAt), ResponseDue: in(t.ResponseDue),
		Overdue: t.Overdue(now), Breaches: t.Breaches, ReferencedTicket: str(t.ReferencedTicket)}
	if messages {
		v.Messages = []MessageView{}
		for _, m := range t.Messages {
			id := m.MessageID
			if id != "" {
				id = "<" + id + ">"
			}
			v.Messages = append(v.Messages, MessageView{At: m.Received.In(loc), Direction: m.Direction, Kind: m.MessageKind(),
				From: str(m.From), MessageID: str(id)})
		}
	}
	return v
}

// Overdue reports whether a response to t is due and late at now.
func (t *Ticket) Overdue(now time.Time) bool {
	return t.State == StateOpen && !t.ResponseDue.IsZero() && now.After(t.ResponseDue)
}
