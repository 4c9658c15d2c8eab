package daemon_test

import (
	"testing"
	"time"

	"supportd/daemon"
	"supportd/store"
)

// supportd_tickets is counted when the daemon starts (tickets already in the
// store) and recounted on its period (a ticket opened by mail while it runs).
func TestTicketsGaugeAtStartAndPeriodically(t *testing.T) {
	e := newEnv(t)
	db, err := store.Open(e.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *store.Tx) error {
		for _, tk := range []store.Ticket{
			{ID: "CS-M90001", State: store.StateAnswered, Priority: 2, Created: time.Now()},
			{ID: "CS-M90002", State: store.StateClosed, Priority: 4, Created: time.Now()},
			{ID: "CS-M90003", State: store.StateClosed, Priority: 4, Created: time.Now()},
		} {
			if err := tx.PutTicket(&tk); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := e.start(runOpts{idle: true, staffQueue: queue, cfg: func(c *daemon.Config) {
		c.Now = time.Now
		c.TicketMetricsInterval = time.Second
	}})
	defer r.stop(t)
	gauge := func(state, p string) float64 { return daemon.GaugeValue(r.metrics.Tickets.WithLabelValues(state, p)) }
	openSum := func() (n float64) {
		for _, p := range []string{"1", "2", "3", "4"} {
			n += gauge("open", p)
		}
		return n
	}
	// Counted at start: no waiting for the first period.
	waitFor(t, 3*time.Second, "the tickets gauge at start", func() bool { return gauge("closed", "4") == 2 })
	if gauge("answered", "2") != 1 || openSum() != 0 {
		t.Fatalf("at start: answered P2 %v, open %v; want 1, 0", gauge("answered", "2"), openSum())
	}
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Gauge", "g1@acme.test", "Login broken. Build Number: 9653\n")
	waitFor(t, 20*time.Second, "the tickets gauge to count "+ticket, func() bool { return openSum() == 1 })
	if gauge("closed", "4") != 2 || gauge("answered", "2") != 1 {
		t.Errorf("after the recount: closed P4 %v, answered P2 %v; want 2, 1", gauge("closed", "4"), gauge("answered", "2"))
	}
}
