package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/harness"
	"supportd/store"
)

// records reads every record of a store: "bucket key" → value.
func records(t testing.TB, db *store.DB) map[string]string {
	t.Helper()
	m := map[string]string{}
	if err := db.View(func(tx *store.Tx) error {
		return tx.ForEachRecord(func(b string, k, v []byte) error {
			m[b+" "+string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

// rawDir reads a raw copies directory: name → content.
func rawDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, de := range ents {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[de.Name()] = string(b)
	}
	return m
}

// restoreCLI restores bak with `supportd restore` into a new store path and
// opens it.
func restoreCLI(t *testing.T, bak string) *store.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "restored", "supportd.db")
	out, stderr, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + path}, "restore", bak)
	if err != nil || !strings.Contains(out, "restored "+bak) {
		t.Fatalf("supportd restore: %v %q\n%s", err, out, stderr)
	}
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// `supportd backup` of a daemon that is answering a stream of mail (real
// Dovecot and Mailpit; the CLI fetches the archive over the admin API), then
// `supportd restore`: the backup taken under load holds, for every message
// its store snapshot processed, the ticket, the ledger entry, the outbox entry
// and the raw copy, all as in the live store; a backup taken once the stream
// is answered restores to exactly the live records and raw copies. A cut or
// damaged backup is refused by restore with a clear error, writing nothing.
func TestBackupUnderLoadRestoresTheSameState(t *testing.T) {
	w := harness.NewWorld(t, true)
	r := w.Start(harness.Options{Idle: true, BatchSize: 5, Config: func(c *daemon.Config) { c.RawRetention = 24 * time.Hour }})
	stopped := false
	defer func() {
		if !stopped {
			r.Stop(t)
		}
	}()
	tok, err := newAdminToken()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, addr, err := serveMetrics("127.0.0.1:0", r.Metrics, healthOf(r.Poller, nil), &adminAPI{db: r.DB, token: tok, log: log}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	removeToken, err := writeAdminToken(w.DBPath, tok, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer removeToken()
	env := []string{"SUPPORTD_STORE_PATH=" + w.DBPath, "SUPPORTD_METRICS_LISTEN=" + addr, "SUPPORTD_STORE_LOCK_TIMEOUT=100ms"}

	const total = 120
	processed := func() int {
		n := 0
		r.DB.View(func(tx *store.Tx) error {
			return tx.ForEachRecord(func(b string, k, v []byte) error {
				if b == "ledger" {
					n++
				}
				return nil
			})
		})
		return n
	}
	var load sync.WaitGroup
	load.Add(1)
	go func() {
		defer load.Done()
		for i := 0; i < total; i++ {
			w.Deliver(harness.Msg(fmt.Sprintf("user%d@acme.test", i), fmt.Sprintf("Problem %d with build 9120", i),
				fmt.Sprintf("load-%d@acme.test", i), fmt.Sprintf("Build 9120 on Windows Server 2019 fails with error %d.\n", i)))
			time.Sleep(15 * time.Millisecond)
		}
	}()
	harness.WaitFor(t, 60*time.Second, "the first messages processed", func() bool { return processed() >= 15 })

	dir := t.TempDir()
	bak1 := filepath.Join(dir, "under-load.supportd-backup")
	out, stderr, err := cli(t, env, "backup", bak1)
	if err != nil || !strings.Contains(out, "from the running daemon") {
		t.Fatalf("backup under load: %v %q\n%s", err, out, stderr)
	}
	if fi, err := os.Stat(bak1); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v, %v; want 0600", fi.Mode(), err)
	}
	load.Wait()
	harness.WaitFor(t, 90*time.Second, "every message processed and answered", func() bool {
		return processed() == total && r.OutboxPending(t) == 0
	})

	// The backup under load: a consistent point of the stream.
	a := restoreCLI(t, bak1)
	live := records(t, r.DB)
	got := records(t, a)
	liveRaw, gotRaw := rawDir(t, r.DB.RawDir()), rawDir(t, a.RawDir())
	var ledger, tickets, outbox int
	for k, v := range got {
		lv, ok := live[k]
		switch {
		case strings.HasPrefix(k, "ledger "):
			ledger++
			if !ok {
				t.Errorf("restored ledger entry %q is not in the live store", k)
			}
		case strings.HasPrefix(k, "tickets "):
			tickets++
			if !ok {
				t.Errorf("restored ticket %q is not in the live store", k)
			}
		case strings.HasPrefix(k, "outbox "):
			outbox++
			if !ok {
				t.Errorf("restored outbox entry %q is not in the live store", k)
			}
		case strings.HasPrefix(k, "customers "):
			if lv != v {
				t.Errorf("customer %q differs", k)
			}
		}
	}
	if ledger < 15 || ledger >= total {
		t.Errorf("the backup under load holds %d of %d messages: not taken under load", ledger, total)
	}
	if tickets != ledger || outbox < ledger {
		t.Errorf("the backup holds %d ledger entries, %d tickets, %d outbox entries: want a ticket and a reply per message", ledger, tickets, outbox)
	}
	for i := 0; i < total; i++ {
		e := (*store.LedgerEntry)(nil)
		a.View(func(tx *store.Tx) error {
			e, _ = tx.SeenMessage(store.MessageKey(fmt.Sprintf("load-%d@acme.test", i), ""))
			return nil
		})
		if e == nil {
			continue
		}
		f, err := a.OpenRaw(daemon.RawKey(e.Mailbox, e.UIDValidity, e.UID))
		if err != nil {
			t.Errorf("message %d is in the backup's ledger without its raw copy: %v", i, err)
			continue
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Contains(b, []byte(fmt.Sprintf("Message-ID: <load-%d@acme.test>", i))) {
			t.Errorf("raw copy of message %d holds another message", i)
		}
	}
	if len(gotRaw) != ledger {
		t.Errorf("%d raw copies in the backup for %d ledger entries", len(gotRaw), ledger)
	}
	for name, b := range gotRaw {
		if liveRaw[name] != b {
			t.Errorf("raw copy %s differs from the live one", name)
		}
	}

	// Once the stream is answered (the daemon still running): the same state.
	bak2 := filepath.Join(dir, "quiet.supportd-backup")
	if _, stderr, err := cli(t, env, "backup", bak2); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	live = records(t, r.DB)
	b := restoreCLI(t, bak2)
	got = records(t, b)
	if len(got) != len(live) {
		t.Errorf("restored %d records, the live store has %d", len(got), len(live))
	}
	for k, v := range live {
		if got[k] != v {
			t.Errorf("record %q differs after restore", k)
		}
	}
	liveRaw, gotRaw = rawDir(t, r.DB.RawDir()), rawDir(t, b.RawDir())
	if len(liveRaw) != total || len(gotRaw) != total {
		t.Errorf("raw copies: %d live, %d restored, want %d", len(liveRaw), len(gotRaw), total)
	}
	for name, v := range liveRaw {
		if gotRaw[name] != v {
			t.Errorf("raw copy %s differs after restore", name)
		}
	}

	// restore refuses the live store, and a cut or damaged backup.
	if _, _, err := cli(t, env, "restore", bak2); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("restore over the live store: %v", err)
	}
	whole, _ := os.ReadFile(bak2)
	for name, data := range map[string][]byte{
		"cut":     whole[:len(whole)*2/3],
		"damaged": append(append(bytes.Clone(whole[:len(whole)/2]), whole[len(whole)/2]^0xff), whole[len(whole)/2+1:]...),
	} {
		bad := filepath.Join(dir, name+".supportd-backup")
		os.WriteFile(bad, data, 0o600)
		target := filepath.Join(t.TempDir(), "supportd.db")
		_, _, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + target}, "restore", bad)
		if err == nil || !strings.Contains(err.Error(), "not a complete supportd backup") {
			t.Errorf("restore of a %s backup: %v", name, err)
		}
		if left, _ := os.ReadDir(filepath.Dir(target)); len(left) != 0 {
			t.Errorf("restore of a %s backup left %d files", name, len(left))
		}
	}
	r.Stop(t)
	stopped = true
}
