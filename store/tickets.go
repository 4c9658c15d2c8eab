package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"supportd/entitlement"
)

// Ticket states: open (a response from us is due), answered (we responded;
// waiting on the customer), closed.
const (
	StateOpen     = "open"
	StateAnswered = "answered"
	StateClosed   = "closed"
)

// Kinds of a ticket's messages (TicketMessage.Kind).
const (
	MsgCustomer = "customer" // from the customer (or anyone not staff)
	MsgStaff    = "staff"    // a staff response: relayed by us or sent from the mailbox
	MsgNote     = "note"     // internal staff note, never sent to the customer
	// MsgAuto is automatic mail: our automatic replies (out), and delivery,
	// read or feedback reports about our messages (in).
	MsgAuto    = "auto"
	MsgWarning = "warning" // SLA warning or breach notice to staff
)

// Message directions.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// DefaultTicketIDFormat is the fmt format of the ids NextTicketID hands out
// when none is configured (tickets.id_format): CS-M00001 … CS-M99999, never
// equal to the CS-000000 ids of the vendor's web page.
const DefaultTicketIDFormat = "CS-M%05d"

// Ticket is one support case. It belongs to the customer that opened it
// (CustomerID; for an unknown sender, the opening address From).
type Ticket struct {
	ID         string             `json:"id"`
	Subject    string             `json:"subject"`
	CustomerID string             `json:"customer_id,omitempty"`
	Company    string             `json:"company,omitempty"`
	Status     entitlement.Status `json:"status"`
	Priority   int                `json:"priority"`
	From       string             `json:"from"` // the requester: the address that opened the ticket
	Created    time.Time          `json:"created"`
	Updated    time.Time          `json:"updated"`
	Deadline   time.Time          `json:"deadline,omitzero"` // first response due (§5); zero: no SLA
	State      string             `json:"state"`             // StateOpen, StateAnswered or StateClosed
	ClosedAt   time.Time          `json:"closed_at,omitzero"`
	// Addresses are the customer-side addresses on the ticket (requester and
	// the addresses the customer had in Cc), lower-cased: replies from staff
	// go to them, and mail from them follows up this ticket.
	Addresses []string `json:"addresses,omitempty"`
	// ReferencedTicket is a ticket the opening message named but could not
	// follow up (another customer's, or a closed one past tickets.reopen_days).
	ReferencedTicket string `json:"referenced_ticket,omitempty"`
	// Account is the account (accounts:) its customer last wrote to: its SLA
	// notices go out through it; "" is the top-level (or the first) account.
	Account string `json:"account,omitempty"`
	// Have lists the information tokens (triage.MissingOrder) some customer
	// message of the ticket gave; the rest is missing for the whole ticket.
	Have []string `json:"have,omitempty"`

	// SLA tracking. ResponseDue is when the next response is due (zero when
	// not open or no SLA applies); WarnAt is when the warning for it goes out.
	// Warned and Breached record that the warning and the breach notice for the
	// current ResponseDue were queued; Breaches counts responses that came late
	// or not at all.
	FirstResponseAt time.Time `json:"first_response_at,omitzero"`
	ResponseDue     time.Time `json:"response_due,omitzero"`
	WarnAt          time.Time `json:"warn_at,omitzero"`
	Warned          bool      `json:"warned,omitempty"`
	Breached        bool      `json:"breached,omitempty"`
	Breaches        int       `json:"breaches,omitempty"`
	// FirstResponseMet is set with FirstResponseAt: whether it came by Deadline.
	FirstResponseMet bool `json:"first_response_met,omitempty"`

	Messages []TicketMessage `json:"messages,omitempty"`
}

// TicketMessage is one message of a ticket, incoming or sent by us.
type TicketMessage struct {
	MessageID string    `json:"message_id,omitempty"` // without angle brackets
	UID       uint32    `json:"uid,omitempty"`        // IMAP UID of an incoming message
	Received  time.Time `json:"received"`
	Action    string    `json:"action,omitempty"` // triage action for incoming messages, template for ours
	Direction string    `json:"direction"`        // DirectionIn or DirectionOut
	Kind      string    `json:"kind,omitempty"`   // MsgCustomer, MsgStaff, …; "" in tickets written before kinds
	From      string    `json:"from,omitempty"`   // sender address
}

// MessageKind is m.Kind, or for messages stored before kinds existed the kind
// their direction implies.
func (m TicketMessage) MessageKind() string {
	switch {
	case m.Kind == "bounce": // a delivery report, as stores before 2026-12-03 recorded it
		return MsgAuto
	case m.Kind != "":
		return m.Kind
	case m.Direction == DirectionOut:
		return MsgAuto
	}
	return MsgCustomer
}

// HasAddress reports whether addr (any case) is one of the ticket's addresses
// or its requester.
func (t *Ticket) HasAddress(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return false
	}
	if strings.EqualFold(t.From, addr) {
		return true
	}
	for _, a := range t.Addresses {
		if a == addr {
			return true
		}
	}
	return false
}

