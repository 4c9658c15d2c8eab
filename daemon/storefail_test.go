//go:build linux

package daemon_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"supportd/store"
)

// A real disk-full: the store lives on a 1 MiB tmpfs that is filled up while the
// daemon runs. Every batch commit then fails with ENOSPC. While it fails nothing
// is sent and nothing is marked on the IMAP server (and nothing is recorded); once
// space is freed the same messages are processed, each exactly once.
func TestStoreFullNothingSentNothingMarked(t *testing.T) {
	mnt := tinyTmpfs(t, "1m")
	e := newEnv(t)
	e.dbPath = filepath.Join(mnt, "supportd.db")
	db, err := store.Open(e.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := e.start(runOpts{idle: true, pollInterval: 500 * time.Millisecond})
	defer r.stop(t)
	waitFor(t, 10*time.Second, "poller connected", func() bool { return r.Poller.Stats().Connected })

	filler := filepath.Join(mnt, "filler")
	fillFilesystem(t, filler)

	const n = 12
	var uids []uint32
	for i := range n {
		uids = append(uids, e.deliver(msg(fmt.Sprintf("User %d <user%d@acme.test>", i, i), fmt.Sprintf("Disk full case %d", i),
			fmt.Sprintf("full-%d@acme.test", i), "Build Number: 9653\nThe page fails for every user.\n")))
	}
	waitFor(t, 20*time.Second, "a failed batch commit", func() bool { return counterValue(t, r.metrics.StoreErrors) >= 1 })
	time.Sleep(time.Second) // a wrong send or mark would show by now

	if got := e.mailpit.Messages(t); len(got) != 0 {
		t.Fatalf("Mailpit holds %d messages while the store cannot commit; want none", len(got))
	}
	uv := e.dovecot.UIDValidity(t, "INBOX")
	for _, uid := range uids {
		if kw := e.dovecot.Keywords(t, "INBOX", uid); len(kw) != 0 {
			t.Errorf("uid %d marked %v while the store cannot commit; want no keywords", uid, kw)
		}
		if l := r.ledger(t, uv, uid); l != nil {
			t.Errorf("uid %d has a ledger entry %+v although every commit failed", uid, l)
		}
	}
	if n := r.outboxPending(t); n != 0 {
		t.Errorf("outbox holds %d entries although every commit failed", n)
	}
	if !strings.Contains(e.logs.String(), "no space left on device") {
		t.Errorf("the failed commits were not ENOSPC")
	}
	waitFor(t, 10*time.Second, "the failed batch retried", func() bool { return counterValue(t, r.metrics.StoreErrors) >= 3 })

	// Space again: the refetched batch commits, every message is answered once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.mailpit.WaitMessages(t, n, 30*time.Second)
	time.Sleep(time.Second) // let a duplicate show
	replies := e.mailpit.Messages(t)
	seen := map[string]int{}
	for _, m := range replies {
		seen[strings.Trim(e.mailpit.Message(t, m.ID).Header("In-Reply-To"), "<>")]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("full-%d@acme.test", i)]; c != 1 {
			t.Errorf("message full-%d got %d replies after recovery, want exactly 1", i, c)
		}
	}
	if len(replies) != n {
		t.Errorf("Mailpit holds %d messages after recovery, want %d", len(replies), n)
	}
	waitFor(t, 10*time.Second, "all messages marked", func() bool {
		for _, uid := range uids {
			if !slices.Contains(e.dovecot.Keywords(t, "INBOX", uid), "$SupportdProcessed") {
				return false
			}
		}
		return true
	})
	for _, uid := range uids {
		l := r.ledger(t, uv, uid)
		if l == nil || l.Action != "acknowledge" || l.Quarantined || l.Duplicate {
			t.Errorf("uid %d ledger after recovery = %+v, want one acknowledgement", uid, l)
		}
	}
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
}

// tinyTmpfs mounts a tmpfs of the given size (needs root or CAP_SYS_ADMIN, as in
// CI) and unmounts it when the test ends. Without mount rights the test fails in
// CI and is skipped elsewhere.
func tinyTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "supportd-storefull-")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		os.Remove(dir)
		msg := fmt.Sprintf("mount -t tmpfs -o size=%s %s: %v (a real disk-full needs root or CAP_SYS_ADMIN)", size, dir, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipped outside CI")
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
		os.Remove(dir)
	})
	return dir
}

// fillFilesystem writes path until the filesystem holding it is full.
func fillFilesystem(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	// The last partial pages: small writes until nothing fits.
	small := make([]byte, 512)
	for {
		if _, err := f.Write(small); err != nil {
			break
		}
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
