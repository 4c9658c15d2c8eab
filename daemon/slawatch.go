package daemon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"supportd/mailer"
	"supportd/sla"
	"supportd/store"
)

// OverdueKeyword tags the messages of a ticket whose response deadline passed.
const OverdueKeyword = "Overdue"

// maxSLABatch bounds the tickets one SLA round handles in one transaction.
const maxSLABatch = 200

// slaLoop sends the SLA warnings and breach notices of §10 when they fall
// due. The schedule lives in the store (ticket_due: each ticket's next event),
// so an event is found again after a crash or a stop, and each is queued
// exactly once: the notice is enqueued (Message-ID derived from ticket, due
// time and kind) in the same transaction that records it on the ticket.
// Waiting costs one store read of the earliest event, however many tickets
// are open; a commit that may add an earlier one wakes the loop.
func (d *Daemon) slaLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.slaKick:
		case <-t.C:
		}
		next, err := d.slaRound()
		if err != nil {
			d.log.Error("SLA round failed; retrying in a minute", "err", err)
			next = d.cfg.Now().Add(time.Minute)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		if !next.IsZero() {
			t.Reset(max(next.Sub(d.cfg.Now()), 0))
		}
	}
}

// WakeSLA tells the SLA loop that a ticket's due time may have changed
// outside a batch (the admin API's close and reopen).
func (d *Daemon) WakeSLA() { d.wakeSLA() }

func (d *Daemon) wakeSLA() {
	select {
	case d.slaKick <- struct{}{}:
	default:
	}
}

// slaRound handles every event due now and returns when the next one is
// due (zero: none). A round with nothing due (the loop is woken after every
// intake batch) is one read transaction: no commit, no fsync.
func (d *Daemon) slaRound() (time.Time, error) {
	for {
		now := d.cfg.Now()
		var next time.Time
		due := false
		if err := d.db.View(func(tx *store.Tx) error {
			due = len(tx.DueTickets(now, 1)) > 0
			next = tx.NextTicketEvent()
			return nil
		}); err != nil || !due {
			return next, err
		}
		var events []slaEvent
		err := d.db.Update(func(tx *store.Tx) error {
			events = events[:0]
			ids := tx.DueTickets(now, maxSLABatch)
			for _, id := range ids {
				ev, err := d.slaEventOf(tx, id, now)
				if err != nil {
					return err
				}
				if ev != nil {
					events = append(events, *ev)
				}
			}
			next = tx.NextTicketEvent()
			return nil
		})
		if err != nil {
			return time.Time{}, err
		}
		for _, ev := range events {
			d.metrics.SLAEvents.WithLabelValues(ev.kind, ev.status).Inc()
			d.log.Warn("SLA "+ev.kind, "ticket", ev.ticket, "status", ev.status, "response_due", ev.due.Format(time.RFC3339))
		}
		if len(events) > 0 {
			d.wakeOutbox()
			d.remark()
		}
		if next.IsZero() || next.After(now) {
			return next, nil
		}
		if len(events) == 0 {
			// Due entries that yield no event would spin this loop: a bug,
			// said once a minute rather than burning a core.
			d.log.Error("SLA schedule holds due entries that yield no event", "next", next)
			return now.Add(time.Minute), nil
		}
	}
}

type slaEvent struct {
	ticket, kind, status string
	due                  time.Time
}

// slaEventOf records the event of ticket id due at now: the breach when its
// response is overdue (a daemon that was down past the deadline sends the
// breach, not a stale warning), else the warning.
func (d *Daemon) slaEventOf(tx *store.Tx, id string, now time.Time) (*slaEvent, error) {
	t, err := tx.Ticket(id)
	if err != nil || t == nil {
		return nil, err
	}
	if t.State != store.StateOpen || t.ResponseDue.IsZero() {
		return nil, tx.PutTicket(t) // not due any more: PutTicket drops the stale index entry
	}
	kind := ""
	switch {
	case !now.Before(t.ResponseDue) && !t.Breached:
		kind = "breach"
		t.Breached, t.Warned = true, true
		t.Breaches++
	case !t.Warned && !t.WarnAt.IsZero() && !now.Before(t.WarnAt):
		kind = "warning"
		t.Warned = true
	}
	if kind != "" {
		if err := d.enqueueSLANotice(tx, t, kind, now); err != nil {
			return nil, err
		}
		if kind == "breach" {
			if err := d.markOverdue(tx, t); err != nil {
				return nil, err
			}
		}
	}
	t.Updated = now
	if err := tx.PutTicket(t); err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, nil
	}
	return &slaEvent{ticket: t.ID, kind: kind, status: string(t.Status), due: t.ResponseDue}, nil
}

