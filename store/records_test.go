package store

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/entitlement"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func TestTicketIDs(t *testing.T) {
	db := openTest(t)
	const legacy = "CS-%06d" // a format that can collide with the web page's ids
	update(t, db, func(tx *Tx) error {
		peek, err := tx.PeekNextTicketID("")
		if err != nil || peek != "CS-M00001" {
			t.Errorf("peek with the default format = %q, %v", peek, err)
		}
		// Peek does not consume.
		if again, _ := tx.PeekNextTicketID(""); again != peek {
			t.Errorf("second peek = %q", again)
		}
		id, err := tx.NextTicketID(legacy)
		if err != nil || id != "CS-000001" {
			t.Errorf("first id = %q, %v", id, err)
		}
		// Ids 2 and 3 came from the web page; allocation skips them.
		for _, web := range []string{"CS-000002", "CS-000003"} {
			if err := tx.PutTicket(&Ticket{ID: web, State: StateOpen, Created: t0}); err != nil {
				return err
			}
		}
		if peek, _ := tx.PeekNextTicketID(legacy); peek != "CS-000004" {
			t.Errorf("peek over taken ids = %q", peek)
		}
		id, err = tx.NextTicketID(legacy)
		if err != nil || id != "CS-000004" {
			t.Errorf("id after collisions = %q, %v", id, err)
		}
		id, _ = tx.NextTicketID("")
		if id != "CS-M00005" {
			t.Errorf("next in the default format = %q", id)
		}
		return nil
	})
	// NextTicketID writes: a read-only transaction refuses it.
	if err := db.View(func(tx *Tx) error { _, err := tx.NextTicketID(""); return err }); err == nil {
		t.Error("NextTicketID in a read-only transaction succeeded")
	}
	update(t, db, func(tx *Tx) error {
		if err := tx.tx.Bucket(bTickets).SetSequence(99999); err != nil {
			return err
		}
		if _, err := tx.NextTicketID(""); err == nil || !strings.Contains(err.Error(), "does not fit") {
			t.Errorf("past CS-M99999: %v", err)
		}
		return nil
	})
}

