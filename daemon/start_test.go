package daemon_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/harness"
	"supportd/internal/testenv"
	"supportd/poller"
	"supportd/store"
)

// freshStore points the env at a new, empty store (customers imported): a new
// install, a lost database or a second instance on the same mailbox.
func (e *env) freshStore(name string) {
	e.t.Helper()
	e.dbPath = filepath.Join(filepath.Dir(e.dbPath), name+".db")
	db, err := store.Open(e.dbPath, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		e.t.Fatal(err)
	}
	db.Close()
}

func startAt(s poller.StartAt) func(*poller.Config) { return func(c *poller.Config) { c.StartAt = s } }

// ledgerAll returns every ledger entry of INBOX under uv, by UID.
func ledgerAll(t *testing.T, r *running, uv uint32, uids ...uint32) map[uint32]*store.LedgerEntry {
	t.Helper()
	out := map[uint32]*store.LedgerEntry{}
	for _, u := range uids {
		out[u] = r.ledger(t, uv, u)
	}
	return out
}

// Issue 14 item 1: a new store never answers the mail an earlier store (or
// instance) answered, refuses to guess where to start on a mailbox that holds
// mail, and starts where the operator says.
func TestFirstStartOnLiveMailbox(t *testing.T) {
	e := newEnv(t)
	e.throughPostfix(testenv.DovecotOptions{})
	old1 := e.deliver(msg("Alice <alice@acme.test>", "Backup fails", "old1@acme.test", "Build Number: 9653\nThe nightly backup fails.\n"))
	old2 := e.deliver(msg("Peter <peter@initech.test>", "AD sync", "old2@initech.test", "Build 9640, how do we schedule AD sync?\n"))
	uv := e.dovecot.UIDValidity(t, "INBOX")
	for _, m := range e.dovecot.Messages(t, "INBOX") {
		viaPostfix(t, m)
	}

	// The first store answers both (the operator chose all).
	r := e.startWith(runOpts{idle: true}, startAt(poller.StartAt{Mode: poller.StartAll}))
	e.mailpit.WaitMessages(t, 2, 20*time.Second)
	waitFor(t, 10*time.Second, "both tagged $SupportdProcessed", func() bool {
		return hasKeyword(e.dovecot.Keywords(t, "INBOX", old1), daemon.ProcessedKeyword) &&
			hasKeyword(e.dovecot.Keywords(t, "INBOX", old2), daemon.ProcessedKeyword)
	})
	r.stop(t)

	// A fresh store without a choice refuses to start, and says how to choose.
	e.freshStore("second")
	hw := e.w
	hw.DBPath = e.dbPath
	rr := hw.Start(harness.Options{Idle: true, SMTPAddr: e.mailpit.SMTPAddr(), Poller: startAt(poller.StartAt{})})
	err := rr.Wait(t, 20*time.Second)
	if !errors.Is(err, poller.ErrStartAtRequired) || !strings.Contains(err.Error(), "--start-at") {
		t.Fatalf("run on a fresh store and a mailbox with mail: %v, want ErrStartAtRequired naming --start-at", err)
	}
	if n := rr.OutboxPending(t); n != 0 {
		t.Fatalf("refused start enqueued %d messages", n)
	}
	rr.DB.Close()

	// A fresh store with --start-at all: the tagged messages are recorded, not answered.
	e.freshStore("third")
	r = e.startWith(runOpts{idle: true}, startAt(poller.StartAt{Mode: poller.StartAll}))
	waitFor(t, 20*time.Second, "old messages recorded", func() bool {
		for _, le := range ledgerAll(t, r, uv, old1, old2) {
			if le == nil || !le.Done() {
				return false
			}
		}
		return true
	})
	for uid, le := range ledgerAll(t, r, uv, old1, old2) {
		if le.Action != daemon.SkipAction || le.SuppressReason != daemon.SkipProcessed || le.Ticket != "" {
			t.Errorf("uid %d: ledger %+v, want skipped/%s without a ticket", uid, le, daemon.SkipProcessed)
		}
	}
	// A new message is answered; the old ones still are not.
	fresh := e.deliver(msg("Ada <ada@umbrella.test>", "SMTP test fails", "new1@umbrella.test", "Build 9653, emails time out.\n"))
	e.mailpit.WaitMessages(t, 3, 20*time.Second)
	waitFor(t, 10*time.Second, "the new message processed", func() bool {
		le := r.ledger(t, uv, fresh)
		return le != nil && le.Done()
	})
	var rec *store.StartRecord
	if err := r.db.View(func(tx *store.Tx) error { rec, err = tx.StartRecord("INBOX"); return err }); err != nil || rec == nil {
		t.Fatalf("start record: %v %v", rec, err)
	}
	if rec.Choice != "all" || rec.Exists != 2 || rec.Checkpoint != 0 {
		t.Errorf("start record %+v, want choice all, 2 existing, checkpoint 0", rec)
	}
	r.stop(t)
	time.Sleep(300 * time.Millisecond)
	if n := len(e.mailpit.Messages(t)); n != 3 {
		t.Fatalf("Mailpit holds %d messages, want 3 (two first answers, one new; nothing old answered again)", n)
	}
	if !strings.Contains(e.logs.String(), "start_at=all") {
		t.Error("the start choice is not logged")
	}

	// A fresh store with now: nothing old is even fetched; new mail is answered.
	e.freshStore("fourth")
	untagged := e.deliver(msg("Gavin <gavin@hooli.test>", "Upgrade failed", "untagged@hooli.test", "Build Number: 9540\n"))
	e.mailpit.DeleteAll(t)
	r = e.startWith(runOpts{idle: true}, startAt(poller.StartAt{Mode: poller.StartNow}))
	waitFor(t, 20*time.Second, "start record", func() bool {
		var rec *store.StartRecord
		r.db.View(func(tx *store.Tx) error { rec, _ = tx.StartRecord("INBOX"); return nil })
		return rec != nil && rec.Checkpoint == untagged
	})
	late := e.deliver(msg("Sam <sam@newcorp.test>", "Reset password", "late@newcorp.test", "How do I reset it?\n"))
	e.mailpit.WaitMessages(t, 1, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	msgs := e.mailpit.Messages(t)
	if len(msgs) != 1 || !strings.Contains(e.mailpit.Message(t, msgs[0].ID).Header("In-Reply-To"), "late@newcorp.test") {
		t.Fatalf("with --start-at now Mailpit holds %d messages, want only the reply to the late one", len(msgs))
	}
	if le := r.ledger(t, uv, untagged); le != nil {
		t.Errorf("a message older than --start-at now was handled: %+v", le)
	}
	if le := r.ledger(t, uv, late); le == nil || !le.Done() {
		t.Errorf("the late message is not processed: %+v", le)
	}
	r.stop(t)
}

// --start-at DATE answers the messages received on or after DATE (and all
// later mail); the older ones are recorded without an answer. An empty
// mailbox needs no choice.
func TestFirstStartSinceDateAndEmptyMailbox(t *testing.T) {
	e := newEnv(t)
	e.throughPostfix(testenv.DovecotOptions{}) // the dated messages below are appended: they need their INTERNALDATE
	// An empty mailbox: no choice needed, the start is recorded as "empty".
	r := e.startWith(runOpts{idle: true}, startAt(poller.StartAt{}))
	waitFor(t, 20*time.Second, "start record", func() bool {
		var rec *store.StartRecord
		r.db.View(func(tx *store.Tx) error { rec, _ = tx.StartRecord("INBOX"); return nil })
		return rec != nil && rec.Choice == "empty"
	})
	first := e.deliver(msg("Alice <alice@acme.test>", "Backup fails", "e1@acme.test", "Build Number: 9653\nThe nightly backup fails.\n"))
	e.mailpit.WaitMessages(t, 1, 20*time.Second)
	r.stop(t)
	_ = first

	e.freshStore("dated")
	e.mailpit.DeleteAll(t)
	uv := e.dovecot.UIDValidity(t, "INBOX")
	day := func(d int) time.Time { return time.Date(2026, 11, d, 1, 0, 0, 0, time.UTC) }
	older := e.dovecot.AppendAt(t, "INBOX", crlf(msg("Peter <peter@initech.test>", "AD sync", "d1@initech.test", "Build 9640?\n")), day(10))
	since := e.dovecot.AppendAt(t, "INBOX", crlf(msg("Ada <ada@umbrella.test>", "SMTP", "d2@umbrella.test", "Build 9653, emails time out.\n")), day(20))
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	r = e.startWith(runOpts{idle: true}, startAt(poller.StartAt{Mode: poller.StartDate, Since: start}))
	e.mailpit.WaitMessages(t, 1, 20*time.Second)
	waitFor(t, 10*time.Second, "both recorded", func() bool {
		a, b := r.ledger(t, uv, older), r.ledger(t, uv, since)
		return a != nil && a.Done() && b != nil && b.Done()
	})
	time.Sleep(300 * time.Millisecond)
	msgs := e.mailpit.Messages(t)
	if len(msgs) != 1 || !strings.Contains(e.mailpit.Message(t, msgs[0].ID).Header("In-Reply-To"), "d2@umbrella.test") {
		t.Fatalf("Mailpit holds %d messages, want only the reply to the message received on the start date", len(msgs))
	}
	if le := r.ledger(t, uv, older); le.SuppressReason != daemon.SkipBeforeStartDate {
		t.Errorf("message before the start date: %+v, want skipped/%s", le, daemon.SkipBeforeStartDate)
	}
	// The first message (tagged by the first store, and older) is not answered either.
	if le := r.ledger(t, uv, first); le == nil || le.Action != daemon.SkipAction {
		t.Errorf("message answered by the first store: %+v, want skipped", le)
	}
	r.stop(t)
}

func hasKeyword(kws []string, kw string) bool {
	for _, k := range kws {
		if k == kw {
			return true
		}
	}
	return false
}