// AddAddress adds addr (lower-cased) to the ticket's addresses once.
func (t *Ticket) AddAddress(addr string) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" || t.HasAddress(addr) || len(t.Addresses) >= maxTicketAddresses {
		return
	}
	t.Addresses = append(t.Addresses, addr)
}

// maxTicketAddresses bounds Ticket.Addresses (a customer Cc list is not a
// mailing list).
const maxTicketAddresses = 20

// nextEvent is when the ticket's next SLA event (warning, then breach) is
// due, zero when none is pending.
func (t *Ticket) nextEvent() time.Time {
	if t.State != StateOpen || t.ResponseDue.IsZero() {
		return time.Time{}
	}
	if !t.Warned && !t.WarnAt.IsZero() && t.WarnAt.Before(t.ResponseDue) {
		return t.WarnAt
	}
	if !t.Breached {
		return t.ResponseDue
	}
	return time.Time{}
}

// NormalizeMessageID trims spaces and one pair of enclosing angle brackets; the
// store keys Message-IDs that way. An empty result means "no Message-ID".
func NormalizeMessageID(id string) string {
	id = strings.TrimSpace(id)
	if len(id) >= 2 && id[0] == '<' && id[len(id)-1] == '>' {
		id = strings.TrimSpace(id[1 : len(id)-1])
	}
	return id
}

// NextTicketID allocates a new ticket id from the tickets bucket's sequence in
// format (tickets.id_format, "" for DefaultTicketIDFormat), skipping ids a
// stored ticket already has. It writes (the sequence), so it needs an Update
// transaction.
func (t *Tx) NextTicketID(format string) (string, error) {
	b := t.bucket(bTickets)
	for {
		n, err := b.NextSequence()
		if err != nil {
			return "", fmt.Errorf("next ticket id: %w", err)
		}
		id, err := FormatTicketID(format, n)
		if err != nil {
			return "", fmt.Errorf("next ticket id: %w", err)
		}
		if b.Get([]byte(id)) == nil {
			return id, nil
		}
	}
}

// PeekNextTicketID is the id NextTicketID would return now, without writing
// (for the read-only explain command).
func (t *Tx) PeekNextTicketID(format string) (string, error) {
	b := t.bucket(bTickets)
	for n := b.Sequence() + 1; ; n++ {
		id, err := FormatTicketID(format, n)
		if err != nil {
			return "", fmt.Errorf("peek ticket id: %w", err)
		}
		if b.Get([]byte(id)) == nil {
			return id, nil
		}
	}
}

// FormatTicketID is ticket number n in format ("" for
// DefaultTicketIDFormat). A number that no longer fits the format's width is
// an error: ids must not grow past what the ticket pattern matches.
func FormatTicketID(format string, n uint64) (string, error) {
	if format == "" {
		format = DefaultTicketIDFormat
	}
	id := fmt.Sprintf(format, n)
	if limit := fmt.Sprintf(format, 0); len(id) != len(limit) {
		return "", fmt.Errorf("ticket number %d does not fit tickets.id_format %q", n, format)
	}
	return id, nil
}

// Ticket returns the ticket, or nil and no error if there is none.
func (t *Tx) Ticket(id string) (*Ticket, error) {
	raw := t.bucket(bTickets).Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	return decodeTicket(raw)
}

func decodeTicket(raw []byte) (*Ticket, error) {
	var tk Ticket
	if err := json.Unmarshal(raw, &tk); err != nil {
		return nil, fmt.Errorf("decode ticket: %w", err)
	}
	return &tk, nil
}

// TicketExists reports whether a ticket with this id is stored.
func (t *Tx) TicketExists(id string) bool {
	return t.bucket(bTickets).Get([]byte(id)) != nil
}

// PutTicket inserts or replaces the ticket and indexes the Message-IDs of its
// messages (an id already indexed to another ticket keeps its first ticket).
func (t *Tx) PutTicket(tk *Ticket) error {
	if tk.ID == "" || len(tk.ID) > MaxIDBytes {
		return fmt.Errorf("put ticket: %w: id %q", ErrInvalid, truncate(tk.ID))
	}
	switch tk.State {
	case StateOpen, StateAnswered, StateClosed:
	default:
		return fmt.Errorf("put ticket %s: %w: state %q", tk.ID, ErrInvalid, tk.State)
	}
	for i, m := range tk.Messages {
		tk.Messages[i].MessageID = NormalizeMessageID(m.MessageID)
		if m.Direction != DirectionIn && m.Direction != DirectionOut {
			return fmt.Errorf("put ticket %s: %w: message %d direction %q", tk.ID, ErrInvalid, i, m.Direction)
		}
	}
	raw, err := json.Marshal(tk)
	if err != nil {
		return fmt.Errorf("encode ticket %s: %w", tk.ID, err)
	}
	if old := t.bucket(bTickets).Get([]byte(tk.ID)); old != nil {
		prev, err := decodeTicket(old)
		if err != nil {
			return fmt.Errorf("put ticket %s: previous version: %w", tk.ID, err)
		}
		if ev := prev.nextEvent(); !ev.IsZero() {
			if err := t.bucket(bTicketDue).Delete(dueKeyTicket(ev, tk.ID)); err != nil {
				return fmt.Errorf("put ticket %s: %w", tk.ID, err)
			}
		}
	}
	if ev := tk.nextEvent(); !ev.IsZero() {
		if err := t.bucket(bTicketDue).Put(dueKeyTicket(ev, tk.ID), nil); err != nil {
			return fmt.Errorf("put ticket %s: %w", tk.ID, err)
		}
	}
	if err := t.bucket(bTickets).Put([]byte(tk.ID), raw); err != nil {
		return fmt.Errorf("put ticket %s: %w", tk.ID, err)
	}
	for _, m := range tk.Messages {
		if err := t.IndexMessageID(m.MessageID, tk.ID); err != nil {
			return err
		}
	}
	return nil
}

