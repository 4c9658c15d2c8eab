package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LedgerEntry is what supportd did with one IMAP message (mailbox, UIDVALIDITY,
// UID). An entry with a zero Processed time only counts failed attempts.
type LedgerEntry struct {
	Mailbox     string `json:"mailbox"`
	UIDValidity uint32 `json:"uid_validity"`
	UID         uint32 `json:"uid"`
	MessageID   string `json:"message_id,omitempty"` // normalised (no angle brackets)
	ContentHash string `json:"content_hash,omitempty"`
	// Fingerprint identifies the message's own content (Message-ID, From,
	// Subject, Date, text, attachments), whatever trace headers a second
	// delivery added; "" in entries written before it existed.
	Fingerprint    string    `json:"fingerprint,omitempty"`
	Ticket         string    `json:"ticket,omitempty"`
	Action         string    `json:"action,omitempty"`
	SuppressReason string    `json:"suppress_reason,omitempty"`
	Processed      time.Time `json:"processed,omitzero"`
	Attempts       int       `json:"attempts,omitempty"`
	Quarantined    bool      `json:"quarantined,omitempty"`
	Marked         bool      `json:"marked,omitempty"` // IMAP keywords / move applied
	// Keywords and MoveTo are the IMAP marks decided for the message, kept so they
	// can be applied again after a crash between the commit and the STORE/MOVE.
	Keywords []string `json:"keywords,omitempty"`
	MoveTo   string   `json:"move_to,omitempty"`
	// Duplicate: the same message (Message-ID or content) was already handled
	// under another UID; this one got the first one's marks and no reply.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Done reports whether the message needs no more processing (processed or
// quarantined); the IMAP marking may still be pending (see Marked).
func (e *LedgerEntry) Done() bool { return !e.Processed.IsZero() || e.Quarantined }

// ledgerKey is mailbox NUL uidvalidity(4 bytes BE) uid(4 bytes BE), so one
// mailbox's entries are contiguous and in UID order.
func ledgerKey(mb string, uv, uid uint32) []byte {
	k := make([]byte, 0, len(mb)+9)
	k = append(k, mb...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint32(k, uv)
	return binary.BigEndian.AppendUint32(k, uid)
}

func validMailbox(mb string) error {
	if mb == "" || strings.IndexByte(mb, 0) >= 0 || len(mb) > 1000 {
		return fmt.Errorf("%w: mailbox name %q", ErrInvalid, truncate(mb))
	}
	return nil
}

// MessageKey is the dedup key of a message: its normalised Message-ID, or
// "sha256:"+contentHash when it has none. "" when it has neither.
func MessageKey(messageID, contentHash string) string {
	if id := NormalizeMessageID(messageID); id != "" {
		return "<" + id + ">"
	}
	if contentHash != "" {
		return "sha256:" + contentHash
	}
	return ""
}

// FingerprintKey is the ledger index key of a content fingerprint ("" none).
func FingerprintKey(fp string) string {
	if fp == "" {
		return ""
	}
	return "fp:" + fp
}

// SeenUID returns the ledger entry of this message, or nil and no error.
func (t *Tx) SeenUID(mb string, uv, uid uint32) (*LedgerEntry, error) {
	raw := t.bucket(bLedger).Get(ledgerKey(mb, uv, uid))
	if raw == nil {
		return nil, nil
	}
	return decodeLedger(raw)
}

// SeenMessage returns the first ledger entry recorded under key (see
// MessageKey), in whatever mailbox or UIDVALIDITY; nil and no error if none.
// It finds the same message again after a UIDVALIDITY change or a copy.
func (t *Tx) SeenMessage(key string) (*LedgerEntry, error) {
	if key == "" {
		return nil, nil
	}
	lk := t.bucket(bLedgerByMsgKey).Get([]byte(key))
	if lk == nil {
		return nil, nil
	}
	raw := t.bucket(bLedger).Get(lk)
	if raw == nil {
		return nil, fmt.Errorf("ledger_by_msgkey %q points to a missing entry", key)
	}
	return decodeLedger(raw)
}

func decodeLedger(raw []byte) (*LedgerEntry, error) {
	var e LedgerEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode ledger entry: %w", err)
	}
	return &e, nil
}

// PutLedger inserts or replaces an entry. It indexes the entry under its
// Message-ID key and content-hash key (keeping an existing mapping: the first
// sighting wins), and tracks whether IMAP marking is still due (Unmarked).
func (t *Tx) PutLedger(e *LedgerEntry) error {
	if err := validMailbox(e.Mailbox); err != nil {
		return fmt.Errorf("put ledger: %w", err)
	}
	e.MessageID = NormalizeMessageID(e.MessageID)
	k := ledgerKey(e.Mailbox, e.UIDValidity, e.UID)
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry: %w", err)
	}
	if err := t.bucket(bLedger).Put(k, raw); err != nil {
		return fmt.Errorf("put ledger %s/%d/%d: %w", e.Mailbox, e.UIDValidity, e.UID, err)
	}
	return t.indexLedger(k, e)
}

func (t *Tx) indexLedger(k []byte, e *LedgerEntry) error {
	return indexLedgerIn(t.bucket(bLedgerByMsgKey), t.bucket(bLedgerUnmarked), k, e)
}

func indexLedgerIn(byKey, unmarked *bolt.Bucket, k []byte, e *LedgerEntry) error {
	for _, mk := range []string{MessageKey(e.MessageID, ""), MessageKey("", e.ContentHash), FingerprintKey(e.Fingerprint)} {
		if mk == "" || len(mk) > 1000 || byKey.Get([]byte(mk)) != nil {
			continue
		}
		if err := byKey.Put([]byte(mk), bytes.Clone(k)); err != nil {
			return fmt.Errorf("index ledger entry: %w", err)
		}
	}
	var err error
	if e.Done() && !e.Marked {
		err = unmarked.Put(bytes.Clone(k), nil)
	} else {
		err = unmarked.Delete(k)
	}
	if err != nil {
		return fmt.Errorf("index ledger entry: %w", err)
	}
	return nil
}

// Unmarked returns the done entries of mailbox mb whose IMAP keywords or move
// are not applied yet (to re-apply them after a crash), in UIDVALIDITY/UID order.
func (t *Tx) Unmarked(mb string) ([]LedgerEntry, error) {
	prefix := append([]byte(mb), 0)
	var out []LedgerEntry
	c := t.bucket(bLedgerUnmarked).Cursor()
	led := t.bucket(bLedger)
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		raw := led.Get(k)
		if raw == nil {
			continue
		}
		e, err := decodeLedger(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, nil
}

// RecordAttempt counts one more failed processing attempt of a message
// (creating its entry if needed) and returns the new count; the caller
// quarantines the message (PutLedger with Quarantined) past its limit.
func (t *Tx) RecordAttempt(mb string, uv, uid uint32) (int, error) {
	e, err := t.SeenUID(mb, uv, uid)
	if err != nil {
		return 0, err
	}
	if e == nil {
		e = &LedgerEntry{Mailbox: mb, UIDValidity: uv, UID: uid}
	}
	e.Attempts++
	if err := t.PutLedger(e); err != nil {
		return 0, err
	}
	return e.Attempts, nil
}

// Checkpoint returns the UIDVALIDITY and highest UID processed in mailbox mb;
// zeros when there is none yet.
func (t *Tx) Checkpoint(mb string) (uidValidity, lastUID uint32, err error) {
	v := t.bucket(bCheckpoints).Get([]byte(mb))
	if v == nil {
		return 0, 0, nil
	}
	if len(v) != 8 {
		return 0, 0, fmt.Errorf("checkpoint %q: bad value length %d", mb, len(v))
	}
	return binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), nil
}

// SetCheckpoint records mailbox mb's UIDVALIDITY and highest processed UID.
func (t *Tx) SetCheckpoint(mb string, uidValidity, lastUID uint32) error {
	if err := validMailbox(mb); err != nil {
		return fmt.Errorf("set checkpoint: %w", err)
	}
	v := binary.BigEndian.AppendUint32(nil, uidValidity)
	v = binary.BigEndian.AppendUint32(v, lastUID)
	if err := t.bucket(bCheckpoints).Put([]byte(mb), v); err != nil {
		return fmt.Errorf("set checkpoint %q: %w", mb, err)
	}
	return nil
}

// rebuildLedgerIndexes recreates ledger_by_msgkey and ledger_unmarked.
func rebuildLedgerIndexes(tx *bolt.Tx) error {
	for _, name := range [][]byte{bLedgerByMsgKey, bLedgerUnmarked} {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	byKey, unmarked := tx.Bucket(bLedgerByMsgKey), tx.Bucket(bLedgerUnmarked)
	return tx.Bucket(bLedger).ForEach(func(k, v []byte) error {
		e, err := decodeLedger(v)
		if err != nil {
			return err
		}
		return indexLedgerIn(byKey, unmarked, bytes.Clone(k), e)
	})
}
