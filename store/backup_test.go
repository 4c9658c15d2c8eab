package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawFiles reads a raw copies directory: name → content, mode and time.
func rawFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, de := range ents {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := de.Info()
		m[de.Name()] = fmt.Sprintf("%v %d %s", fi.Mode().Perm(), fi.ModTime().Unix(), b)
	}
	return m
}

// backupWorld is a store with customers, tickets, ledger, outbox and raw
// copies (some of them old), backed up to a file.
func backupWorld(t *testing.T) (*DB, string) {
	t.Helper()
	db := openTest(t)
	if _, err := db.ImportCustomers(strings.NewReader(goodCSV), nil); err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error {
		for i := 1; i <= 20; i++ {
			id := fmt.Sprintf("CS-%06d", i)
			if err := tx.PutTicket(&Ticket{ID: id, Subject: fmt.Sprintf("problem %d", i), State: StateOpen, Created: t0}); err != nil {
				return err
			}
			if err := tx.PutLedger(&LedgerEntry{Mailbox: "INBOX", UIDValidity: 7, UID: uint32(i), MessageID: fmt.Sprintf("<m%d@x.test>", i), Ticket: id, Action: "acknowledge", Processed: t0}); err != nil {
				return err
			}
			if _, err := tx.Enqueue(&OutboxEntry{MessageID: fmt.Sprintf("<r%d@vendor.test>", i), Kind: KindReply, Ticket: id, From: "support@vendor.test",
				To: []string{"a@x.test"}, Data: []byte(strings.Repeat("reply ", 100)), Created: t0, NextAttempt: t0}); err != nil {
				return err
			}
		}
		return tx.SetCheckpoint("INBOX", 7, 20)
	})
	for i := 1; i <= 20; i++ {
		if err := db.SaveRaw(fmt.Sprintf("INBOX/7/%d", i), strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\n%s", i, strings.Repeat("x", i*1000)))); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-30 * 24 * time.Hour).Truncate(time.Second)
	names, _ := db.rawNames()
	if err := os.Chtimes(filepath.Join(db.RawDir(), names[0]), old, old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.supportd-backup")
	st, err := db.BackupFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.RawFiles != 20 || st.StoreBytes == 0 {
		t.Fatalf("backup stats %+v", st)
	}
	return db, path
}

// Backup then restore gives the same records, byte for byte, and the same raw
// copies with their modes and file times (retention counts from them).
func TestBackupRestoreIdentical(t *testing.T) {
	db, path := backupWorld(t)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v %v, want 0600", fi.Mode(), err)
	}
	if _, err := VerifyBackupFile(path); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "new", "supportd.db")
	st, err := RestoreFile(path, dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.RawFiles != 20 {
		t.Errorf("restored %d raw copies, want 20", st.RawFiles)
	}
	r, err := Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want, got := dump(t, db), dump(t, r)
	if strings.Count(want, "\n") < 100 {
		t.Fatalf("only %d lines in the original's dump", strings.Count(want, "\n"))
	}
	if got != want {
		t.Errorf("the restored store differs from the original (buckets, sequences, keys or values)")
	}
	wr, gr := rawFiles(t, db.RawDir()), rawFiles(t, r.RawDir())
	if len(gr) != len(wr) {
		t.Errorf("restored %d raw copies, original %d", len(gr), len(wr))
	}
	for k, v := range wr {
		if gr[k] != v {
			t.Errorf("raw copy %s differs after restore (mode, time or bytes)", k)
		}
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored store mode %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(r.RawDir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("restored raw directory mode %v %v", fi.Mode(), err)
	}
	if f, err := r.OpenRaw("INBOX/7/3"); err != nil {
		t.Errorf("raw copy by key after restore: %v", err)
	} else {
		f.Close()
	}
}

// Restore never writes over data: an existing store file or a non-empty raw
// directory is refused and left as it was.
func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	_, path := backupWorld(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "supportd.db")
	if err := os.WriteFile(dst, []byte("someone's store"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreFile(path, dst); !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("restore over an existing store: %v", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "someone's store" {
		t.Error("the existing store was changed")
	}
	os.Remove(dst)
	if err := os.MkdirAll(dst+".raw", 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dst+".raw", "x.eml"), []byte("x"), 0o600)
	if _, err := RestoreFile(path, dst); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("restore beside a non-empty raw directory: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused restore created the store")
	}
	// An empty raw directory and an empty store file count as empty.
	os.Remove(filepath.Join(dst+".raw", "x.eml"))
	os.WriteFile(dst, nil, 0o600)
	if _, err := RestoreFile(path, dst); err != nil {
		t.Errorf("restore into an empty file and directory: %v", err)
	}
}

// restore writes the store where run opens it: a directory other users can
// write into is refused there as Open refuses it.
func TestRestoreRefusesUnsafeDirectory(t *testing.T) {
	_, path := backupWorld(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "supportd.db")
	if _, err := RestoreFile(path, dst); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("restore into a world-writable directory: %v, want ErrUnsafe", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused restore left %v", ents)
	}
}

// A truncated, corrupted, tampered or foreign file is refused with an error
// that says so, and nothing appears at the store path.
func TestRestoreRefusesBadBackups(t *testing.T) {
	_, path := backupWorld(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type bad struct {
		name string
		data []byte
	}
	var cases []bad
	for _, cut := range []int{0, 1, 10, 100, len(good) / 4, len(good) / 2, len(good) - 200, len(good) - 9, len(good) - 4, len(good) - 1} {
		cases = append(cases, bad{fmt.Sprintf("truncated to %d of %d bytes", cut, len(good)), good[:cut]})
	}
	for _, at := range []int{20, len(good) / 3, len(good) / 2, len(good) - 30, len(good) - 6} {
		b := bytes.Clone(good)
		b[at] ^= 0x5a
		cases = append(cases, bad{fmt.Sprintf("byte %d flipped", at), b})
	}
	// Valid gzip and tar, but a byte of the store changed: only the manifest
	// tells.
	cases = append(cases, bad{"store changed, gzip and tar intact", rewrite(t, good, func(name string, b []byte) ([]byte, bool) {
		if name == backupStoreFn {
			b[len(b)/2] ^= 1
		}
		return b, true
	})})
	cases = append(cases, bad{"a raw copy left out", rewrite(t, good, func(name string, b []byte) ([]byte, bool) {
		return b, !strings.HasPrefix(name, rawPrefix) || !strings.HasSuffix(name, "0.eml") && !strings.HasSuffix(name, "1.eml")
	})})
	cases = append(cases, bad{"no manifest", rewrite(t, good, func(name string, b []byte) ([]byte, bool) { return b, name != backupManifest })})
	cases = append(cases, bad{"the acceptance log left out", rewrite(t, good, func(name string, b []byte) ([]byte, bool) { return b, name != backupSentFn })})
	cases = append(cases, bad{"a raw copy after the acceptance log", rewrite(t, good, func(name string, b []byte) ([]byte, bool) { return b, true }, rawPrefix+strings.Repeat("ab", 32)+".eml")})
	cases = append(cases, bad{"a newer archive version", rewrite(t, good, func(name string, b []byte) ([]byte, bool) {
		if name == backupHeaderFn {
			b = bytes.Replace(b, []byte(`"version":2`), []byte(`"version":3`), 1)
		}
		return b, true
	})})
	cases = append(cases, bad{"path traversal", rewrite(t, good, func(name string, b []byte) ([]byte, bool) { return b, true }, "raw/../../evil.eml")})
	store, _ := os.ReadFile(filepath.Join(t.TempDir(), "nothing"))
	cases = append(cases, bad{"empty file", store})
	cases = append(cases, bad{"a bare bbolt file", bboltFile(t)})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.supportd-backup")
			os.WriteFile(in, c.data, 0o600)
			dst := filepath.Join(dir, "restore", "supportd.db")
			_, err := RestoreFile(in, dst)
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("restore: %v, want ErrBadBackup", err)
			}
			if !strings.Contains(err.Error(), "not a complete supportd backup") {
				t.Errorf("error does not say what is wrong: %v", err)
			}
			if _, verr := VerifyBackupFile(in); !errors.Is(verr, ErrBadBackup) {
				t.Errorf("verify: %v, want ErrBadBackup", verr)
			}
			left, _ := os.ReadDir(filepath.Dir(dst))
			if len(left) != 0 {
				t.Errorf("a refused restore left %d entries beside the store path (%s…)", len(left), left[0].Name())
			}
			t.Log(err)
		})
	}
}

