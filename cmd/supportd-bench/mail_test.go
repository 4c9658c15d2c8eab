package main

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"supportd/internal/config"
	"supportd/mailparse"
	"supportd/store"
	"supportd/triage"
)

// Every generated drain message comes from a customer of the generated store
// and is answered (an acknowledgement, a lapsed notice for every 7th), as the
// bench's daemon decides it: none is an unknown sender's, whose replies the
// hourly caps (limits.unknown_replies_per_*) would suppress after the first 50.
func TestDrainMessagesAnswered(t *testing.T) {
	const n = 70
	path := filepath.Join(t.TempDir(), "bench.db")
	if err := newStore(path, n); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng, err := config.Default().Engine() // the bench's configuration differs only in endpoints and store
	if err != nil {
		t.Fatal(err)
	}
	received := time.Now().Add(-time.Minute) // as the drain's maildir files
	err = db.View(func(tx *store.Tx) error {
		for i := 1; i <= n; i++ {
			raw, _ := supportMessage("t", i)
			msg, err := mailparse.Default().Parse(bytes.NewReader(raw))
			if err != nil {
				return err
			}
			a, err := eng.Assess(tx, msg, received, "", tx.PeekNextTicketID, nil)
			if err != nil {
				return err
			}
			want := triage.Acknowledge
			if i%7 == 0 {
				want = triage.LapsedNotice
			}
			if a.Input.Entitlement.Customer == nil || a.Decision.Action != want || a.Decision.Reply == nil {
				t.Errorf("message %d from %s: customer %v, action %s, want a customer's %s with a reply",
					i, msg.From.Addr, a.Input.Entitlement.Customer, a.Decision.Action, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
