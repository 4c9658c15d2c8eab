package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"supportd/mailer"
	"supportd/store"
)

// outboxIdle is how often the outbox is looked at when nothing wakes it (retries
// falling due).
const outboxIdle = 5 * time.Second

func (d *Daemon) wakeOutbox() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// outboxLoop sends what is due whenever a commit wakes it or a retry falls due,
// until intake stops (ctx) — the final flush is Run's — or hard stops (hard).
func (d *Daemon) outboxLoop(ctx, hard context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hard.Done():
			return
		case <-d.kick:
		case <-t.C:
		}
		d.beatOutbox()
		// hard, not ctx: a round started before shutdown completes (see Run).
		for d.sendDue(hard) > 0 && ctx.Err() == nil {
		}
		t.Reset(outboxIdle)
	}
}

// drainOutbox is the shutdown flush: send what is due until nothing is or ctx ends.
func (d *Daemon) drainOutbox(ctx context.Context) {
	for ctx.Err() == nil && d.sendDue(ctx) > 0 {
	}
}

// sendDue sends one round of due outbox entries and records each outcome. It
// returns how many entries were accepted (0 when nothing was due or all failed).
func (d *Daemon) sendDue(ctx context.Context) int {
	now := d.cfg.Now()
	var due []store.OutboxEntry
	if err := d.db.View(func(tx *store.Tx) error {
		var err error
		due, err = tx.DueBytes(now, d.cfg.OutboxBatch, d.cfg.OutboxBatchBytes)
		return err
	}); err != nil {
		d.log.Error("outbox read failed", "err", err)
		return 0
	}
	if len(due) == 0 {
		d.refreshOutboxMetrics()
		return 0
	}
	// Each entry goes out through the account its message came in on (its
	// SMTP server, login and sender); the accounts' rounds run side by side,
	// so an account whose server is down or refuses the login delays no other.
	groups := map[*Account][]store.OutboxEntry{}
	var order []*Account
	for _, e := range due {
		a, ok := d.account(e.Account)
		if !ok {
			d.log.Warn("outbox entry of an account no longer configured: sent through the first account", "account", e.Account,
				"ticket", e.Ticket, "message_id", e.MessageID, "via", a.display())
		}
		if _, seen := groups[a]; !seen {
			order = append(order, a)
		}
		groups[a] = append(groups[a], e)
	}
	var sent atomic.Int64
	if len(order) == 1 {
		sent.Store(int64(d.sendRound(ctx, order[0], due)))
	} else {
		var wg sync.WaitGroup
		for _, a := range order {
			wg.Go(func() { sent.Add(int64(d.sendRound(ctx, a, groups[a]))) })
		}
		wg.Wait()
	}
	// Every account's round is committed: the acceptance log is emptied once
	// for all of them (emptying it after one round would drop what another
	// round logged and has not committed yet).
	d.resetAcceptLog()
	d.refreshOutboxMetrics()
	return int(sent.Load())
}

// sendRound sends the due entries of one account through its mailer and
// records each outcome; it returns how many were accepted.
func (d *Daemon) sendRound(ctx context.Context, a *Account, due []store.OutboxEntry) int {
	envs := make([]mailer.Envelope, len(due))
	for i, e := range due {
		envs[i] = mailer.Envelope{From: e.From, To: e.To, Data: e.Data, MessageID: e.MessageID}
	}
	// Each acceptance (the 250 to the final ".") is written to the acceptance
	// log by the sending goroutine, before that SMTP connection sends its next
	// message, so a crash of the process resends at most one reply per
	// connection (the RFC 1047 window). The store records the round's outcomes
	// in one transaction when it ends (sendDue empties the log once every
	// account's round is recorded). Failures are judged together, so a fault
	// of the whole round (a server policy refusing our sender) is seen as such.
	committed := make([]bool, len(due)) // acceptances the log could not take, committed at once
	errs := a.Mailer.SendBatchNotify(ctx, envs, func(i int, err error) {
		if err == nil {
			committed[i] = d.logAcceptance(ctx, due, i)
		}
	})
	var accepted, failed []sendResult
	for i, err := range errs {
		switch {
		case err != nil:
			failed = append(failed, sendResult{i, err})
		case !committed[i]:
			accepted = append(accepted, sendResult{i: i})
		}
	}
	sent := d.recordOutcomes(ctx, due, accepted, nil)
	for _, c := range committed {
		if c {
			sent++
		}
	}
	if sent > 0 {
		d.clearSMTPFault(a)
	}
	d.recordFailures(ctx, a, due, failed)
	return sent
}

