package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// OutboxList returns the outbox entries that are not sent (pending and
// failed), oldest first, without their data; with failedOnly only the failed
// ones.
func (t *Tx) OutboxList(failedOnly bool) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := t.bucket(bOutbox).ForEach(func(k, v []byte) error {
		var e OutboxEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("outbox entry %x: %w", k, err)
		}
		if e.State == OutboxFailed || (!failedOnly && e.State == OutboxPending) {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Requeue makes entry id due at now: a failed entry becomes pending again
// (its data was kept), a pending one is tried at once. A sent entry is left
// alone (false). The attempt count and last error stay for the record.
func (t *Tx) Requeue(id uint64, now time.Time) (bool, error) {
	e, err := t.outboxMeta(id)
	if err != nil {
		return false, fmt.Errorf("requeue: %w", err)
	}
	switch e.State {
	case OutboxSent:
		return false, nil
	case OutboxPending:
		if err := t.bucket(bOutboxDue).Delete(dueKey(e.NextAttempt, id)); err != nil {
			return false, fmt.Errorf("requeue %d: %w", id, err)
		}
	case OutboxFailed:
		if t.bucket(bOutboxData).Get(u64(id)) == nil {
			return false, fmt.Errorf("requeue %d: %w: its message data is gone", id, ErrInvalid)
		}
	}
	e.State, e.NextAttempt = OutboxPending, now
	if err := t.bucket(bOutboxDue).Put(dueKey(now, id), nil); err != nil {
		return false, fmt.Errorf("requeue %d: %w", id, err)
	}
	return true, t.putOutbox(e)
}
