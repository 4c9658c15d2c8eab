package main

import (
	"log/slog"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// serviceManager returns how `run` talks to systemd (packaging/supportd.service,
// Type=notify with WatchdogSec): the notify function (a no-op without
// $NOTIFY_SOCKET), how often to ping the watchdog (half of WatchdogSec; 0 when
// systemd set none), and how long a loop may show no progress before the pings
// stop: WatchdogSec, but never less than one SMTP transaction's timeout plus a
// minute, so a slow but working server does not get the daemon restarted.
func serviceManager(log *slog.Logger, smtpTimeout time.Duration) (notify func(string), interval, stallAfter time.Duration) {
	notify = func(state string) {
		if _, err := sddaemon.SdNotify(false, state); err != nil {
			log.Warn("notifying the service manager failed", "state", state, "err", err)
		}
	}
	wd, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog settings unreadable; watchdog off", "err", err)
		return notify, 0, 0
	}
	if wd <= 0 {
		return notify, 0, 0
	}
	return notify, wd / 2, max(wd, smtpTimeout+time.Minute)
}
