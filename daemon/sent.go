package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"supportd/mailparse"
	"supportd/poller"
	"supportd/store"
	"supportd/triage"
)

// The Sent folder (§10, imap.sent_mailbox): staff who answer from the shared
// support mailbox itself (Outlook "Send As", Thunderbird on the shared
// account) send straight to the customer, and a copy lands in Sent. A second
// poller reads that folder, read-only, and sentHandler records each copy that
// answers a ticket's customer as a staff response. Nothing is sent, marked or
// moved for it.
//
// What a Sent message must be to count:
//   - not one of supportd's own (its Message-ID is in the outbox: an
//     acknowledgement, a relay, a notice — servers that save submitted mail,
//     Gmail and Microsoft 365, put those in Sent too);
//   - threaded to a ticket: In-Reply-To or References name one of the
//     ticket's messages, or the ticket id is in the subject;
//   - addressed (To or Cc) to that ticket's customer: its requester or an
//     address on the ticket;
//   - not already on the ticket (its Message-ID).
//
// Anything else is ignored with a debug log. Each batch is committed with
// the folder's checkpoint (UIDVALIDITY + UID) under its own key (sentKey), so
// a restart reads nothing twice; a UIDVALIDITY change starts again at UIDNEXT
// (poller.ValidityStarter) and reads nothing again: old sent mail is history.

// WatchSent makes Run also read p, the Sent folder's poller (read-only, its
// own connection). A failing Sent connection never stops the inbox: Run logs
// and retries it, and stops only it when the server marks no folder \Sent.
func (d *Daemon) WatchSent(p *poller.Poller) { _ = d.WatchSentOf(d.cfg.Account, p) }

// runSent reads the Sent folder until ctx ends. A server that marks no
// folder \Sent is asked again every SentRecheck (a folder created later is
// found without a restart).
func (d *Daemon) runSent(ctx context.Context, s sentFolder) {
	log := d.log.With("account", s.acct.display())
	for warned := false; ; warned = true {
		err := s.poll.Run(ctx, &sentHandler{d: d, account: s.acct.Name})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, poller.ErrNoSpecialUse):
			say := log.Warn
			if warned {
				say = log.Debug
			}
			say("no folder is marked \\Sent on the server: responses sent from the mailbox itself are not counted; name the folder in imap.sent_mailbox, or set it to \"\"",
				"err", err, "retry_in", d.cfg.SentRecheck)
		default:
			log.Error("Sent folder no longer read: responses sent from the mailbox itself are not counted", "err", err, "retry_in", d.cfg.SentRecheck)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.cfg.SentRecheck):
		}
	}
}

// sentKey is the store key of the Sent folder mailbox of account (checkpoint,
// start record): never the key of an inbox, even when the folder names are
// alike.
func sentKey(account, mailbox string) string { return "sent:" + MailboxKey(account, mailbox) }

// Sent-folder outcomes (logged, and the reason a message did not count).
const (
	sentResponse    = "response"
	sentOwn         = "own_message"     // supportd queued it (acknowledgement, relay, notice)
	sentNoTicket    = "no_ticket"       // threads to no known ticket
	sentNotCustomer = "not_to_customer" // not addressed to the ticket's customer
	sentDuplicate   = "already_counted" // its Message-ID is on the ticket already
	sentUnreadable  = "unreadable"
)

// sentHandler is the poller.Handler of the Sent folder.
type sentHandler struct {
	d       *Daemon
	account string
}

// Started implements poller.Starter (StartedUnder is what the poller asks).
func (h *sentHandler) Started(mailbox string) (bool, error) {
	var ok bool
	err := h.d.db.View(func(tx *store.Tx) error {
		uv, _, err := tx.Checkpoint(sentKey(h.account, mailbox))
		ok = uv != 0
		return err
	})
	return ok, err
}

// StartedUnder implements poller.ValidityStarter: a Sent folder read under
// another UIDVALIDITY starts again at UIDNEXT.
func (h *sentHandler) StartedUnder(mailbox string, uidValidity uint32) (bool, error) {
	var ok bool
	err := h.d.db.View(func(tx *store.Tx) error {
		uv, _, err := tx.Checkpoint(sentKey(h.account, mailbox))
		ok = uv == uidValidity
		if uv != 0 && uv != uidValidity {
			h.d.log.Warn("Sent folder UIDVALIDITY changed: reading starts again at UIDNEXT, nothing is read twice",
				"mailbox", mailbox, "old_uidvalidity", uv, "new_uidvalidity", uidValidity)
		}
		return err
	})
	return ok, err
}

// Start implements poller.Starter.
func (h *sentHandler) Start(mailbox string, st poller.Start) error {
	err := h.d.db.Update(func(tx *store.Tx) error {
		return tx.PutStartRecord(&store.StartRecord{Mailbox: sentKey(h.account, mailbox), Choice: st.Choice, UIDValidity: st.UIDValidity,
			UIDNext: st.UIDNext, Exists: st.Exists, Checkpoint: st.Checkpoint, At: st.At})
	})
	if err == nil {
		h.d.log.Info("Sent folder: reading starts with the next message sent (what is there is history)", "mailbox", mailbox,
			"uidvalidity", st.UIDValidity, "existing_messages", st.Exists, "from_uid", st.Checkpoint+1)
	}
	return err
}

// Checkpoint implements poller.Handler.
func (h *sentHandler) Checkpoint(mailbox string, uidValidity uint32) (uint32, error) {
	var last uint32
	err := h.d.db.View(func(tx *store.Tx) error {
		uv, uid, err := tx.Checkpoint(sentKey(h.account, mailbox))
		if uv == uidValidity {
			last = uid
		}
		return err
	})
	return last, err
}

