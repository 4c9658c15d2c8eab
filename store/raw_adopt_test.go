package store

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAdoptRawMovesTheSpoolFile(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "s.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	spool := filepath.Join(dir, "spool-1")
	if err := os.WriteFile(spool, []byte("Subject: hi\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := db.AdoptRaw("INBOX/1/7", spool); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Fatalf("spool file still there: %v", err)
	}
	f, err := db.OpenRaw("INBOX/1/7")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	st, _ := f.Stat()
	f.Close()
	if string(b) != "Subject: hi\r\n\r\nbody\r\n" || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit copy %q mode %v", b, st.Mode().Perm())
	}
	if n, err := db.PruneRaw(time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneRaw removed %d (%v), want 1", n, err)
	}
}
