package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"supportd/entitlement"
)

// Ticket states.
const (
	StateOpen   = "open"
	StateClosed = "closed"
)

// Message directions.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// TicketIDPrefix and ticketIDMax define the ids NextTicketID hands out:
// CS-000001 … CS-999999.
const (
	TicketIDPrefix = "CS-"
	ticketIDMax    = 999999
)

// Ticket is one support case.
type Ticket struct {
	ID         string             `json:"id"`
	Subject    string             `json:"subject"`
	CustomerID string             `json:"customer_id,omitempty"`
	Company    string             `json:"company,omitempty"`
	Status     entitlement.Status `json:"status"`
	Priority   int                `json:"priority"`
	From       string             `json:"from"`
	Created    time.Time          `json:"created"`
	Updated    time.Time          `json:"updated"`
	Deadline   time.Time          `json:"deadline,omitzero"` // zero: no SLA deadline
	State      string             `json:"state"`             // StateOpen or StateClosed
	Messages   []TicketMessage    `json:"messages,omitempty"`
}

// TicketMessage is one message of a ticket, incoming or sent by us.
type TicketMessage struct {
	MessageID string    `json:"message_id,omitempty"` // without angle brackets
	UID       uint32    `json:"uid,omitempty"`        // IMAP UID of an incoming message
	Received  time.Time `json:"received"`
	Action    string    `json:"action,omitempty"` // triage action for incoming messages
	Direction string    `json:"direction"`        // DirectionIn or DirectionOut
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

// NextTicketID allocates a new ticket id from the tickets bucket's sequence,
// skipping ids a stored ticket already has (the customers' web page creates
// ids too). It writes (the sequence), so it needs an Update transaction.
func (t *Tx) NextTicketID() (string, error) {
	b := t.bucket(bTickets)
	for {
		n, err := b.NextSequence()
		if err != nil {
			return "", fmt.Errorf("next ticket id: %w", err)
		}
		if n > ticketIDMax {
			return "", fmt.Errorf("next ticket id: sequence %d exhausts %s%06d", n, TicketIDPrefix, ticketIDMax)
		}
		id := formatTicketID(n)
		if b.Get([]byte(id)) == nil {
			return id, nil
		}
	}
}

// PeekNextTicketID is the id NextTicketID would return now, without writing
// (for the read-only explain command).
func (t *Tx) PeekNextTicketID() (string, error) {
	b := t.bucket(bTickets)
	for n := b.Sequence() + 1; n <= ticketIDMax; n++ {
		id := formatTicketID(n)
		if b.Get([]byte(id)) == nil {
			return id, nil
		}
	}
	return "", fmt.Errorf("peek ticket id: ids up to %s%06d are used", TicketIDPrefix, ticketIDMax)
}

func formatTicketID(n uint64) string { return fmt.Sprintf("%s%06d", TicketIDPrefix, n) }

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
	case StateOpen, StateClosed:
	default:
		return fmt.Errorf("put ticket %s: %w: state %q", tk.ID, ErrInvalid, tk.State)
	}
	for i, m := range tk.Messages {
		if m.Direction != DirectionIn && m.Direction != DirectionOut {
			return fmt.Errorf("put ticket %s: %w: message %d direction %q", tk.ID, ErrInvalid, i, m.Direction)
		}
	}
	raw, err := json.Marshal(tk)
	if err != nil {
		return fmt.Errorf("encode ticket %s: %w", tk.ID, err)
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

// ForEachTicket calls fn for each ticket in id order (only open ones when
// open is true), stopping at fn's first error.
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
