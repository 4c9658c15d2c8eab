package daemon_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/store"
	"supportd/triage"
)

// Ticket binding at the decision (§10): the ticket's own customer follows it
// up, another customer opens a ticket naming it, and a ticket closed longer
// than tickets.reopen_days is not reopened but named by a new one.
func TestTicketBindingDecisions(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		t.Fatal(err)
	}
	put := func(tk *store.Ticket) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error { return tx.PutTicket(tk) }); err != nil {
			t.Fatal(err)
		}
	}
	put(&store.Ticket{ID: "CS-M00001", State: store.StateAnswered, CustomerID: "C100", Status: entitlement.Active, Priority: 1, From: "alice@acme.test", Created: received.Add(-time.Hour)})
	put(&store.Ticket{ID: "CS-M00002", State: store.StateClosed, CustomerID: "C100", Status: entitlement.Active, Priority: 1, From: "alice@acme.test",
		Created: received.AddDate(0, 0, -30), ClosedAt: received.AddDate(0, 0, -20)})
	put(&store.Ticket{ID: "CS-M00003", State: store.StateClosed, CustomerID: "C100", Status: entitlement.Active, Priority: 1, From: "alice@acme.test",
		Created: received.AddDate(0, 0, -12), ClosedAt: received.AddDate(0, 0, -10)})
	put(&store.Ticket{ID: "CS-M00004", State: store.StateOpen, From: "sam@newcorp.test", Status: entitlement.Unknown, Priority: 4, Created: received.Add(-time.Hour),
		Addresses: []string{"sam@newcorp.test"}})
	eng := newEngine(t)
	decide := func(from, subject string) triage.Decision {
		t.Helper()
		m, err := mailparse.Default().Parse(strings.NewReader(msg(from, subject, "x@test", "Build Number: 9653\n")))
		if err != nil {
			t.Fatal(err)
		}
		var a *daemon.Assessment
		if err := db.View(func(tx *store.Tx) error {
			a, err = eng.Assess(tx, m, received, "k", func(string) (string, error) { return "CS-M00099", nil }, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return a.Decision
	}
	for _, c := range []struct {
		name, from, subject      string
		wantTicket, wantReferred string
		wantAction               triage.Action
	}{
		{"contact follows up", "Alice <alice@acme.test>", "Re: [CS-M00001] more", "CS-M00001", "", triage.FollowUp},
		{"colleague by domain", "Bob <bob@acme.test>", "Re: [CS-M00001] more", "CS-M00001", "", triage.FollowUp},
		{"another customer", "Hank <hank@globex.test>", "similar to CS-M00001", "CS-M00099", "CS-M00001", triage.Acknowledge},
		{"lapsed customer", "Gavin <gavin@hooli.test>", "[CS-M00001] down", "CS-M00099", "CS-M00001", triage.LapsedNotice},
		{"closed 20 days ago", "Alice <alice@acme.test>", "Re: [CS-M00002] again", "CS-M00099", "CS-M00002", triage.Acknowledge},
		{"closed 10 days ago reopens", "Alice <alice@acme.test>", "Re: [CS-M00003] again", "CS-M00003", "", triage.FollowUp},
		{"unknown sender's own ticket", "Sam <sam@newcorp.test>", "Re: [CS-M00004] hello", "CS-M00004", "", triage.FollowUp},
		{"stranger on an unknown sender's ticket", "Eve <eve@newcorp2.test>", "Re: [CS-M00004] hello", "CS-M00099", "CS-M00004", triage.Acknowledge},
	} {
		d := decide(c.from, c.subject)
		if d.TicketID != c.wantTicket || d.ReferencedTicket != c.wantReferred || d.Action != c.wantAction {
			t.Errorf("%s: ticket %q referenced %q action %s, want %q %q %s", c.name, d.TicketID, d.ReferencedTicket, d.Action, c.wantTicket, c.wantReferred, c.wantAction)
		}
	}
}