// enqueueSLANotice queues the warning or breach notice of t to the
// escalation address (support.escalation_address, else the staff queue).
func (d *Daemon) enqueueSLANotice(tx *store.Tx, t *store.Ticket, kind string, now time.Time) error {
	to := d.cfg.EscalationAddress
	if to == "" {
		to = d.cfg.StaffQueue
	}
	due := sla.FormatDeadline(t.ResponseDue.In(d.engine.location()))
	short := t.ResponseDue.In(d.engine.location()).Format("2006-01-02 15:04 MST (-07:00)")
	subject := fmt.Sprintf("[%s] SLA warning: response due %s", t.ID, short)
	body := fmt.Sprintf("Ticket %s (%s, P%d, %s) needs a response by %s.\n", t.ID, t.Status, t.Priority, t.Company, due)
	if kind == "breach" {
		subject = fmt.Sprintf("[%s] SLA breached: response was due %s", t.ID, short)
		body = fmt.Sprintf("Ticket %s (%s, P%d, %s) was not answered by %s: the SLA is breached.\n", t.ID, t.Status, t.Priority, t.Company, due)
	}
	body += fmt.Sprintf("Subject: %s\nRequester: %s\n\nAnswer by replying to the ticket's staff copy; `supportd tickets show %s` lists its messages.\n", t.Subject, t.From, t.ID)
	a, _ := d.account(t.Account) // through the account the ticket's customer wrote to
	id := fmt.Sprintf("<%s.%d.sla-%s@%s>", strings.ToLower(t.ID), t.ResponseDue.Unix(), kind, domainOrInvalid(a.FromAddr))
	t.Messages = append(t.Messages, store.TicketMessage{MessageID: id, Received: now, Action: "sla_" + kind,
		Direction: store.DirectionOut, Kind: store.MsgWarning, From: a.FromAddr})
	if to == "" {
		d.log.Warn("SLA "+kind+" not sent: neither support.escalation_address nor support.staff_queue is set", "ticket", t.ID)
		return nil
	}
	data, err := mailer.ComposeReply(mailer.Reply{From: a.from(), To: []string{to}, Subject: subject, MessageID: id, Date: now, Body: body,
		Extra: map[string]string{"X-Support-Ticket": t.ID, "X-Support-SLA": kind}})
	if err != nil {
		return fmt.Errorf("compose SLA %s for %s: %w", kind, t.ID, err)
	}
	_, err = tx.Enqueue(&store.OutboxEntry{MessageID: id, Kind: store.KindStaff, Ticket: t.ID, Account: a.Name, From: a.FromAddr,
		To: []string{to}, Data: data, Created: now, NextAttempt: now})
	return err
}

// markOverdue adds the Overdue keyword to the ledger entries of the
// ticket's incoming messages and leaves them to be marked again, so the
// poller stores it on the IMAP messages.
func (d *Daemon) markOverdue(tx *store.Tx, t *store.Ticket) error {
	for _, m := range t.Messages {
		if m.Direction != store.DirectionIn || m.MessageID == "" {
			continue
		}
		e, err := tx.SeenMessage(store.MessageKey(m.MessageID, ""))
		if err != nil || e == nil || slices.Contains(e.Keywords, OverdueKeyword) {
			continue
		}
		e.Keywords = append(e.Keywords, OverdueKeyword)
		e.Marked = false
		if err := tx.PutLedger(e); err != nil {
			return err
		}
	}
	return nil
}
