package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 13 item 8: the store refuses a directory other users can write, and
// never follows a link planted among its own files.
func TestOpenRefusesUnsafeDirectory(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(dir string) error
		want  string
	}{
		{"world-writable", func(dir string) error { return os.Chmod(dir, 0o777) }, "writable by other users"},
		{"group-writable", func(dir string) error { return os.Chmod(dir, 0o770) }, "writable by other users"},
		{"sticky and world-writable like /tmp", func(dir string) error { return os.Chmod(dir, 0o1777) }, "writable by other users"},
		{"owned by another user", func(dir string) error { return os.Chown(dir, 65534, 65534) }, "owned by uid 65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "owned by another user" && os.Geteuid() != 0 {
				if os.Getenv("CI") != "" {
					t.Fatal("chown needs root, and CI runs as root")
				}
				t.Skip("chown needs root; skipped outside CI")
			}
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			db, err := Open(filepath.Join(dir, "s.db"), &Options{NoSync: true})
			if err == nil {
				db.Close()
				t.Fatal("opened a store in an unsafe directory")
			}
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q, want ErrUnsafe naming %s and %q", err, dir, tt.want)
			}
			if _, err := os.Lstat(filepath.Join(dir, "s.db")); !os.IsNotExist(err) {
				t.Fatalf("a store file was created: %v", err)
			}
		})
	}
	// A read-only open writes nothing and is allowed (explain, backup).
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "s.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	os.Chmod(dir, 0o777)
	db, err = Open(filepath.Join(dir, "s.db"), &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	db.Close()
}

func TestAdoptRawNeverFollowsALink(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "s.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	victim := filepath.Join(t.TempDir(), "root-owned.conf")
	if err := os.WriteFile(victim, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(victim, 0o644)
	spool := filepath.Join(dir, "uv1-uid7.eml")
	if err := os.Symlink(victim, spool); err != nil {
		t.Fatal(err)
	}
	err = db.AdoptRaw("INBOX/1/7", spool)
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("AdoptRaw of a link: %v, want ErrUnsafe", err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the link's target was changed: %v %v", fi.Mode(), err)
	}
	ents, _ := os.ReadDir(db.RawDir())
	for _, e := range ents {
		if e.Type()&os.ModeSymlink != 0 {
			t.Fatalf("a link %s was kept in the raw directory", e.Name())
		}
	}
	if _, err := db.OpenRaw("INBOX/1/7"); err == nil {
		t.Fatal("a raw copy exists")
	}
	// A raw copy swapped for a link afterwards is not read through it.
	if err := db.SaveRaw("INBOX/1/8", strings.NewReader("Subject: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	p := db.rawPath("INBOX/1/8")
	os.Remove(p)
	if err := os.Symlink(victim, p); err != nil {
		t.Fatal(err)
	}
	if f, err := db.OpenRaw("INBOX/1/8"); err == nil {
		f.Close()
		t.Fatal("OpenRaw followed a link")
	}
}

func TestPrivateDirRefusesALink(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	os.Chmod(elsewhere, 0o755)
	planted := filepath.Join(dir, ".supportd-spool")
	if err := os.Symlink(elsewhere, planted); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(planted); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("PrivateDir of a link: %v", err)
	}
	if fi, _ := os.Stat(elsewhere); fi.Mode().Perm() != 0o755 {
		t.Fatalf("chmod went through the link: %v", fi.Mode())
	}
	// A real directory left with a loose mode is tightened.
	loose := filepath.Join(dir, "raw")
	os.Mkdir(loose, 0o755)
	if err := PrivateDir(loose); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, want 0700", fi.Mode().Perm())
	}
	// The raw directory of a store is one of them.
	db, err := Open(filepath.Join(dir, "s.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := os.Symlink(elsewhere, db.RawDir()); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveRaw("k", strings.NewReader("x")); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("SaveRaw into a linked raw directory: %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Fatalf("wrote through the link: %v", ents)
	}
}