// rewrite re-packs an archive, passing each entry through edit (which may
// drop it), optionally adding extra entries before the manifest.
func rewrite(t *testing.T, archive []byte, edit func(name string, b []byte) ([]byte, bool), extra ...string) []byte {
	t.Helper()
	gr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gr)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == backupManifest {
			for _, name := range extra {
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 1, Mode: 0o600})
				tw.Write([]byte("x"))
			}
		}
		b, keep := edit(h.Name, b)
		if !keep {
			continue
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	gw.Close()
	return out.Bytes()
}

func bboltFile(t *testing.T) []byte {
	db := openTest(t)
	var b bytes.Buffer
	if _, err := db.Backup(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A backup taken while batches commit and adopt their raw copies holds the
// raw copy of every ledger entry in its snapshot (HoldRawCommit).
func TestBackupSeesEachBatchWithItsRawCopies(t *testing.T) {
	db := openTest(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			release := db.HoldRawCommit()
			err := db.Update(func(tx *Tx) error {
				return tx.PutLedger(&LedgerEntry{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i), MessageID: fmt.Sprintf("<%d@x>", i), Action: "acknowledge", Processed: t0})
			})
			if err == nil {
				time.Sleep(time.Millisecond) // the adoption comes after the commit
				err = db.SaveRaw(fmt.Sprintf("INBOX/1/%d", i), strings.NewReader(fmt.Sprintf("message %d", i)))
			}
			release()
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for round := 0; round < 6; round++ {
		time.Sleep(7 * time.Millisecond)
		path := filepath.Join(t.TempDir(), "b")
		if _, err := db.BackupFile(path); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "s.db")
		st, err := RestoreFile(path, dst)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		view(t, r, func(tx *Tx) error {
			return tx.ForEachRecord(func(b string, k, v []byte) error {
				if b != "ledger" {
					return nil
				}
				n++
				uid := uint32(k[len(k)-4])<<24 | uint32(k[len(k)-3])<<16 | uint32(k[len(k)-2])<<8 | uint32(k[len(k)-1])
				f, err := r.OpenRaw(fmt.Sprintf("INBOX/1/%d", uid))
				if err != nil {
					t.Errorf("round %d: ledger uid %d has no raw copy in the backup", round, uid)
					return nil
				}
				f.Close()
				return nil
			})
		})
		r.Close()
		if st.RawFiles < n {
			t.Errorf("round %d: %d ledger entries, %d raw copies", round, n, st.RawFiles)
		}
	}
}

// blockingWriter blocks its first Write until release is closed.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	once    bool
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.started)
		<-w.release
	}
	return len(p), nil
}

