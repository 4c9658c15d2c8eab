package daemon

import (
	"context"
	"errors"
	"fmt"

	"supportd/mailer"
	"supportd/store"
)

// SMTPFault is the servers' refusal of our sender while it lasts (a
// configuration fault: smtp.from, smtp.username, smtp.helo_name), nil otherwise; it is kept
// on each account's mailer (Mailer.ConfigFault), where /healthz reads it.
func (d *Daemon) SMTPFault() error {
	var errs []error
	for _, a := range d.accountList {
		if a.Mailer != nil {
			errs = append(errs, a.Mailer.ConfigFault())
		}
	}
	return errors.Join(errs...)
}

func (d *Daemon) clearSMTPFault(a *Account) {
	if a.Mailer.ConfigFault() != nil {
		a.Mailer.SetConfigFault(nil)
		if d.SMTPFault() == nil {
			d.metrics.SMTPConfigFault.Set(0)
		}
		d.log.Info("the SMTP server accepts our mail again: configuration fault over", "account", a.display())
	}
}

// configFault tells whether the failures of a round are the server refusing
// us rather than the messages: a policy refusal of our sender (a 5xx to MAIL
// FROM, a 5.7.x) or of our EHLO name (mailer.RefusedHELO), or the same
// permanent reply to every message of a round of several. Per-recipient
// refusals (550 5.1.1 unknown user) are not.
func configFault(due []store.OutboxEntry, failed []sendResult) error {
	for _, f := range failed {
		if mailer.IsPolicy(f.err) {
			return f.err
		}
	}
	if len(due) < 2 || len(failed) != len(due) {
		return nil
	}
	for _, f := range failed[1:] {
		if !mailer.SameRefusal(failed[0].err, f.err) {
			return nil
		}
	}
	return failed[0].err
}

// recordFailures records the failed envelopes of a round; a configuration
// fault keeps them queued, is logged at error level naming the keys to check,
// counted, and shown by /healthz until a message is accepted again.
func (d *Daemon) recordFailures(ctx context.Context, a *Account, due []store.OutboxEntry, failed []sendResult) {
	if len(failed) == 0 {
		return
	}
	fault := configFault(due, failed)
	if fault != nil {
		var msg error
		var keys []any
		if helo := mailer.RefusedHELO(fault); helo != "" {
			// Our EHLO name is refused, not the sender or the login.
			msg = fmt.Errorf("the SMTP server refuses our EHLO name %s (%w): set %ssmtp.helo_name to this host's fully qualified DNS name; %d message(s) kept queued",
				helo, fault, a.ConfigKey, len(failed))
			keys = []any{"smtp.helo_name", helo}
		} else {
			from, user := a.FromAddr, a.Mailer.Username()
			msg = fmt.Errorf("the SMTP server refuses our mail (%w): check %ssmtp.from (%s) and %ssmtp.username (%s) — the submission server must let that login send as that address; %d message(s) kept queued",
				fault, a.ConfigKey, from, a.ConfigKey, user, len(failed))
			keys = []any{"smtp.from", from, "smtp.username", user}
		}
		a.Mailer.SetConfigFault(msg)
		d.metrics.SMTPConfigFaults.Inc()
		d.metrics.SMTPConfigFault.Set(1)
		d.log.Error("smtp configuration fault: outgoing mail kept queued", append(keys, "queued", len(failed), "err", fault, "account", a.display())...)
	}
	d.recordOutcomes(ctx, due, failed, fault)
}
