package daemon

import (
	"context"
	"time"

	"supportd/poller"
)

// healthInterval is how often gauges that no event updates are refreshed.
const healthInterval = 5 * time.Second

// watchHealth refreshes the outbox and OAuth2 gauges and warns, once per state
// change, when the IMAP token is about to expire and cannot be refreshed, so an
// operator hears of it before mail stops (Zammad #3411, osTicket #6455).
func (d *Daemon) watchHealth(ctx context.Context) {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	warned := false
	var pruned time.Time
	counted := time.Now() // Run counted the tickets at start
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.refreshOutboxMetrics()
		if time.Since(counted) >= d.cfg.TicketMetricsInterval {
			counted = time.Now()
			d.refreshTicketMetrics()
		}
		if now := d.cfg.Now(); d.cfg.RawRetention > 0 && now.Sub(pruned) > time.Hour {
			pruned = now
			if n, err := d.db.PruneRaw(now.Add(-d.cfg.RawRetention)); err != nil {
				d.log.Warn("pruning raw audit copies failed", "err", err)
			} else if n > 0 {
				d.log.Info("raw audit copies pruned", "count", n, "older_than", d.cfg.RawRetention.String())
			}
		}
		// The token closest to expiry among the inboxes that use OAuth2.
		var st poller.Stats
		for _, in := range d.inboxes {
			s := in.poll.Stats()
			if !s.TokenExpiry.IsZero() && (st.TokenExpiry.IsZero() || s.TokenExpiry.Before(st.TokenExpiry) || s.TokenWarning && !st.TokenWarning) {
				st = s
			}
		}
		if st.TokenExpiry.IsZero() {
			continue
		}
		d.metrics.TokenExpiry.Set(st.TokenExpiry.Sub(d.cfg.Now()).Seconds())
		if st.TokenWarning && !warned {
			d.log.Warn("IMAP OAuth2 access token expires soon and could not be refreshed: check imap.oauth2 (refresh token revoked or expired?)",
				"expires", st.TokenExpiry.Format(time.RFC3339))
		}
		warned = st.TokenWarning
	}
}
