package store

import (
	"os"
	"testing"
	"time"
)

// An acceptance logged but not committed (the process died between the two)
// is marked sent by the next run's Replay; one already committed, one never
// queued and a write cut short are left alone; the log is empty afterwards.
func TestAcceptLogReplay(t *testing.T) {
	db := openTest(t)
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	ids := map[string]uint64{}
	if err := db.Update(func(tx *Tx) error {
		for _, m := range []string{"<a@vendor.test>", "<b@vendor.test>", "<c@vendor.test>"} {
			id, err := tx.Enqueue(&OutboxEntry{MessageID: m, Kind: KindReply, To: []string{"x@y.test"}, Data: []byte("x"), Created: now, NextAttempt: now})
			if err != nil {
				return err
			}
			ids[m] = id
		}
		return tx.MarkSent(ids["<b@vendor.test>"], now)
	}); err != nil {
		t.Fatal(err)
	}
	l, err := db.OpenAcceptLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"<a@vendor.test>", "<b@vendor.test>", "<never@vendor.test>"} {
		if err := l.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Add("<x@vendor.test>\nforged"); err == nil {
		t.Error("a Message-ID with a line break was logged")
	}
	l.Close()
	f, err := os.OpenFile(db.Path()+".sent", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("<c@vendor.t") // killed in the middle of the write
	f.Close()
	if fi, err := os.Stat(db.Path() + ".sent"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("acceptance log: %v %v, want mode 0600", fi, err)
	}

	l, err = db.OpenAcceptLog() // the next run
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n, err := l.Replay(db, now.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1 (a@ only)", n, err)
	}
	db.View(func(tx *Tx) error {
		for m, want := range map[string]string{"<a@vendor.test>": OutboxSent, "<b@vendor.test>": OutboxSent, "<c@vendor.test>": OutboxPending} {
			e, err := tx.OutboxEntry(ids[m])
			if err != nil || e.State != want {
				t.Errorf("%s: %v %v, want %s", m, e, err, want)
			}
		}
		return nil
	})
	if fi, err := os.Stat(db.Path() + ".sent"); err != nil || fi.Size() != 0 {
		t.Errorf("acceptance log after Replay: %v %v, want empty", fi, err)
	}
	if err := l.Add("<c@vendor.test>"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Replay(db, now); n != 0 || err != nil {
		t.Errorf("Replay after Reset = %d, %v; want nothing", n, err)
	}
}