// IndexMessageID records that Message-ID msgid belongs to ticket (our own
// replies are registered too, so an answer to them is found). An empty msgid
// is ignored: threading on "" would merge unrelated mail. The first ticket a
// Message-ID was indexed to wins.
func (t *Tx) IndexMessageID(msgid, ticket string) error {
	k := NormalizeMessageID(msgid)
	if k == "" {
		return nil
	}
	if len(k) > 998 {
		return fmt.Errorf("index message-id: %w: longer than 998 bytes", ErrInvalid)
	}
	b := t.bucket(bTicketByMsgID)
	if b.Get([]byte(k)) != nil {
		return nil
	}
	if err := b.Put([]byte(k), []byte(ticket)); err != nil {
		return fmt.Errorf("index message-id for %s: %w", ticket, err)
	}
	return nil
}

// TicketByMessageID returns the ticket of the first of ids (In-Reply-To, then
// References, newest first as the caller orders them) that the store knows,
// or "" if none.
func (t *Tx) TicketByMessageID(ids ...string) (string, error) {
	b := t.bucket(bTicketByMsgID)
	for _, id := range ids {
		k := NormalizeMessageID(id)
		if k == "" {
			continue
		}
		if v := b.Get([]byte(k)); v != nil {
			return string(v), nil
		}
	}
	return "", nil
}

// ForEachTicket calls fn for each ticket in id order (only those in state
// open, a response from us due, when open is true), stopping at fn's first
// error.
func (t *Tx) ForEachTicket(open bool, fn func(tk Ticket) error) error {
	return t.bucket(bTickets).ForEach(func(_, v []byte) error {
		tk, err := decodeTicket(v)
		if err != nil {
			return err
		}
		if open && tk.State != StateOpen {
			return nil
		}
		return fn(*tk)
	})
}

// dueKeyTicket orders ticket_due: event time (Unix ns, BE) then ticket id.
func dueKeyTicket(at time.Time, id string) []byte {
	ns := at.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return append(binary.BigEndian.AppendUint64(nil, uint64(ns)), id...)
}

// NextTicketEvent is the time of the earliest pending SLA event (warning or
// breach) of any ticket, zero when none: one read, however many tickets are
// open.
func (t *Tx) NextTicketEvent() time.Time {
	k, _ := t.bucket(bTicketDue).Cursor().First()
	if len(k) < 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k)))
}

// DueTickets returns the ids of tickets whose next SLA event is at or before
// now, earliest first, at most limit.
func (t *Tx) DueTickets(now time.Time, limit int) []string {
	var ids []string
	c := t.bucket(bTicketDue).Cursor()
	for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
		if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
			break
		}
		ids = append(ids, string(k[8:]))
	}
	return ids
}

// rebuildTicketDue recreates ticket_due from the tickets.
func rebuildTicketDue(tx *bolt.Tx) error {
	due := tx.Bucket(bTicketDue)
	return tx.Bucket(bTickets).ForEach(func(k, v []byte) error {
		tk, err := decodeTicket(v)
		if err != nil {
			return err
		}
		if ev := tk.nextEvent(); !ev.IsZero() {
			return due.Put(dueKeyTicket(ev, tk.ID), nil)
		}
		return nil
	})
}

// rebuildTicketIndex recreates ticket_by_msgid from the tickets' messages.
func rebuildTicketIndex(tx *bolt.Tx) error {
	if tx.Bucket(bTicketByMsgID) != nil {
		if err := tx.DeleteBucket(bTicketByMsgID); err != nil {
			return err
		}
	}
	idx, err := tx.CreateBucket(bTicketByMsgID)
	if err != nil {
		return err
	}
	return tx.Bucket(bTickets).ForEach(func(k, v []byte) error {
		tk, err := decodeTicket(v)
		if err != nil {
			return err
		}
		for _, m := range tk.Messages {
			mk := NormalizeMessageID(m.MessageID)
			if mk == "" || idx.Get([]byte(mk)) != nil {
				continue
			}
			if err := idx.Put([]byte(mk), []byte(tk.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}
