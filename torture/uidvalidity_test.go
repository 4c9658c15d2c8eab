package torture

import (
	"bytes"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"supportd/store"
)

// The mailbox is rebuilt with a new UIDVALIDITY (same messages, new UIDs, as a
// server restoring its index would do): the daemon refetches everything, sends
// no new reply, opens no new ticket, and records every message as a duplicate
// of its first sighting (the Message-ID ledger), with the first one's ticket.
func TestUIDValidityChange(t *testing.T) {
	const perDay = 3
	w := newWorld(t, worldOpts{batchSize: 10, repliesPerDay: perDay})
	w.deliver(30)
	want := w.wantReplies(perDay)
	p := w.start()
	if !w.waitReplies(want, 30*time.Second) {
		t.Fatalf("only %d of %d answered", w.distinctReplied(), want)
	}
	time.Sleep(500 * time.Millisecond)
	p.term(t, 30*time.Second)
	first := w.check(perDay)
	first.assertClean(t)
	repliesBefore := len(w.mailpit.Messages(t))
	ticketsBefore := w.ticketLines(t)
	wantTickets := 0
	for _, it := range w.items {
		switch it.kind {
		case kindFollowUp: // joins the ticket it refers to
		case kindAutoReply, kindList, kindBulk: // automatic mail naming no ticket opens none
		default:
			wantTickets++
		}
	}
	if len(ticketsBefore) != wantTickets {
		t.Fatalf("tickets list shows %d tickets for %d messages, want %d", len(ticketsBefore), len(w.items), wantTickets)
	}
	oldUV := w.dovecot.UIDValidity(t, "INBOX")
	firstTicket := map[string]string{}
	w.viewStore(t, func(tx *store.Tx) {
		for _, it := range w.items {
			e, err := tx.SeenUID("INBOX", oldUV, it.uid)
			if err != nil || e == nil {
				t.Fatalf("no ledger entry for uid %d before the change: %v", it.uid, err)
			}
			firstTicket[it.id] = e.Ticket
		}
	})

	newUV := w.dovecot.RecreateMailbox(t, "INBOX")
	t.Logf("UIDVALIDITY %d -> %d", oldUV, newUV)
	p = w.start()
	// Wait until the daemon has handled all refetched messages (its log counts them).
	deadline := time.Now().Add(30 * time.Second)
	for processedLines(t, p.log) < len(w.items) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the daemon handled %d of %d refetched messages (exited: %v)", processedLines(t, p.log), len(w.items), p.exited())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a wrong reply would show up now
	p.term(t, 30*time.Second)
	if log, _ := os.ReadFile(p.log); !bytes.Contains(log, []byte("UIDVALIDITY changed")) {
		t.Errorf("the daemon did not log the UIDVALIDITY change")
	}

	if n := len(w.mailpit.Messages(t)); n != repliesBefore {
		t.Errorf("Mailpit holds %d messages after the UIDVALIDITY change, want the %d from before (no new reply)", n, repliesBefore)
	}
	if after := w.ticketLines(t); len(after) != len(ticketsBefore) {
		t.Errorf("tickets list: %d tickets after the change, %d before (a message was processed again)", len(after), len(ticketsBefore))
	}
	// Every message under its new UID: a duplicate entry pointing at the first ticket.
	newUIDs := map[string]uint32{}
	for _, m := range w.dovecot.Messages(t, "INBOX") {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatal(err)
		}
		newUIDs[strings.Trim(msg.Header.Get("Message-Id"), "<>")] = m.UID
	}
	w.viewStore(t, func(tx *store.Tx) {
		for _, it := range w.items {
			uid, ok := newUIDs[it.id]
			if !ok {
				t.Errorf("message %s missing from the recreated mailbox", it.id)
				continue
			}
			e, err := tx.SeenUID("INBOX", newUV, uid)
			switch {
			case err != nil:
				t.Fatal(err)
			case e == nil:
				t.Errorf("message %d (new uid %d) has no ledger entry under the new UIDVALIDITY", it.n, uid)
			case !e.Duplicate:
				t.Errorf("message %d (new uid %d) was processed again (action %s, ticket %s), want a duplicate entry", it.n, uid, e.Action, e.Ticket)
			case e.Ticket != firstTicket[it.id]:
				t.Errorf("message %d: duplicate entry names ticket %s, first sighting %s", it.n, e.Ticket, firstTicket[it.id])
			}
		}
		if uv, last, err := tx.Checkpoint("INBOX"); err != nil || uv != newUV || last < uint32(len(w.items)) {
			t.Errorf("checkpoint = %d/%d (%v), want UIDVALIDITY %d and the last UID", uv, last, err, newUV)
		}
	})
}

// ticketLines runs `supportd tickets list` and returns its ticket rows.
func (w *world) ticketLines(t *testing.T) []string {
	t.Helper()
	out, err := w.cli("tickets", "list")
	if err != nil {
		t.Fatalf("supportd tickets list: %v\n%s", err, out)
	}
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "CS-") {
			rows = append(rows, l)
		}
	}
	return rows
}

// viewStore opens the store read-only (the daemon must be stopped).
func (w *world) viewStore(t *testing.T, fn func(tx *store.Tx)) {
	t.Helper()
	db, err := store.Open(w.dbPath, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer db.Close()
	if err := db.View(func(tx *store.Tx) error { fn(tx); return nil }); err != nil {
		t.Fatal(err)
	}
}

// processedLines counts the "message processed" records in a daemon's JSON log.
func processedLines(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte(`"msg":"message processed"`))
}
