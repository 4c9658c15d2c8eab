package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/mailparse"
	"supportd/store"
	"supportd/templates"
	"supportd/triage"
)

// The engine reads the reply counters by the normalised reply target and by
// ticket (issue 13 item 3, issue 10 item 5), as the daemon records them.
func TestEngineReadsReplyCounters(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t)
	assess := func(raw string) *daemon.Assessment {
		t.Helper()
		m, err := mailparse.Default().Parse(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var a *daemon.Assessment
		if err := db.View(func(tx *store.Tx) error {
			a, err = eng.Assess(tx, m, received, "k", tx.PeekNextTicketID, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	record := func(keys ...string) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error {
			for _, k := range keys {
				if err := tx.AddReply(k, received.Add(-time.Hour)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// One earlier acknowledgement on the web page's ticket CS-004211 to Alice.
	record("ticket:cs-004211:alice@acme.test")
	a := assess(msg("Alice <Alice+web@acme.test>", "[CS-004211] Login fails", "t1@acme.test", "Build Number: 9653\n"))
	if a.Decision.SuppressReason != triage.ReasonTicketRateLimit || a.Input.Replies.Ticket != 1 {
		t.Fatalf("second automatic reply on one ticket within 24 h: %s %s %+v", a.Decision.Action, a.Decision.SuppressReason, a.Input.Replies)
	}
	// Three replies to alice@acme.test (the harness limit is 3): the same
	// mailbox spelled with a tag and capitals gets none.
	record("alice@acme.test", "alice@acme.test", "alice@acme.test")
	a = assess(msg("Alice <ALICE+x@Acme.test>", "A new question", "t2@acme.test", "Build Number: 9653\n"))
	if a.Decision.SuppressReason != triage.ReasonRateLimit || a.Input.Replies.Sender != 3 || !strings.Contains(a.Decision.NoReplyReason, "limits.auto_replies_per_sender_per_day") {
		t.Fatalf("over the per-sender limit: %s %s %+v %q", a.Decision.Action, a.Decision.SuppressReason, a.Input.Replies, a.Decision.NoReplyReason)
	}
	// Another sender of the same company is not limited by Alice's count.
	if a = assess(msg("Bob <bob@acme.test>", "A new question", "t3@acme.test", "Build Number: 9653\n")); a.Decision.Action != triage.Acknowledge {
		t.Fatalf("another sender: %s %s", a.Decision.Action, a.Decision.SuppressReason)
	}
}

// A template override that echoes the subject never carries an unknown
// sender's link to the reply's recipient (issue 13 item 3).
func TestUnknownSenderLinkNotRendered(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, templates.AckUnknown+".tmpl"), []byte("You wrote about: {{.OriginalSubject}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := templates.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eng := newEngine(t)
	eng.Renderer = r
	m, err := mailparse.Default().Parse(strings.NewReader(msg("Someone <someone@victim.test>", "Cheap watches at http://spam.example/buy", "l1@victim.test", "Hello\n")))
	if err != nil {
		t.Fatal(err)
	}
	var body string
	if err := db.View(func(tx *store.Tx) error {
		a, err := eng.Assess(tx, m, received, "k", tx.PeekNextTicketID, nil)
		if err != nil {
			return err
		}
		body, err = eng.RenderReply(a)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "spam.example") || !strings.Contains(body, "Cheap watches at [link removed]") {
		t.Fatalf("rendered reply: %q", body)
	}
}