func TestTickets(t *testing.T) {
	db := openTest(t)
	tk := &Ticket{
		ID: "CS-000042", Subject: "Login fails", CustomerID: "C100", Company: "Acme",
		Status: entitlement.Active, Priority: 1, From: "it@acme.test",
		Created: t0, Updated: t0, Deadline: t0.Add(2 * time.Hour), State: StateOpen,
		Messages: []TicketMessage{
			{MessageID: "<in1@acme.test>", UID: 7, Received: t0, Action: "acknowledge", Direction: DirectionIn},
		},
	}
	update(t, db, func(tx *Tx) error {
		if err := tx.PutTicket(tk); err != nil {
			return err
		}
		// Our acknowledgement's Message-ID is registered too.
		if err := tx.IndexMessageID("<ack-CS-000042@vendor.test>", tk.ID); err != nil {
			return err
		}
		// Empty Message-IDs never thread (libredesk #122).
		if err := tx.IndexMessageID("  <> ", tk.ID); err != nil {
			return err
		}
		if err := tx.PutTicket(&Ticket{ID: "CS-000043", State: StateClosed, Created: t0}); err != nil {
			return err
		}
		return tx.PutTicket(&Ticket{ID: "CS-000044", State: StateAnswered, Created: t0})
	})
	view(t, db, func(tx *Tx) error {
		got, err := tx.Ticket("CS-000042")
		if err != nil || got == nil {
			t.Fatalf("Ticket: %v %v", got, err)
		}
		if !got.Deadline.Equal(tk.Deadline) || got.Messages[0].UID != 7 || got.Status != entitlement.Active {
			t.Errorf("ticket = %+v", got)
		}
		if !tx.TicketExists("CS-000042") || tx.TicketExists("CS-999999") {
			t.Error("TicketExists wrong")
		}
		if tk, _ := tx.Ticket("CS-999999"); tk != nil {
			t.Error("missing ticket found")
		}
		for _, tc := range []struct {
			ids  []string
			want string
		}{
			{[]string{"<ack-CS-000042@vendor.test>"}, "CS-000042"},
			{[]string{"<unknown@x>", "in1@acme.test"}, "CS-000042"},
			{[]string{"", "<>", "<unknown@x>"}, ""},
			{nil, ""},
		} {
			if got, err := tx.TicketByMessageID(tc.ids...); err != nil || got != tc.want {
				t.Errorf("TicketByMessageID(%q) = %q, %v; want %q", tc.ids, got, err, tc.want)
			}
		}
		var open, all []string
		_ = tx.ForEachTicket(true, func(tk Ticket) error { open = append(open, tk.ID); return nil })
		_ = tx.ForEachTicket(false, func(tk Ticket) error { all = append(all, tk.ID); return nil })
		if strings.Join(open, ",") != "CS-000042" || strings.Join(all, ",") != "CS-000042,CS-000043,CS-000044" { // open: a response due
			t.Errorf("open = %v, all = %v", open, all)
		}
		return nil
	})
	// A Message-ID keeps its first ticket.
	update(t, db, func(tx *Tx) error { return tx.IndexMessageID("in1@acme.test", "CS-000043") })
	view(t, db, func(tx *Tx) error {
		if got, _ := tx.TicketByMessageID("in1@acme.test"); got != "CS-000042" {
			t.Errorf("re-index moved the Message-ID to %q", got)
		}
		return nil
	})
	for _, bad := range []*Ticket{{ID: "", State: StateOpen}, {ID: "X", State: "pending"}, {ID: "X", State: StateOpen, Messages: []TicketMessage{{Direction: "sideways"}}}} {
		if err := db.Update(func(tx *Tx) error { return tx.PutTicket(bad) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutTicket(%+v) = %v", bad, err)
		}
	}
}

func TestLedger(t *testing.T) {
	db := openTest(t)
	update(t, db, func(tx *Tx) error {
		if e, err := tx.SeenUID("INBOX", 1, 10); e != nil || err != nil {
			t.Errorf("unseen = %+v %v", e, err)
		}
		// Two failed attempts, then processed.
		for want := 1; want <= 2; want++ {
			if n, err := tx.RecordAttempt("INBOX", 1, 10); err != nil || n != want {
				t.Errorf("RecordAttempt = %d, %v; want %d", n, err, want)
			}
		}
		e, _ := tx.SeenUID("INBOX", 1, 10)
		if e == nil || e.Done() || e.Attempts != 2 {
			t.Errorf("after attempts: %+v", e)
		}
		e.MessageID = "<m10@x.test>"
		e.ContentHash = "h10"
		e.Ticket = "CS-000001"
		e.Action = "acknowledge"
		e.Processed = t0
		if err := tx.PutLedger(e); err != nil {
			return err
		}
		// A message without Message-ID, found by its hash; a quarantined one;
		// one in another mailbox whose name is a prefix.
		if err := tx.PutLedger(&LedgerEntry{Mailbox: "INBOX", UIDValidity: 1, UID: 11, ContentHash: "h11", Processed: t0, Action: "suppress", SuppressReason: "auto-submitted"}); err != nil {
			return err
		}
		if err := tx.PutLedger(&LedgerEntry{Mailbox: "INBOX", UIDValidity: 1, UID: 12, Quarantined: true, Attempts: 5}); err != nil {
			return err
		}
		return tx.PutLedger(&LedgerEntry{Mailbox: "INBOX.Archive", UIDValidity: 1, UID: 1, Processed: t0})
	})
	view(t, db, func(tx *Tx) error {
		e, err := tx.SeenMessage(MessageKey("m10@x.test", ""))
		if err != nil || e == nil || e.UID != 10 || e.Attempts != 2 || e.MessageID != "m10@x.test" {
			t.Errorf("SeenMessage by id = %+v %v", e, err)
		}
		if e, _ := tx.SeenMessage(MessageKey("", "h10")); e == nil || e.UID != 10 {
			t.Errorf("SeenMessage by hash of a message with an id = %+v", e)
		}
		if e, _ := tx.SeenMessage(MessageKey("", "h11")); e == nil || e.UID != 11 || e.SuppressReason != "auto-submitted" {
			t.Errorf("SeenMessage by hash = %+v", e)
		}
		if e, _ := tx.SeenMessage(MessageKey("", "")); e != nil {
			t.Error("empty key found something")
		}
		u, err := tx.Unmarked("INBOX")
		if err != nil || len(u) != 3 || u[0].UID != 10 || u[1].UID != 11 || u[2].UID != 12 {
			t.Errorf("Unmarked(INBOX) = %+v %v", u, err)
		}
		return nil
	})
	// Same message again under a new UIDVALIDITY: found by Message-ID; the
	// index keeps pointing to the first sighting.
	update(t, db, func(tx *Tx) error {
		seen, _ := tx.SeenMessage(MessageKey("<m10@x.test>", "h10"))
		if seen == nil || seen.UIDValidity != 1 {
			t.Errorf("after UIDVALIDITY change: %+v", seen)
		}
		return tx.PutLedger(&LedgerEntry{Mailbox: "INBOX", UIDValidity: 2, UID: 1, MessageID: "m10@x.test", Processed: t0, Marked: true})
	})
	update(t, db, func(tx *Tx) error {
		if e, _ := tx.SeenMessage(MessageKey("m10@x.test", "")); e == nil || e.UIDValidity != 1 {
			t.Errorf("index moved: %+v", e)
		}
		for _, uid := range []uint32{10, 11, 12} {
			e, _ := tx.SeenUID("INBOX", 1, uid)
			e.Marked = true
			if err := tx.PutLedger(e); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx *Tx) error {
		if u, _ := tx.Unmarked("INBOX"); len(u) != 0 {
			t.Errorf("Unmarked after marking = %+v", u)
		}
		if u, _ := tx.Unmarked("INBOX.Archive"); len(u) != 1 {
			t.Errorf("Unmarked(INBOX.Archive) = %+v", u)
		}
		return nil
	})
	if err := db.Update(func(tx *Tx) error { return tx.PutLedger(&LedgerEntry{Mailbox: "a\x00b"}) }); !errors.Is(err, ErrInvalid) {
		t.Errorf("NUL in mailbox: %v", err)
	}
}

func TestCheckpoint(t *testing.T) {
	db := openTest(t)
	update(t, db, func(tx *Tx) error {
		if uv, last, err := tx.Checkpoint("INBOX"); uv != 0 || last != 0 || err != nil {
			t.Errorf("initial checkpoint = %d %d %v", uv, last, err)
		}
		if err := tx.SetCheckpoint("INBOX", 0xfffffffe, 4000000000); err != nil {
			return err
		}
		return tx.SetCheckpoint("Other", 3, 4)
	})
	view(t, db, func(tx *Tx) error {
		if uv, last, _ := tx.Checkpoint("INBOX"); uv != 0xfffffffe || last != 4000000000 {
			t.Errorf("checkpoint = %d %d", uv, last)
		}
		if uv, last, _ := tx.Checkpoint("Other"); uv != 3 || last != 4 {
			t.Errorf("other checkpoint = %d %d", uv, last)
		}
		return nil
	})
}

func entry(msgid string, created time.Time) *OutboxEntry {
	return &OutboxEntry{MessageID: msgid, Kind: KindReply, Ticket: "CS-000001", From: "support@vendor.test",
		To: []string{"it@acme.test"}, Data: []byte("Subject: x\r\n\r\nbody " + msgid + "\r\n"), Created: created}
}

func TestOutbox(t *testing.T) {
	db := openTest(t)
	var a, b, c uint64
	update(t, db, func(tx *Tx) error {
		var err error
		if a, err = tx.Enqueue(entry("<a@vendor.test>", t0.Add(2*time.Minute))); err != nil {
			return err
		}
		if b, err = tx.Enqueue(entry("b@vendor.test", t0)); err != nil {
			return err
		}
		e := entry("c@vendor.test", t0)
		e.NextAttempt = t0.Add(time.Hour)
		if c, err = tx.Enqueue(e); err != nil {
			return err
		}
		// Idempotent on Message-ID, whatever the brackets.
		again := entry("a@vendor.test", t0.Add(time.Hour))
		id, err := tx.Enqueue(again)
		if err != nil || id != a || again.ID != a {
			t.Errorf("second enqueue = %d %v, want %d", id, err, a)
		}
		return nil
	})
	if a == b || b == c || a == 0 {
		t.Fatalf("ids %d %d %d", a, b, c)
	}
	view(t, db, func(tx *Tx) error {
		due, err := tx.Due(t0.Add(5*time.Minute), 10)
		if err != nil || len(due) != 2 || due[0].ID != b || due[1].ID != a {
			t.Fatalf("due = %+v %v", due, err)
		}
		if !bytes.Contains(due[0].Data, []byte("body b@vendor.test")) || due[1].State != OutboxPending || due[1].MessageID != "a@vendor.test" {
			t.Errorf("due entries = %+v", due)
		}
		if due, _ := tx.Due(t0.Add(5*time.Minute), 1); len(due) != 1 || due[0].ID != b {
			t.Errorf("limit 1 = %+v", due)
		}
		if due, _ := tx.Due(t0.Add(-time.Second), 10); len(due) != 0 {
			t.Errorf("nothing is due before t0: %+v", due)
		}
		// A byte budget smaller than one message still yields the first entry,
		// and stops before the entry that would exceed it.
		if due, _ := tx.DueBytes(t0.Add(5*time.Minute), 10, 1); len(due) != 1 || due[0].ID != b {
			t.Errorf("byte limit below one message = %+v", due)
		}
		all, _ := tx.Due(t0.Add(5*time.Minute), 10)
		if due, _ := tx.DueBytes(t0.Add(5*time.Minute), 10, int64(len(all[0].Data)+len(all[1].Data))); len(due) != 2 {
			t.Errorf("byte limit fitting both = %d entries", len(due))
		}
		n, oldest, err := tx.OutboxStats()
		if err != nil || n != 3 || !oldest.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("stats = %d %v %v (oldest is the first enqueued)", n, oldest, err)
		}
		return nil
	})
	update(t, db, func(tx *Tx) error {
		if err := tx.MarkRetry(b, t0.Add(30*time.Minute), "451 try later"); err != nil {
			return err
		}
		if err := tx.MarkSent(a, t0.Add(3*time.Minute)); err != nil {
			return err
		}
		if err := tx.MarkSent(a, t0.Add(4*time.Minute)); err != nil {
			t.Errorf("MarkSent twice: %v", err)
		}
		return tx.MarkFailed(c, "550 no such user")
	})
	view(t, db, func(tx *Tx) error {
		if due, _ := tx.Due(t0.Add(29*time.Minute), 10); len(due) != 0 {
			t.Errorf("retry came early: %+v", due)
		}
		due, _ := tx.Due(t0.Add(30*time.Minute), 10)
		if len(due) != 1 || due[0].ID != b || due[0].Attempts != 1 || due[0].LastError != "451 try later" {
			t.Errorf("after retry: %+v", due)
		}
		sent, _ := tx.OutboxEntry(a)
		if sent.State != OutboxSent || !sent.SentAt.Equal(t0.Add(3*time.Minute)) || sent.Data != nil || sent.Attempts != 1 {
			t.Errorf("sent entry = %+v (data must be dropped)", sent)
		}
		failed, _ := tx.OutboxEntry(c)
		if failed.State != OutboxFailed || failed.LastError != "550 no such user" || len(failed.Data) == 0 {
			t.Errorf("failed entry = %+v (data kept)", failed)
		}
		if ok, err := tx.SentByMessageID("<a@vendor.test>"); !ok || err != nil {
			t.Errorf("SentByMessageID(a) = %v %v", ok, err)
		}
		for _, id := range []string{"b@vendor.test", "c@vendor.test", "zzz@vendor.test", ""} {
			if ok, _ := tx.SentByMessageID(id); ok {
				t.Errorf("SentByMessageID(%q) = true", id)
			}
		}
		n, oldest, _ := tx.OutboxStats()
		if n != 1 || !oldest.Equal(t0) {
			t.Errorf("stats = %d %v", n, oldest)
		}
		if _, err := tx.OutboxEntry(999); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing entry: %v", err)
		}
		return nil
	})
	// Re-enqueueing a sent Message-ID still returns its id: a reply is sent once.
	update(t, db, func(tx *Tx) error {
		if id, err := tx.Enqueue(entry("a@vendor.test", t0.Add(time.Hour))); id != a || err != nil {
			t.Errorf("enqueue after sent = %d %v", id, err)
		}
		if err := tx.MarkRetry(a, t0, "x"); !errors.Is(err, ErrInvalid) {
			t.Errorf("retry of a sent entry: %v", err)
		}
		if err := tx.MarkFailed(c, "x"); !errors.Is(err, ErrInvalid) {
			t.Errorf("fail of a failed entry: %v", err)
		}
		if err := tx.MarkSent(999, t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("MarkSent(999): %v", err)
		}
		return nil
	})
	for name, e := range map[string]*OutboxEntry{
		"no msgid":   {Kind: KindReply, To: []string{"x@y"}, Data: []byte("x"), Created: t0},
		"bad kind":   {MessageID: "k@x", Kind: "spam", To: []string{"x@y"}, Data: []byte("x"), Created: t0},
		"no rcpt":    {MessageID: "k@x", Kind: KindReply, Data: []byte("x"), Created: t0},
		"no data":    {MessageID: "k@x", Kind: KindReply, To: []string{"x@y"}, Created: t0},
		"no created": {MessageID: "k@x", Kind: KindReply, To: []string{"x@y"}, Data: []byte("x")},
	} {
		if err := db.Update(func(tx *Tx) error { _, err := tx.Enqueue(e); return err }); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReplies(t *testing.T) {
	db := openTest(t)
	update(t, db, func(tx *Tx) error {
		for _, at := range []time.Time{t0.Add(-30 * time.Hour), t0.Add(-23 * time.Hour), t0.Add(-time.Hour), t0} {
			if err := tx.AddReply("Alice@Customer.test", at); err != nil {
				return err
			}
		}
		return tx.AddReply("bob@customer.test", t0.Add(-10*24*time.Hour))
	})
	view(t, db, func(tx *Tx) error {
		for _, tc := range []struct {
			addr   string
			now    time.Time
			window time.Duration
			want   int
		}{
			{"alice@customer.test", t0, 24 * time.Hour, 3},
			{"ALICE@customer.test", t0, 48 * time.Hour, 4},
			{"alice@customer.test", t0.Add(-90 * time.Minute), 24 * time.Hour, 1},          // later replies are not counted
			{"alice@customer.test", t0.Add(time.Hour), time.Hour, 0},                       // window is half-open
			{"alice@customer.test", t0.Add(24*time.Hour - time.Second), 24 * time.Hour, 1}, //
			{"nobody@customer.test", t0, 24 * time.Hour, 0},
			{"", t0, 24 * time.Hour, 0},
		} {
			if n, err := tx.RepliesInWindow(tc.addr, tc.now, tc.window); err != nil || n != tc.want {
				t.Errorf("RepliesInWindow(%s, %v, %v) = %d, %v; want %d", tc.addr, tc.now, tc.window, n, err, tc.want)
			}
		}
		return nil
	})
	update(t, db, func(tx *Tx) error {
		// Writing prunes entries older than ReplyRetention for that address.
		if err := tx.AddReply("alice@customer.test", t0.Add(ReplyRetention-29*time.Hour)); err != nil {
			return err
		}
		n, err := tx.PruneReplies(t0.Add(-7 * 24 * time.Hour))
		if err != nil || n != 1 {
			t.Errorf("PruneReplies = %d %v (bob only)", n, err)
		}
		return nil
	})
	view(t, db, func(tx *Tx) error {
		if n, _ := tx.RepliesInWindow("alice@customer.test", t0.Add(ReplyRetention), 30*24*time.Hour); n != 4 {
			t.Errorf("after pruning alice has %d, want 4 (the -30h one dropped)", n)
		}
		if n, _ := tx.RepliesInWindow("bob@customer.test", t0, 30*24*time.Hour); n != 0 {
			t.Errorf("bob not pruned: %d", n)
		}
		return nil
	})
}

func TestRaw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supportd.db")
	db, err := Open(path, &Options{NoSync: true, MaxRawBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SaveRaw("INBOX\x00key1", strings.NewReader("From: a@b\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{db.RawDir(): 0o700, db.rawPath("INBOX\x00key1"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %o", p, fi.Mode().Perm(), err, want)
		}
	}
	f, err := db.OpenRaw("INBOX\x00key1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if string(got) != "From: a@b\r\n\r\nhello\r\n" {
		t.Errorf("raw = %q", got)
	}
	err = db.SaveRaw("big", strings.NewReader(strings.Repeat("x", 101)))
	if !errors.Is(err, ErrRawTooLarge) {
		t.Errorf("over-limit SaveRaw: %v", err)
	}
	if _, err := db.OpenRaw("big"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("over-limit message kept: %v", err)
	}
	if ents, _ := os.ReadDir(db.RawDir()); len(ents) != 1 {
		t.Errorf("raw dir has %d files, want 1 (no temp leftovers)", len(ents))
	}
	if err := db.SaveRaw("old", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(db.rawPath("old"), old, old); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneRaw(time.Now().Add(-24 * time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneRaw = %d %v", n, err)
	}
	if _, err := db.OpenRaw("old"); err == nil {
		t.Error("pruned file still there")
	}
	if _, err := db.OpenRaw("INBOX\x00key1"); err != nil {
		t.Errorf("recent file pruned: %v", err)
	}
}

func TestBackup(t *testing.T) {
	db := openTest(t)
	if _, err := db.ImportCustomers(strings.NewReader(goodCSV), nil); err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error { return tx.PutTicket(&Ticket{ID: "CS-000001", State: StateOpen, Created: t0}) })

	// Backup: the bare bbolt snapshot the reading commands open.
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d %v (buffer %d)", n, err, buf.Len())
	}
	// BackupFile: the archive, restored into a new place. The daemon keeps
	// the store open (and locked) while backing up.
	dst := filepath.Join(t.TempDir(), "backup.supportd-backup")
	if _, err := db.BackupFile(dst); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BackupFile(db.Path()); !errors.Is(err, ErrInvalid) {
		t.Errorf("backup onto the store itself: %v", err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi.Mode(), err)
	}
	restored := filepath.Join(t.TempDir(), "restored.db")
	if _, err := RestoreFile(dst, restored); err != nil {
		t.Fatal(err)
	}
	bk, err := Open(restored, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open restored store: %v", err)
	}
	defer bk.Close()
	view(t, bk, func(tx *Tx) error {
		if c, _ := tx.CustomerByDomain("acme-corp.test"); c == nil || c.ID != "C100" {
			t.Errorf("backup lacks customer: %+v", c)
		}
		if !tx.TicketExists("CS-000001") {
			t.Error("backup lacks ticket")
		}
		return nil
	})
	if err := bk.Check(); err != nil {
		t.Errorf("backup check: %v", err)
	}
}

// The kinds tickets show are §10's five: a delivery report an older store
// recorded as "bounce" shows as automatic mail, as new ones are recorded.
func TestMessageKindOfOlderRecords(t *testing.T) {
	for _, c := range []struct {
		m    TicketMessage
		want string
	}{
		{TicketMessage{Kind: "bounce", Direction: DirectionIn}, MsgAuto},
		{TicketMessage{Direction: DirectionOut}, MsgAuto},
		{TicketMessage{Direction: DirectionIn}, MsgCustomer},
		{TicketMessage{Kind: MsgNote, Direction: DirectionIn}, MsgNote},
	} {
		if got := c.m.MessageKind(); got != c.want {
			t.Errorf("%+v: kind %q, want %q", c.m, got, c.want)
		}
	}
}
