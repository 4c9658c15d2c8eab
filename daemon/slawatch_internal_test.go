package daemon

import (
	"fmt"
	"testing"
	"time"

	"supportd/store"
)

// The SLA loop is woken after every intake batch; with nothing due its round
// is one read transaction: the store's page writes do not move (a write
// transaction, even an empty one, commits a meta page and an fsync). When an
// event is due, the round writes it.
func TestSLAIdleRoundWritesNothing(t *testing.T) {
	d := slaBenchDaemon(t, 100, slaBenchNow) // 100 open tickets, each due in days
	before := d.db.PageWrites()
	for range 20 {
		next, err := d.slaRound()
		if err != nil || !next.After(slaBenchNow) {
			t.Fatalf("idle round: next %v, err %v", next, err)
		}
	}
	if w := d.db.PageWrites() - before; w != 0 {
		t.Errorf("20 idle SLA rounds made %d page writes, want none", w)
	}

	const id = "CS-M0000042"
	if err := d.db.Update(func(tx *store.Tx) error {
		tk, err := tx.Ticket(id)
		if err != nil || tk == nil {
			return fmt.Errorf("ticket %s: %v", id, err)
		}
		d.engine.setDue(tk, slaBenchNow.Add(-time.Second))
		return tx.PutTicket(tk)
	}); err != nil {
		t.Fatal(err)
	}
	before = d.db.PageWrites()
	if _, err := d.slaRound(); err != nil {
		t.Fatal(err)
	}
	if d.db.PageWrites() == before {
		t.Error("the round with a breach due wrote nothing")
	}
	if err := d.db.View(func(tx *store.Tx) error {
		tk, err := tx.Ticket(id)
		if err == nil && (tk == nil || !tk.Breached || tk.Breaches != 1) {
			err = fmt.Errorf("ticket %s not breached once: %+v", id, tk)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
