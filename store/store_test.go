package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"supportd/entitlement"
)

// openTest opens a fresh store in t.TempDir() and, at cleanup, closes it and
// runs bbolt's consistency check (tx.Check) on the file.
func openTest(t testing.TB) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "supportd.db")
	db, err := Open(path, &Options{NoSync: true, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		checkFile(t, path)
	})
	return db
}

// checkFile runs tx.Check on a closed store file.
func checkFile(t testing.TB, path string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("reopen for check: %v", err)
		return
	}
	defer bdb.Close()
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("consistency check %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("check: %v", err)
	}
}

func update(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func TestOpenFileModeAndSchema(t *testing.T) {
	db := openTest(t)
	fi, err := os.Stat(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode = %o, want 600", m)
	}
	if db.SchemaVersion() != SchemaVersion {
		t.Errorf("SchemaVersion = %d", db.SchemaVersion())
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		v, err := schemaVersion(tx)
		if v != SchemaVersion {
			t.Errorf("stored schema = %d, %v", v, err)
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				t.Errorf("bucket %s missing", b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	db := openTest(t)
	for _, ro := range []bool{false, true} {
		start := time.Now()
		db2, err := Open(db.Path(), &Options{Timeout: 150 * time.Millisecond, ReadOnly: ro})
		if err == nil {
			db2.Close()
			t.Fatalf("second Open (ro=%v) succeeded while the store is open", ro)
		}
		if !errors.Is(err, ErrLocked) {
			t.Errorf("ro=%v: err = %v, want ErrLocked", ro, err)
		}
		want := "store supportd.db is locked by another process (is supportd run active?)"
		if err.Error() != want {
			t.Errorf("message = %q, want %q", err, want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	}
}

func TestOpenReadOnlyShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supportd.db")
	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error { return tx.PutCustomer(acme()) })
	db.Close()

	r1, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(path, &Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("two read-only opens must coexist: %v", err)
	}
	defer r2.Close()
	view(t, r2, func(tx *Tx) error {
		c, err := tx.CustomerByContact("IT@acme.test")
		if err != nil || c == nil || c.ID != "C100" {
			t.Errorf("read-only lookup = %+v, %v", c, err)
		}
		return nil
	})
	if err := r1.Update(func(tx *Tx) error { return tx.SetCheckpoint("INBOX", 1, 2) }); err == nil {
		t.Error("Update on a read-only store succeeded")
	}
	// A writer cannot get in while readers hold the file.
	if _, err := Open(path, &Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("read-write open beside readers: %v, want ErrLocked", err)
	}
}

func TestOpenSchemaErrors(t *testing.T) {
	dir := t.TempDir()
	rawFile := func(name string, fill func(tx *bolt.Tx) error) string {
		p := filepath.Join(dir, name)
		bdb, err := bolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := bdb.Update(fill); err != nil {
			t.Fatal(err)
		}
		bdb.Close()
		return p
	}
	newer := rawFile("newer.db", func(tx *bolt.Tx) error { return putSchemaVersion(tx, SchemaVersion+1) })
	for _, ro := range []bool{false, true} {
		if _, err := Open(newer, &Options{ReadOnly: ro}); !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("newer schema ro=%v: %v, want ErrSchemaTooNew", ro, err)
		}
	}
	foreign := rawFile("foreign.db", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something"))
		return err
	})
	if _, err := Open(foreign, nil); err == nil || !strings.Contains(err.Error(), "not a supportd store") {
		t.Errorf("foreign file: %v", err)
	}
	v1 := rawFile("v1.db", func(tx *bolt.Tx) error { return buildV1(tx) })
	if _, err := Open(v1, &Options{ReadOnly: true}); !errors.Is(err, ErrNeedsMigration) {
		t.Errorf("read-only open of v1: %v, want ErrNeedsMigration", err)
	}
	empty := rawFile("empty.db", func(tx *bolt.Tx) error { return nil })
	if _, err := Open(empty, &Options{ReadOnly: true}); !errors.Is(err, ErrNeedsMigration) {
		t.Errorf("read-only open of an empty file: %v, want ErrNeedsMigration", err)
	}
	if _, err := Open(filepath.Join(dir, "absent.db"), &Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file succeeded")
	}
}

// buildV1 writes a schema-v1 store by hand: primary buckets and the contact
// index only, outbox data inline in the JSON.
func buildV1(tx *bolt.Tx) error {
	for _, name := range bucketsV1 {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	if err := putSchemaVersion(tx, 1); err != nil {
		return err
	}
	put := func(bucket []byte, k, v string) error { return tx.Bucket(bucket).Put([]byte(k), []byte(v)) }
	steps := []error{
		put(bCustomers, "C1", `{"id":"C1","company":"Acme","contacts":["it@acme.test"],"domains":["acme.test"],"license":"enterprise","asup_expires":"2027-06-30","extended_support":true}`),
		put(bCustomers, "C2", `{"id":"C2","company":"Beta","domains":["beta.test"],"license":"cal","trial_expires":"2026-12-01"}`),
		put(bByContact, "it@acme.test", "C1"),
		put(bTickets, "CS-000007", `{"id":"CS-000007","subject":"Help","status":"active","priority":1,"from":"it@acme.test","created":"2026-01-05T10:00:00Z","updated":"2026-01-05T10:00:00Z","state":"open","messages":[{"message_id":"in1@acme.test","uid":5,"received":"2026-01-05T10:00:00Z","action":"acknowledge","direction":"in"},{"message_id":"reply1@vendor.test","received":"2026-01-05T10:00:01Z","direction":"out"}]}`),
		put(bLedger, string(ledgerKey("INBOX", 9, 5)), `{"mailbox":"INBOX","uid_validity":9,"uid":5,"message_id":"in1@acme.test","content_hash":"abc","ticket":"CS-000007","action":"acknowledge","processed":"2026-01-05T10:00:00Z"}`),
		put(bCheckpoints, "INBOX", string([]byte{0, 0, 0, 9, 0, 0, 0, 5})),
		tx.Bucket(bOutbox).Put(u64(1), []byte(`{"id":1,"message_id":"<reply1@vendor.test>","kind":"reply","ticket":"CS-000007","from":"support@vendor.test","to":["it@acme.test"],"data":"aGVsbG8=","created":"2026-01-05T10:00:01Z","next_attempt":"2026-01-05T10:00:01Z","state":"pending"}`)),
		tx.Bucket(bOutbox).SetSequence(1),
		tx.Bucket(bTickets).SetSequence(7),
	}
	return errors.Join(steps...)
}

func TestMigrateFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supportd.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(buildV1); err != nil {
		t.Fatal(err)
	}
	bdb.Close()

	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open v1: %v", err)
	}
	defer checkFile(t, path)
	defer db.Close()
	if db.SchemaVersion() != SchemaVersion {
		t.Errorf("version after migration = %d", db.SchemaVersion())
	}
	when := time.Date(2026, 1, 5, 10, 0, 1, 0, time.UTC)
	view(t, db, func(tx *Tx) error {
		if c, err := tx.CustomerByDomain("beta.test"); err != nil || c == nil || c.ID != "C2" {
			t.Errorf("domain index not built: %+v %v", c, err)
		}
		if c, err := tx.CustomerByContact("it@acme.test"); err != nil || c == nil || c.ID != "C1" || !c.ExtendedSupport {
			t.Errorf("contact lookup: %+v %v", c, err)
		}
		if id, _ := tx.TicketByMessageID("<reply1@vendor.test>"); id != "CS-000007" {
			t.Errorf("ticket_by_msgid not built: %q", id)
		}
		if e, err := tx.SeenMessage(MessageKey("<in1@acme.test>", "")); err != nil || e == nil || e.UID != 5 {
			t.Errorf("ledger_by_msgkey not built: %+v %v", e, err)
		}
		if u, _ := tx.Unmarked("INBOX"); len(u) != 1 || u[0].UID != 5 {
			t.Errorf("ledger_unmarked = %+v", u)
		}
		if uv, last, _ := tx.Checkpoint("INBOX"); uv != 9 || last != 5 {
			t.Errorf("checkpoint = %d %d", uv, last)
		}
		due, err := tx.Due(when, 10)
		if err != nil || len(due) != 1 || string(due[0].Data) != "hello" || due[0].MessageID != "reply1@vendor.test" {
			t.Errorf("outbox after migration = %+v %v", due, err)
		}
		if id, _ := tx.PeekNextTicketID("CS-%06d"); id != "CS-000008" {
			t.Errorf("ticket sequence lost: %s", id)
		}
		return nil
	})
	// The v1 metadata no longer holds the data inline.
	err = db.bolt.View(func(tx *bolt.Tx) error {
		var m map[string]any
		if err := json.Unmarshal(tx.Bucket(bOutbox).Get(u64(1)), &m); err != nil {
			return err
		}
		if _, ok := m["data"]; ok {
			t.Error("outbox metadata still has inline data")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error {
		id, err := tx.Enqueue(&OutboxEntry{MessageID: "reply1@vendor.test", Kind: KindReply, To: []string{"x@y.test"}, Data: []byte("x"), Created: when})
		if err != nil || id != 1 {
			t.Errorf("enqueue of migrated Message-ID = %d, %v; want existing id 1", id, err)
		}
		return nil
	})
}

func TestMigrateFramework(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error { return putSchemaVersion(tx, 1) }); err != nil {
		t.Fatal(err)
	}
	// A failing migration rolls back: the file stays at v1.
	failing := []migration{{from: 1, desc: "boom", fn: func(tx *bolt.Tx) error {
		if err := tx.Bucket(bMeta).Put([]byte("x"), []byte("y")); err != nil {
			return err
		}
		return errors.New("boom")
	}}}
	err = bdb.Update(func(tx *bolt.Tx) error { _, err := migrate(tx, failing); return err })
	if err == nil || !strings.Contains(err.Error(), "v1 to v2 (boom)") {
		t.Errorf("failing migration: %v", err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error { _, err := migrate(tx, nil); return err })
	if err == nil || !strings.Contains(err.Error(), "no migration from schema v1") {
		t.Errorf("missing migration: %v", err)
	}
	_ = bdb.View(func(tx *bolt.Tx) error {
		if v, _ := schemaVersion(tx); v != 1 {
			t.Errorf("version after failed migrations = %d", v)
		}
		if tx.Bucket(bMeta).Get([]byte("x")) != nil {
			t.Error("failed migration was not rolled back")
		}
		return nil
	})
}

func acme() entitlement.Customer {
	return entitlement.Customer{
		ID: "C100", Company: "Acme Pty Ltd",
		Contacts: []string{"IT@Acme.test", "bob@gmail.com"}, Domains: []string{"acme.test", "Acme-Corp.test"},
		License: "enterprise", ASUPExpires: entitlement.Date{Year: 2027, Month: 6, Day: 30},
		ExtendedSupport: true, HAModule: true,
	}
}

func TestCustomersCRUD(t *testing.T) {
	db := openTest(t)
	update(t, db, func(tx *Tx) error { return tx.PutCustomer(acme()) })
	view(t, db, func(tx *Tx) error {
		c, err := tx.Customer("C100")
		if err != nil || c == nil {
			t.Fatalf("Customer: %v %v", c, err)
		}
		if c.Contacts[0] != "it@acme.test" || c.Domains[1] != "acme-corp.test" {
			t.Errorf("not lower-cased: %+v", c)
		}
		if c.ASUPExpires != (entitlement.Date{Year: 2027, Month: 6, Day: 30}) || !c.HAModule || c.Free5 {
			t.Errorf("fields: %+v", c)
		}
		for _, addr := range []string{"it@acme.test", "IT@ACME.TEST", " bob@gmail.com "} {
			if c, err := tx.CustomerByContact(addr); err != nil || c == nil || c.ID != "C100" {
				t.Errorf("CustomerByContact(%q) = %+v, %v", addr, c, err)
			}
		}
		if c, err := tx.CustomerByDomain("ACME-corp.test."); err != nil || c == nil || c.ID != "C100" {
			t.Errorf("CustomerByDomain = %+v, %v", c, err)
		}
		if c, err := tx.CustomerByContact("nobody@acme.test"); c != nil || err != nil {
			t.Errorf("unknown contact = %+v, %v", c, err)
		}
		if c, err := tx.CustomerByDomain(""); c != nil || err != nil {
			t.Errorf("empty domain = %+v, %v", c, err)
		}
		if c, _ := tx.Customer("C999"); c != nil {
			t.Error("unknown id found")
		}
		return nil
	})

	// Update: a contact and a domain dropped, one added; stale entries go.
	c := acme()
	c.Contacts = []string{"it@acme.test", "carol@acme.test"}
	c.Domains = []string{"acme.test"}
	update(t, db, func(tx *Tx) error { return tx.PutCustomer(c) })
	view(t, db, func(tx *Tx) error {
		if c, _ := tx.CustomerByContact("bob@gmail.com"); c != nil {
			t.Error("stale contact index entry kept")
		}
		if c, _ := tx.CustomerByDomain("acme-corp.test"); c != nil {
			t.Error("stale domain index entry kept")
		}
		if c, _ := tx.CustomerByContact("carol@acme.test"); c == nil {
			t.Error("new contact not indexed")
		}
		return nil
	})

	// Another customer cannot take Acme's contact or domain.
	other := entitlement.Customer{ID: "C200", Company: "Other", Contacts: []string{"it@acme.test"}, Domains: []string{"acme.test"}, License: "cal"}
	err := db.Update(func(tx *Tx) error { return tx.PutCustomer(other) })
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `contact "it@acme.test" belongs to customer C100`) ||
		!strings.Contains(err.Error(), `domain "acme.test" belongs to customer C100`) {
		t.Errorf("conflict: %v", err)
	}
	// Invalid customers are refused with the field named.
	bad := acme()
	bad.License = "platinum"
	bad.ASUPExpires = entitlement.Date{Year: 2027, Month: 2, Day: 30}
	err = db.Update(func(tx *Tx) error { return tx.PutCustomer(bad) })
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "license") || !strings.Contains(err.Error(), "asup_expires") {
		t.Errorf("invalid customer: %v", err)
	}

	// ForEach in id order, then delete.
	update(t, db, func(tx *Tx) error {
		return tx.PutCustomer(entitlement.Customer{ID: "A1", Company: "First", Domains: []string{"first.test"}, License: "global"})
	})
	var ids []string
	view(t, db, func(tx *Tx) error {
		return tx.ForEachCustomer(func(c entitlement.Customer) error { ids = append(ids, c.ID); return nil })
	})
	if strings.Join(ids, ",") != "A1,C100" {
		t.Errorf("ForEachCustomer order = %v", ids)
	}
	update(t, db, func(tx *Tx) error { return tx.DeleteCustomer("C100") })
	view(t, db, func(tx *Tx) error {
		if c, _ := tx.CustomerByContact("it@acme.test"); c != nil {
			t.Error("deleted customer still found by contact")
		}
		if c, _ := tx.CustomerByDomain("acme.test"); c != nil {
			t.Error("deleted customer still found by domain")
		}
		return nil
	})
	if err := db.Update(func(tx *Tx) error { return tx.DeleteCustomer("C100") }); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
	// Now the contact is free for C200.
	update(t, db, func(tx *Tx) error { return tx.PutCustomer(other) })
}

// The store satisfies entitlement.Finder.
var _ entitlement.Finder = (*Tx)(nil)
