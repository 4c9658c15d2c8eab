package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Outbox entry states.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// Outbox entry kinds.
const (
	KindReply   = "reply"   // automatic reply to the customer
	KindStaff   = "staff"   // notification to staff
	KindForward = "forward" // routed copy to the staff queue
)

// maxLastError caps the stored error text.
const maxLastError = 1000

// OutboxEntry is one message waiting for (or done with) SMTP delivery. The
// metadata lives in bucket outbox, Data in outbox_data (dropped once sent).
type OutboxEntry struct {
	ID        uint64 `json:"id"`
	MessageID string `json:"message_id"` // normalised, unique in the outbox
	Kind      string `json:"kind"`       // KindReply, KindStaff or KindForward
	Ticket    string `json:"ticket,omitempty"`
	// Account is the name of the account (accounts:) the entry goes out
	// through: the one its message came in on; "" is the top-level smtp
	// section (or, with accounts:, the first account).
	Account     string    `json:"account,omitempty"`
	From        string    `json:"from"` // envelope sender
	To          []string  `json:"to"`   // envelope recipients
	Data        []byte    `json:"-"`    // the complete RFC 5322 message
	Created     time.Time `json:"created"`
	NextAttempt time.Time `json:"next_attempt"`
	Attempts    int       `json:"attempts,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	State       string    `json:"state"` // OutboxPending, OutboxSent or OutboxFailed
	SentAt      time.Time `json:"sent_at,omitzero"`
}

// dueKey orders pending entries by next attempt (Unix ns, BE; times before
// 1970 count as 0), then id.
func dueKey(next time.Time, id uint64) []byte {
	ns := next.UnixNano()
	if ns < 0 || next.IsZero() {
		ns = 0
	}
	k := binary.BigEndian.AppendUint64(nil, uint64(ns))
	return binary.BigEndian.AppendUint64(k, id)
}

// Enqueue stores e as pending and returns its id (also set in e.ID). It is
// idempotent on MessageID: enqueuing a Message-ID already in the outbox (in
// any state) writes nothing and returns the existing id. Created must be set;
// NextAttempt defaults to Created.
func (t *Tx) Enqueue(e *OutboxEntry) (uint64, error) {
	e.MessageID = NormalizeMessageID(e.MessageID)
	switch {
	case e.MessageID == "":
		return 0, fmt.Errorf("enqueue: %w: Message-ID required", ErrInvalid)
	case len(e.MessageID) > 998:
		return 0, fmt.Errorf("enqueue: %w: Message-ID too long", ErrInvalid)
	case e.Kind != KindReply && e.Kind != KindStaff && e.Kind != KindForward:
		return 0, fmt.Errorf("enqueue %s: %w: kind %q", e.MessageID, ErrInvalid, e.Kind)
	case len(e.To) == 0:
		return 0, fmt.Errorf("enqueue %s: %w: no recipients", e.MessageID, ErrInvalid)
	case len(e.Data) == 0:
		return 0, fmt.Errorf("enqueue %s: %w: no message data", e.MessageID, ErrInvalid)
	case e.Created.IsZero():
		return 0, fmt.Errorf("enqueue %s: %w: Created not set", e.MessageID, ErrInvalid)
	}
	byMsg := t.bucket(bOutboxByMsgID)
	if v := byMsg.Get([]byte(e.MessageID)); v != nil {
		e.ID = binary.BigEndian.Uint64(v)
		return e.ID, nil
	}
	ob := t.bucket(bOutbox)
	id, err := ob.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", e.MessageID, err)
	}
	e.ID = id
	e.State = OutboxPending
	e.Attempts = 0
	e.LastError = ""
	e.SentAt = time.Time{}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.Created
	}
	if err := t.putOutbox(e); err != nil {
		return 0, err
	}
	if err := t.bucket(bOutboxData).Put(u64(id), bytes.Clone(e.Data)); err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", e.MessageID, err)
	}
	if err := byMsg.Put([]byte(e.MessageID), u64(id)); err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", e.MessageID, err)
	}
	if err := t.bucket(bOutboxDue).Put(dueKey(e.NextAttempt, id), nil); err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", e.MessageID, err)
	}
	return id, nil
}

func (t *Tx) putOutbox(e *OutboxEntry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode outbox %d: %w", e.ID, err)
	}
	if err := t.bucket(bOutbox).Put(u64(e.ID), raw); err != nil {
		return fmt.Errorf("put outbox %d: %w", e.ID, err)
	}
	return nil
}

// outboxMeta reads an entry without its data.
func (t *Tx) outboxMeta(id uint64) (*OutboxEntry, error) {
	raw := t.bucket(bOutbox).Get(u64(id))
	if raw == nil {
		return nil, fmt.Errorf("outbox %d: %w", id, ErrNotFound)
	}
	var e OutboxEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode outbox %d: %w", id, err)
	}
	return &e, nil
}

// OutboxEntry returns the entry with its Data (nil once sent); ErrNotFound if
// there is none.
func (t *Tx) OutboxEntry(id uint64) (*OutboxEntry, error) {
	e, err := t.outboxMeta(id)
	if err != nil {
		return nil, err
	}
	if d := t.bucket(bOutboxData).Get(u64(id)); d != nil {
		e.Data = bytes.Clone(d)
	}
	return e, nil
}

// Due returns up to limit pending entries whose NextAttempt is not after now,
// earliest first (then by id), with their Data.
func (t *Tx) Due(now time.Time, limit int) ([]OutboxEntry, error) {
	return t.DueBytes(now, limit, 0)
}

// DueBytes is Due stopping also once the entries' messages total maxBytes
// (the first entry always comes; 0 means no byte limit): staff copies carry
// their originals, and a round of them must not hold the whole outbox in
// memory.
func (t *Tx) DueBytes(now time.Time, limit int, maxBytes int64) ([]OutboxEntry, error) {
	var out []OutboxEntry
	var total int64
	end := dueKey(now, ^uint64(0))
	c := t.bucket(bOutboxDue).Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit && bytes.Compare(k, end) <= 0; k, _ = c.Next() {
		if len(k) != 16 {
			return nil, fmt.Errorf("outbox_due: bad key length %d", len(k))
		}
		e, err := t.OutboxEntry(binary.BigEndian.Uint64(k[8:]))
		if err != nil {
			return nil, err
		}
		if maxBytes > 0 && len(out) > 0 && total+int64(len(e.Data)) > maxBytes {
			break
		}
		total += int64(len(e.Data))
		out = append(out, *e)
	}
	return out, nil
}

// MarkSent records a successful delivery: state sent, SentAt, one more
// attempt; the message data is deleted (the metadata stays for
// SentByMessageID). Marking a sent entry again is a no-op.
func (t *Tx) MarkSent(id uint64, at time.Time) error {
	e, err := t.outboxMeta(id)
	if err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	switch e.State {
	case OutboxSent:
		return nil
	case OutboxFailed:
		// A delivery that succeeded after all (e.g. a manual resend) still counts.
	}
	if err := t.bucket(bOutboxDue).Delete(dueKey(e.NextAttempt, id)); err != nil {
		return fmt.Errorf("mark sent %d: %w", id, err)
	}
	if err := t.bucket(bOutboxData).Delete(u64(id)); err != nil {
		return fmt.Errorf("mark sent %d: %w", id, err)
	}
	e.State = OutboxSent
	e.SentAt = at
	e.Attempts++
	e.LastError = ""
	return t.putOutbox(e)
}

// MarkRetry records a temporary failure: one more attempt, the error text, and
// the next attempt time. Only a pending entry can be retried.
func (t *Tx) MarkRetry(id uint64, next time.Time, errText string) error {
	e, err := t.outboxMeta(id)
	if err != nil {
		return fmt.Errorf("mark retry: %w", err)
	}
	if e.State != OutboxPending {
		return fmt.Errorf("mark retry %d: %w: state is %s", id, ErrInvalid, e.State)
	}
	due := t.bucket(bOutboxDue)
	if err := due.Delete(dueKey(e.NextAttempt, id)); err != nil {
		return fmt.Errorf("mark retry %d: %w", id, err)
	}
	e.NextAttempt = next
	e.Attempts++
	e.LastError = truncateBytes(errText, maxLastError)
	if err := due.Put(dueKey(next, id), nil); err != nil {
		return fmt.Errorf("mark retry %d: %w", id, err)
	}
	return t.putOutbox(e)
}

// MarkFailed records a permanent failure: state failed, one more attempt, the
// error text. The data is kept so that staff can resend it by hand.
func (t *Tx) MarkFailed(id uint64, errText string) error {
	e, err := t.outboxMeta(id)
	if err != nil {
		return fmt.Errorf("mark failed: %w", err)
	}
	if e.State != OutboxPending {
		return fmt.Errorf("mark failed %d: %w: state is %s", id, ErrInvalid, e.State)
	}
	if err := t.bucket(bOutboxDue).Delete(dueKey(e.NextAttempt, id)); err != nil {
		return fmt.Errorf("mark failed %d: %w", id, err)
	}
	e.State = OutboxFailed
	e.Attempts++
	e.LastError = truncateBytes(errText, maxLastError)
	return t.putOutbox(e)
}

// OutboxStats returns how many entries are pending and the Created time of
// the oldest of them (zero when none).
func (t *Tx) OutboxStats() (pending int, oldest time.Time, err error) {
	minID := ^uint64(0)
	c := t.bucket(bOutboxDue).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != 16 {
			return 0, time.Time{}, fmt.Errorf("outbox_due: bad key length %d", len(k))
		}
		pending++
		if id := binary.BigEndian.Uint64(k[8:]); id < minID {
			minID = id
		}
	}
	if pending == 0 {
		return 0, time.Time{}, nil
	}
	e, err := t.outboxMeta(minID)
	if err != nil {
		return 0, time.Time{}, err
	}
	return pending, e.Created, nil
}

// OutboxHas reports whether a message with this Message-ID was ever queued
// (in any state): it is one supportd wrote.
func (t *Tx) OutboxHas(msgid string) bool {
	k := NormalizeMessageID(msgid)
	return k != "" && t.bucket(bOutboxByMsgID).Get([]byte(k)) != nil
}

// SentByMessageID reports whether a message with this Message-ID was delivered.
func (t *Tx) SentByMessageID(msgid string) (bool, error) {
	_, e, err := t.outboxByMessageID(msgid)
	return e != nil && e.State == OutboxSent, err
}

// outboxByMessageID returns the entry (without data) queued under msgid and
// its id; nil when there is none.
func (t *Tx) outboxByMessageID(msgid string) (uint64, *OutboxEntry, error) {
	k := NormalizeMessageID(msgid)
	if k == "" {
		return 0, nil, nil
	}
	v := t.bucket(bOutboxByMsgID).Get([]byte(k))
	if v == nil {
		return 0, nil, nil
	}
	id := binary.BigEndian.Uint64(v)
	e, err := t.outboxMeta(id)
	return id, e, err
}

func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncate(s[:n])
}

// outboxV1 is the schema-v1 outbox record: the data inline, base64 in JSON.
type outboxV1 struct {
	OutboxEntry
	Data []byte `json:"data"`
}

// migrateOutboxV1 moves v1 inline data to outbox_data and builds
// outbox_by_msgid and outbox_due.
func migrateOutboxV1(tx *bolt.Tx) error {
	ob := tx.Bucket(bOutbox)
	data, byMsg, due := tx.Bucket(bOutboxData), tx.Bucket(bOutboxByMsgID), tx.Bucket(bOutboxDue)
	type rec struct {
		key  []byte
		meta []byte
	}
	var rewrites []rec
	err := ob.ForEach(func(k, v []byte) error {
		var old outboxV1
		if err := json.Unmarshal(v, &old); err != nil {
			return fmt.Errorf("decode v1 outbox %x: %w", k, err)
		}
		e := old.OutboxEntry
		e.MessageID = NormalizeMessageID(e.MessageID)
		id := binary.BigEndian.Uint64(k)
		e.ID = id
		if len(old.Data) > 0 && e.State != OutboxSent {
			if err := data.Put(u64(id), old.Data); err != nil {
				return err
			}
		}
		if e.MessageID != "" && byMsg.Get([]byte(e.MessageID)) == nil {
			if err := byMsg.Put([]byte(e.MessageID), u64(id)); err != nil {
				return err
			}
		}
		if e.State == OutboxPending {
			if err := due.Put(dueKey(e.NextAttempt, id), nil); err != nil {
				return err
			}
		}
		meta, err := json.Marshal(&e)
		if err != nil {
			return err
		}
		rewrites = append(rewrites, rec{bytes.Clone(k), meta})
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate outbox: %w", err)
	}
	// Modifying a bucket while ForEach walks it is not allowed; rewrite after.
	for _, r := range rewrites {
		if err := ob.Put(r.key, r.meta); err != nil {
			return fmt.Errorf("migrate outbox: %w", err)
		}
	}
	return nil
}
