package daemon

import (
	"slices"
	"time"

	"supportd/poller"
	"supportd/store"
)

// Started implements poller.Starter: whether mailbox has a start record or a
// checkpoint (a store from before start records were kept).
func (d *Daemon) Started(mailbox string) (bool, error) {
	var ok bool
	err := d.db.View(func(tx *store.Tx) error {
		r, err := tx.StartRecord(mailbox)
		if err != nil || r != nil {
			ok = r != nil
			return err
		}
		uv, _, err := tx.Checkpoint(mailbox)
		ok = uv != 0
		return err
	})
	return ok, err
}

// Start implements poller.Starter: it keeps the start point in the store and
// sets the first checkpoint, in one transaction.
func (d *Daemon) Start(mailbox string, st poller.Start) error {
	err := d.db.Update(func(tx *store.Tx) error {
		return tx.PutStartRecord(&store.StartRecord{Mailbox: mailbox, Choice: st.Choice, Since: st.Since,
			UIDValidity: st.UIDValidity, UIDNext: st.UIDNext, Exists: st.Exists, Checkpoint: st.Checkpoint, At: st.At})
	})
	if err == nil {
		d.log.Warn("first start on this mailbox: start point kept in the store", "mailbox", mailbox, "start_at", st.Choice,
			"existing_messages", st.Exists, "answered_from_uid", st.Checkpoint+1)
	}
	return err
}

// Actions of messages recorded without being decided (no reply, no staff copy,
// no marks): SkipAction, with the reason in the ledger's SuppressReason.
const (
	SkipAction          = "skipped"
	SkipProcessed       = "already_processed" // tagged $SupportdProcessed: answered by an earlier store or instance
	SkipBeforeStartDate = "before_start"      // in the mailbox before a --start-at DATE and received before that date
)

// skipReason says why f is recorded without an answer, or "". A message
// carrying ProcessedKeyword was handled already, whatever this store says;
// one that was in the mailbox when reading began with a --start-at date and
// was received before that date is not answered.
func skipReason(tx *store.Tx, mb poller.Mailbox, f poller.Fetched) string {
	if slices.Contains(f.Flags, ProcessedKeyword) {
		return SkipProcessed
	}
	r, err := tx.StartRecord(mb.Name)
	if err == nil && r != nil && !r.Since.IsZero() && r.UIDValidity == mb.UIDValidity &&
		f.UID < r.UIDNext && f.InternalDate.Before(r.Since) {
		return SkipBeforeStartDate
	}
	return ""
}

// skip records a message that gets no answer and no marks (see skipReason).
func (d *Daemon) skip(tx *store.Tx, mb poller.Mailbox, f poller.Fetched, p *parsedMsg, reason string, now time.Time) outcome {
	o := outcome{f: f, received: f.InternalDate, action: SkipAction, status: reason}
	o.mark.UID = f.UID
	e := &store.LedgerEntry{Mailbox: mb.Name, UIDValidity: mb.UIDValidity, UID: f.UID, ContentHash: p.hash,
		Action: SkipAction, SuppressReason: reason, Processed: now, Marked: true}
	if p.msg != nil {
		e.MessageID = p.msg.MessageID
		o.messageID = p.msg.MessageID
	}
	if err := tx.PutLedger(e); err != nil {
		o.err = err
	}
	return o
}