// sentOutcome is what one Sent message turned into.
type sentOutcome struct {
	uid       uint32
	messageID string
	ticket    string
	result    string
}

// Handle implements poller.Handler: every message of the batch is decided
// and the checkpoint moved past the batch in one transaction. It returns no
// marks: the Sent folder is never changed.
func (h *sentHandler) Handle(ctx context.Context, mb poller.Mailbox, batch []poller.Fetched) ([]poller.Mark, error) {
	d := h.d
	pa := d.parseAhead(batch)
	pa.wait()
	parsed := pa.msgs
	for _, f := range batch {
		if f.Path != "" {
			os.Remove(f.Path)
		}
	}
	var outs []sentOutcome
	var obs []firstResponse
	err := d.db.Update(func(tx *store.Tx) error {
		outs, obs = outs[:0], obs[:0]
		for i, f := range batch {
			o := sentOutcome{uid: f.UID}
			err := safely(func() error {
				var err error
				o, err = h.one(tx, f, parsed[i], &obs)
				return err
			})
			if isPanic(err) { // a bug: this message does not count, the rest does
				d.log.Error("Sent message could not be handled", "mailbox", mb.Name, "uid", f.UID, "err", err)
				o.result = sentUnreadable
			} else if err != nil {
				return err // the store: the batch is read again
			}
			outs = append(outs, o)
		}
		return tx.SetCheckpoint(sentKey(h.account, mb.Name), mb.UIDValidity, batch[len(batch)-1].UID)
	})
	if err != nil {
		d.metrics.StoreErrors.Inc()
		return nil, fmt.Errorf("commit Sent batch of %d (uids %d-%d): %w", len(batch), batch[0].UID, batch[len(batch)-1].UID, err)
	}
	for _, o := range obs {
		d.metrics.FirstResponse.WithLabelValues(o.status).Observe(o.after.Seconds())
	}
	for _, o := range outs {
		if o.result == sentResponse {
			d.log.Info("staff response found in the Sent folder", "mailbox", mb.Name, "uid", o.uid, "message_id", o.messageID, "ticket", o.ticket)
		} else {
			d.log.Debug("Sent message is no staff response", "mailbox", mb.Name, "uid", o.uid, "message_id", o.messageID, "ticket", o.ticket, "reason", o.result)
		}
	}
	d.wakeSLA()
	return nil, nil
}

// one decides one Sent message and records it on its ticket when it is a
// staff response. An error is the store's.
func (h *sentHandler) one(tx *store.Tx, f poller.Fetched, p *parsedMsg, obs *[]firstResponse) (sentOutcome, error) {
	d := h.d
	o := sentOutcome{uid: f.UID, result: sentUnreadable}
	msg := p.msg
	if msg == nil || p.readErr != nil || p.panicked != "" {
		return o, nil
	}
	o.messageID = msg.MessageID
	if tx.OutboxHas(msg.MessageID) {
		o.result = sentOwn
		return o, nil
	}
	ids := append(append([]string{}, msg.InReplyTo...), msg.References...)
	id, err := tx.TicketByMessageID(ids...)
	if err != nil {
		return o, err
	}
	if id == "" && msg.TicketID != "" && strings.Contains(strings.ToUpper(msg.Subject), strings.ToUpper(msg.TicketID)) {
		id = msg.TicketID
	}
	o.ticket, o.result = id, sentNoTicket
	if id == "" {
		return o, nil
	}
	t, err := tx.Ticket(id)
	if err != nil || t == nil {
		return o, err
	}
	if !h.toCustomer(t, msg.To, msg.Cc) {
		o.result = sentNotCustomer
		return o, nil
	}
	msgid := store.NormalizeMessageID(msg.MessageID)
	for _, m := range t.Messages {
		if msgid != "" && m.MessageID == msgid {
			o.result = sentDuplicate
			return o, nil
		}
	}
	at := f.InternalDate
	if at.IsZero() {
		at = d.cfg.Now()
	}
	t.Messages = append(t.Messages, store.TicketMessage{MessageID: msgid, Received: at, Action: "sent_folder",
		Direction: store.DirectionOut, Kind: store.MsgStaff, From: senderOf(msg)})
	if t.State != store.StateClosed { // a copy to the customer of a closed ticket does not reopen it
		if r, first := d.engine.respond(t, at); first {
			*obs = append(*obs, r)
		}
		// The customer wrote again after this response (the Sent folder is
		// read after the inbox): that message still waits for an answer.
		if later := lastCustomerMessage(t); later.After(at) {
			t.State = store.StateOpen
			d.engine.setDue(t, d.engine.dueFor(t, later))
		}
	}
	t.Updated = d.cfg.Now()
	if err := tx.PutTicket(t); err != nil {
		return o, fmt.Errorf("ticket %s: %w", t.ID, err)
	}
	o.result = sentResponse
	return o, nil
}

// toCustomer reports whether one of the recipients is the ticket's customer
// (the requester or an address on the ticket), not one of ours.
func (h *sentHandler) toCustomer(t *store.Ticket, lists ...[]mailparse.Address) bool {
	for _, l := range lists {
		for _, a := range l {
			if t.HasAddress(a.Addr) && !h.d.ours(a.Addr) {
				return true
			}
		}
	}
	return false
}

// lastCustomerMessage is when the ticket's latest customer message came
// (zero when none).
func lastCustomerMessage(t *store.Ticket) time.Time {
	var last time.Time
	for _, m := range t.Messages {
		if m.Direction == store.DirectionIn && m.MessageKind() == store.MsgCustomer && m.Action != string(triage.Suppress) && m.Received.After(last) {
			last = m.Received
		}
	}
	return last
}