// A backup streamed to a client that stops reading holds its read
// transaction open; commits that grow the store meanwhile go through (bbolt
// remaps a growing file only after every read transaction has ended, so
// without room in the mapping they would wait for the client).
func TestSlowBackupDoesNotHoldUpCommits(t *testing.T) {
	db := openTest(t)
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	backupDone := make(chan error, 1)
	go func() {
		_, err := db.Backup(w)
		backupDone <- err
	}()
	<-w.started // the snapshot's read transaction is open

	grew := make(chan error, 1)
	go func() {
		data := []byte(strings.Repeat("x", 64<<10))
		for i := range 256 { // 16 MiB: past any mapping bbolt grows to from a small file
			err := db.Update(func(tx *Tx) error {
				_, err := tx.Enqueue(&OutboxEntry{MessageID: fmt.Sprintf("<grow%d@vendor.test>", i), Kind: KindReply, From: "support@vendor.test",
					To: []string{"a@x.test"}, Data: data, Created: t0, NextAttempt: t0})
				return err
			})
			if err != nil {
				grew <- err
				return
			}
		}
		grew <- nil
	}()
	select {
	case err := <-grew:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		close(w.release)
		<-grew
		t.Fatal("commits that grow the store waited for the backup's read transaction")
	}
	close(w.release)
	if err := <-backupDone; err != nil {
		t.Fatal(err)
	}
}
