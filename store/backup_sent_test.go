package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pendingWorld is a store with pending outbox entries for these Message-IDs
// and its acceptance log; it returns their outbox ids.
func pendingWorld(t *testing.T, msgids ...string) (*DB, *AcceptLog, map[string]uint64) {
	t.Helper()
	db := openTest(t)
	ids := map[string]uint64{}
	update(t, db, func(tx *Tx) error {
		for _, m := range msgids {
			id, err := tx.Enqueue(&OutboxEntry{MessageID: m, Kind: KindReply, To: []string{"a@x.test"}, Data: []byte("reply"), Created: t0, NextAttempt: t0})
			if err != nil {
				return err
			}
			ids[m] = id
		}
		return nil
	})
	l, err := db.OpenAcceptLog()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return db, l, ids
}

// restoreAndStart restores the archive into a new place and opens the store
// as the daemon's start does (Open, OpenAcceptLog, Replay); it returns the
// outbox states of ids.
func restoreAndStart(t *testing.T, archive string, ids map[string]uint64) map[string]string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored", "supportd.db")
	if _, err := RestoreFile(archive, dst); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, err := r.OpenAcceptLog()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Replay(r, time.Now()); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	view(t, r, func(tx *Tx) error {
		for m, id := range ids {
			e, err := tx.OutboxEntry(id)
			if err != nil {
				return err
			}
			states[m] = e.State
		}
		return nil
	})
	return states
}

// archiveEntry returns the content of one entry of an archive ("" and false
// when it has none).
func archiveEntry(t *testing.T, archive []byte, name string) (string, bool) {
	t.Helper()
	gr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b), true
		}
	}
}

// A reply the SMTP server accepted and the acceptance log holds, but the store
// has not recorded as sent yet, is sent in the restored store: a restore does
// not send it again. A write cut short in the log is left out.
func TestBackupCarriesAcceptanceLog(t *testing.T) {
	db, l, ids := pendingWorld(t, "<a@vendor.test>", "<b@vendor.test>")
	if err := l.Add("<a@vendor.test>"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(db.Path()+".sent", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("<b@vendor.te") // a write under way
	f.Close()
	path := filepath.Join(t.TempDir(), "b.supportd-backup")
	st, err := db.BackupFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 1 || !strings.Contains(st.String(), "1 logged SMTP acceptances") {
		t.Errorf("backup stats %q, want 1 logged acceptance", st)
	}
	archive, _ := os.ReadFile(path)
	if got, ok := archiveEntry(t, archive, backupSentFn); !ok || got != "<a@vendor.test>\n" {
		t.Errorf("%s in the archive: %q %v, want the complete line only", backupSentFn, got, ok)
	}
	if vst, err := VerifyBackupFile(path); err != nil || vst.Accepted != 1 {
		t.Errorf("verify: %+v %v", vst, err)
	}
	states := restoreAndStart(t, path, ids)
	if states["<a@vendor.test>"] != OutboxSent || states["<b@vendor.test>"] != OutboxPending {
		t.Errorf("restored outbox %v: want a@ sent (accepted), b@ pending", states)
	}
}

// A round that commits and empties the log while a backup is under way (its
// snapshot taken before the commit): Reset does not empty the log until the
// backup has read it, and neither Reset nor Add waits for the backup. The
// restored store has the reply sent.
func TestBackupHoldsBackAcceptLogReset(t *testing.T) {
	db, l, ids := pendingWorld(t, "<a@vendor.test>", "<c@vendor.test>")
	if err := l.Add("<a@vendor.test>"); err != nil {
		t.Fatal(err)
	}
	// The backup stops once it has copied its snapshot (a@ pending in it)
	// and ended its read transaction (a commit growing the file waits for
	// that: bbolt remaps it).
	entered, release := make(chan struct{}), make(chan struct{})
	db.backupHook = func() { close(entered); <-release }
	var archive bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := db.WriteBackup(&archive)
		done <- err
	}()
	<-entered

	// The send round ends: its acceptances are committed, then the log is
	// emptied; the next round logs c@.
	update(t, db, func(tx *Tx) error { return tx.MarkSent(ids["<a@vendor.test>"], t0) })
	returned := make(chan error, 1)
	go func() {
		err := l.Reset()
		if err == nil {
			err = l.Add("<c@vendor.test>")
		}
		returned <- err
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Reset or Add waited for the backup (sending would stall)")
	}
	if b, _ := os.ReadFile(db.Path() + ".sent"); !strings.Contains(string(b), "<a@vendor.test>\n") {
		t.Errorf("the log was emptied during the backup: %q", b)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := archiveEntry(t, archive.Bytes(), backupSentFn); got != "<a@vendor.test>\n<c@vendor.test>\n" {
		t.Errorf("%s in the archive: %q, want a@ and c@", backupSentFn, got)
	}
	path := filepath.Join(t.TempDir(), "b.supportd-backup")
	if err := os.WriteFile(path, archive.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	states := restoreAndStart(t, path, ids)
	if states["<a@vendor.test>"] != OutboxSent || states["<c@vendor.test>"] != OutboxSent {
		t.Errorf("restored outbox %v: want both sent", states)
	}
	// The backup is over: the next Reset empties the log.
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(db.Path() + ".sent"); err != nil || fi.Size() != 0 {
		t.Errorf("log after the backup's Reset: %v %v, want empty", fi, err)
	}
}

// A backup made before the archive carried the acceptance log (version 1,
// testdata made by that code) still verifies and restores.
func TestRestoreVersion1Archive(t *testing.T) {
	const v1 = "testdata/backup-v1.supportd-backup"
	archive, err := os.ReadFile(v1)
	if err != nil {
		t.Fatal(err)
	}
	if hdr, _ := archiveEntry(t, archive, backupHeaderFn); !strings.Contains(hdr, `"version":1`) {
		t.Fatalf("%s is not a version 1 archive: %s", v1, hdr)
	}
	if _, ok := archiveEntry(t, archive, backupSentFn); ok {
		t.Fatalf("%s has a %s", v1, backupSentFn)
	}
	if _, err := VerifyBackupFile(v1); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "supportd.db")
	st, err := RestoreFile(v1, dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.RawFiles != 1 || st.Accepted != 0 {
		t.Errorf("restore stats %+v", st)
	}
	r, err := Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	view(t, r, func(tx *Tx) error {
		_, e, err := tx.outboxByMessageID("<v1@vendor.test>")
		if err != nil || e == nil || e.State != OutboxPending {
			t.Errorf("the version 1 archive's outbox entry: %+v %v, want pending", e, err)
		}
		return nil
	})
	if _, err := os.Stat(dst + ".sent"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("restore left an acceptance log: %v", err)
	}
}

// An acceptance log beside the restore target belongs to another store: a
// non-empty one is refused (and kept), an empty one is no obstacle.
func TestRestoreRefusesLeftoverAcceptanceLog(t *testing.T) {
	_, path := backupWorld(t)
	dst := filepath.Join(t.TempDir(), "supportd.db")
	if err := os.WriteFile(dst+".sent", []byte("<old@vendor.test>\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := RestoreFile(path, dst)
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), dst+".sent") {
		t.Errorf("restore beside a non-empty acceptance log: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused restore created the store")
	}
	if b, _ := os.ReadFile(dst + ".sent"); string(b) != "<old@vendor.test>\n" {
		t.Errorf("the acceptance log was changed: %q", b)
	}
	if err := os.WriteFile(dst+".sent", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreFile(path, dst); err != nil {
		t.Errorf("restore beside an empty acceptance log: %v", err)
	}
}
