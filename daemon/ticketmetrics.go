package daemon

import (
	"strconv"

	"supportd/store"
)

// refreshTicketMetrics sets supportd_tickets{state,priority} from the store.
// A count reads every ticket, so Run calls it at start and then every
// Config.TicketMetricsInterval (a minute) from the health loop, never on the
// SLA loop's path.
// Every state with priorities 1–4 is exported, 0 when empty, and a class
// that empties reads 0 rather than its last count. Not concurrent: Run
// calls it before the health loop starts, then only that loop does.
func (d *Daemon) refreshTicketMetrics() {
	var counts map[store.TicketClass]int
	err := d.db.View(func(tx *store.Tx) error {
		var err error
		counts, err = tx.CountTickets()
		return err
	})
	if err != nil {
		d.log.Warn("counting tickets for supportd_tickets failed", "err", err)
		return
	}
	// Set every series in place (no Reset: a scrape in between would see
	// them missing); a class seen before and empty now reads 0.
	for _, st := range []string{store.StateOpen, store.StateAnswered, store.StateClosed} {
		for p := 1; p <= 4; p++ {
			counts[store.TicketClass{State: st, Priority: p}] += 0
		}
	}
	for c := range d.ticketClasses {
		counts[c] += 0
	}
	for c, n := range counts {
		d.metrics.Tickets.WithLabelValues(c.State, strconv.Itoa(c.Priority)).Set(float64(n))
	}
	d.ticketClasses = counts
}