// openAcceptLog opens the acceptance log and marks sent what an earlier run
// logged but did not commit.
func (d *Daemon) openAcceptLog() {
	l, err := d.db.OpenAcceptLog()
	if err == nil {
		var n int
		if n, err = l.Replay(d.db, d.cfg.Now()); n > 0 {
			d.log.Info("outbox: acceptances logged by an earlier run recorded as sent", "count", n)
		}
		if err != nil {
			l.Close()
		}
	}
	if err != nil {
		d.log.Warn("outbox: no acceptance log; each SMTP acceptance is committed at once", "err", err)
		return
	}
	d.accepted = l
}

// logAcceptance writes the accepted entry due[i]'s Message-ID to the
// acceptance log. When it cannot (no log, a write error) it commits the
// acceptance to the store at once instead and returns true.
func (d *Daemon) logAcceptance(ctx context.Context, due []store.OutboxEntry, i int) (committed bool) {
	if d.accepted != nil {
		err := d.accepted.Add(due[i].MessageID)
		if err == nil {
			return false
		}
		d.log.Warn("outbox: acceptance log write failed; committing at once", "message_id", due[i].MessageID, "err", err)
	}
	return d.recordOutcomes(ctx, due, []sendResult{{i: i}}, nil) > 0
}

// resetAcceptLog empties the acceptance log once a round is committed (not
// while a backup runs: the next round's reset does then, see store.AcceptLog).
func (d *Daemon) resetAcceptLog() {
	if d.accepted == nil {
		return
	}
	if err := d.accepted.Reset(); err != nil {
		d.log.Warn("outbox: emptying the acceptance log failed", "err", err)
	}
}

func (d *Daemon) closeAcceptLog() {
	if d.accepted != nil {
		d.accepted.Close()
		d.accepted = nil
	}
}

type sendResult struct {
	i   int
	err error
}

