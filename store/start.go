package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// StartRecord is where supportd began reading a mailbox (the operator's
// --start-at / imap.start_at choice on the first start), kept in the meta
// bucket under "start:<mailbox>".
type StartRecord struct {
	Mailbox     string    `json:"mailbox"`
	Choice      string    `json:"choice"`         // "empty", "now", "all" or an RFC 3339 time
	Since       time.Time `json:"since,omitzero"` // choice of a date: mail received before it is not answered
	UIDValidity uint32    `json:"uid_validity"`   // when reading began
	UIDNext     uint32    `json:"uid_next"`       // messages below it were in the mailbox then
	Exists      uint32    `json:"exists"`         // how many
	Checkpoint  uint32    `json:"checkpoint"`     // the first checkpoint
	At          time.Time `json:"at"`
}

func startKey(mb string) []byte { return []byte("start:" + mb) }

// StartRecord returns mailbox mb's start record, nil if none.
func (t *Tx) StartRecord(mb string) (*StartRecord, error) {
	raw := t.bucket(bMeta).Get(startKey(mb))
	if raw == nil {
		return nil, nil
	}
	var r StartRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("start record %q: %w", mb, err)
	}
	return &r, nil
}

// PutStartRecord records where reading r.Mailbox began and sets its
// checkpoint to r.Checkpoint under r.UIDValidity.
func (t *Tx) PutStartRecord(r *StartRecord) error {
	if err := validMailbox(r.Mailbox); err != nil {
		return fmt.Errorf("start record: %w", err)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("start record: %w", err)
	}
	if err := t.bucket(bMeta).Put(startKey(r.Mailbox), raw); err != nil {
		return fmt.Errorf("start record %q: %w", r.Mailbox, err)
	}
	return t.SetCheckpoint(r.Mailbox, r.UIDValidity, r.Checkpoint)
}
