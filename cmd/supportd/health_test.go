package main

import (
	"errors"

	"supportd/daemon"
	"supportd/mailer"
	"supportd/poller"
)

// healthOf is /healthz of one mailbox read by p and one SMTP submission sm
// (nil: none), as Daemon.Health says it for the one implicit account.
func healthOf(p *poller.Poller, sm *mailer.Mailer) func() error {
	return func() error { return errors.Join(daemon.PollerHealth("imap", p), daemon.MailerHealth("smtp", sm)) }
}
