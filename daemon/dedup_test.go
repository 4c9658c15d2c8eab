package daemon

import (
	"path/filepath"
	"testing"
	"time"

	"supportd/mailparse"
	"supportd/store"
)

// Issue 13 item 5: a Message-ID is a duplicate only on the same content; an
// entry written before fingerprints existed still counts as the same message.
func TestSeenBeforeNeedsTheSameContent(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &mailparse.Message{MessageID: "<x@acme.test>", From: &mailparse.Address{Addr: "it@acme.test"}, Subject: "Server down", Text: "down"}
	fp := fingerprint(m)
	other := *m
	other.From = &mailparse.Address{Addr: "mallory@evil.test"}
	if fingerprint(&other) == fp {
		t.Fatal("a different sender gives the same fingerprint")
	}
	other = *m
	other.Text = "call me"
	otherFP := fingerprint(&other)
	if otherFP == fp {
		t.Fatal("a different text gives the same fingerprint")
	}
	put := func(uid uint32, hash, fp string) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error {
			return tx.PutLedger(&store.LedgerEntry{Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: m.MessageID,
				ContentHash: hash, Fingerprint: fp, Processed: time.Now(), Action: "acknowledge"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(hash, fp string, wantDup, wantReused bool) {
		t.Helper()
		db.View(func(tx *store.Tx) error {
			e, reused := seenBefore(tx, m.MessageID, hash, fp)
			if (e != nil) != wantDup || reused != wantReused {
				t.Errorf("seenBefore(hash %s, fp %.8s) = %v, reused %v; want duplicate %v reused %v", hash, fp, e != nil, reused, wantDup, wantReused)
			}
			return nil
		})
	}
	put(1, "h1", fp)
	check("h1", fp, true, false)      // the same bytes
	check("h2", fp, true, false)      // a second delivery: other trace headers, same content
	check("h3", otherFP, false, true) // the same Message-ID on other content: a replay
	check("h4", "", true, false)      // no fingerprint to compare: as before
	put(2, "h5", otherFP)             // the replay, recorded
	check("h6", otherFP, true, false) // the replay delivered again is its duplicate
	db2, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	db = db2
	put(1, "h1", "") // written before fingerprints existed
	check("h7", otherFP, true, false)
}