// recordOutcomes commits the outcome of some envelopes of a round in one
// transaction, then logs and counts them. It returns how many were accepted.
// With fault set (the server refuses our sender: smtpfault.go) the failed
// entries stay queued, whatever their error and age.
func (d *Daemon) recordOutcomes(ctx context.Context, due []store.OutboxEntry, rs []sendResult, fault error) int {
	if len(rs) == 0 {
		return 0
	}
	defer d.beatOutbox()
	done := d.cfg.Now()
	err := d.db.Update(func(tx *store.Tx) error {
		for _, r := range rs {
			e, err := due[r.i], r.err
			switch {
			case err == nil:
				if err := tx.MarkSent(e.ID, done); err != nil {
					return err
				}
			case fault != nil:
				if err := tx.MarkRetry(e.ID, done.Add(d.cfg.RetryBackoff(e.Attempts+1)), err.Error()); err != nil {
					return err
				}
			case mailer.IsPermanent(err) || done.Sub(e.Created) > mailer.DefaultMaxAge:
				if err := tx.MarkFailed(e.ID, err.Error()); err != nil {
					return err
				}
				if err := d.notifyFailure(tx, e, err, done); err != nil {
					return err
				}
			default:
				next := done.Add(d.cfg.RetryBackoff(e.Attempts + 1))
				if ctx.Err() != nil {
					next = done // cut by shutdown, not refused: due again at the next start
				}
				if err := tx.MarkRetry(e.ID, next, err.Error()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		// Accepted messages we could not record stay pending and are sent again
		// with the same Message-ID (a detectable duplicate).
		d.log.Error("outbox commit failed after sending", "entries", len(rs), "err", err)
		d.metrics.StoreErrors.Inc()
		return 0
	}
	sent := 0
	for _, r := range rs {
		e, err := due[r.i], r.err
		switch {
		case err == nil:
			sent++
			d.metrics.RepliesSent.WithLabelValues(e.Kind).Inc()
			d.metrics.SendLatency.Observe(done.Sub(e.Created).Seconds())
			d.log.Info("sent", "account", AccountLabel(e.Account), "ticket", e.Ticket, "kind", e.Kind, "message_id", e.MessageID, "rcpts", len(e.To), "attempt", e.Attempts+1)
		case fault != nil:
			d.metrics.RepliesFail.WithLabelValues(e.Kind, "temporary").Inc()
			d.log.Warn("delivery refused by the server's policy: kept queued until the configuration is fixed", "ticket", e.Ticket, "kind", e.Kind,
				"message_id", e.MessageID, "attempt", e.Attempts+1, "err", err)
		case mailer.IsPermanent(err):
			d.metrics.RepliesFail.WithLabelValues(e.Kind, "permanent").Inc()
			d.log.Error("delivery failed permanently: not retried, staff notified", "ticket", e.Ticket, "kind", e.Kind, "message_id", e.MessageID, "err", err)
		default:
			d.metrics.RepliesFail.WithLabelValues(e.Kind, "temporary").Inc()
			d.log.Warn("delivery failed, will retry", "ticket", e.Ticket, "kind", e.Kind, "message_id", e.MessageID, "attempt", e.Attempts+1,
				"retry_in", d.cfg.RetryBackoff(e.Attempts+1).String(), "err", err)
		}
	}
	return sent
}

// notifyFailure tells staff that an automatic reply could not be delivered, so a
// person answers the customer. A failed staff notice is not notified again.
func (d *Daemon) notifyFailure(tx *store.Tx, e store.OutboxEntry, cause error, now time.Time) error {
	if d.cfg.StaffQueue == "" || e.Kind != store.KindReply {
		return nil
	}
	id := fmt.Sprintf("<failed.%d.%s>", e.ID, trimAngle(e.MessageID))
	body := fmt.Sprintf("The automatic reply %s for ticket %s to %v could not be delivered and will not be retried.\nServer said: %v\nPlease contact the customer another way.\n",
		e.MessageID, e.Ticket, e.To, cause)
	a, _ := d.account(e.Account)
	data, err := mailer.ComposeReply(mailer.Reply{From: a.from(), To: []string{d.cfg.StaffQueue},
		Subject: fmt.Sprintf("[%s] automatic reply undeliverable", e.Ticket), MessageID: id, Date: now, Body: body})
	if err != nil {
		return fmt.Errorf("compose failure notice: %w", err)
	}
	_, err = tx.Enqueue(&store.OutboxEntry{MessageID: id, Kind: store.KindStaff, Ticket: e.Ticket, Account: a.Name, From: a.FromAddr,
		To: []string{d.cfg.StaffQueue}, Data: data, Created: now, NextAttempt: now})
	return err
}

func trimAngle(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

func (d *Daemon) refreshOutboxMetrics() {
	_ = d.db.View(func(tx *store.Tx) error {
		n, oldest, err := tx.OutboxStats()
		if err != nil {
			return err
		}
		d.metrics.OutboxDepth.Set(float64(n))
		if n > 0 && !oldest.IsZero() {
			d.metrics.OutboxOldest.Set(d.cfg.Now().Sub(oldest).Seconds())
		} else {
			d.metrics.OutboxOldest.Set(0)
		}
		return nil
	})
}
