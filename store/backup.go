package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store to w from one read
// transaction (the daemon keeps running and writing meanwhile) and returns the
// number of bytes written. The copy is a valid bbolt file.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup store: %w", err)
	}
	return n, nil
}

// BackupFile writes a consistent copy to path (mode 0600) through a temporary
// file in the same directory, fsync'd and renamed: path holds either the old
// content or the complete new copy. It refuses to overwrite the store itself.
func (db *DB) BackupFile(path string) error {
	if same, err := SamePath(path, db.path); err != nil {
		return fmt.Errorf("backup store: %w", err)
	} else if same {
		return fmt.Errorf("backup store: %w: %s is the store itself", ErrInvalid, path)
	}
	err := writeFileAtomic(path, func(f *os.File) error {
		_, err := db.Backup(f)
		return err
	})
	if err != nil {
		return fmt.Errorf("backup store to %s: %w", path, err)
	}
	return nil
}

// SamePath reports whether a and b name the same file (when a does not exist
// yet: the same absolute path). Backups use it to refuse overwriting a store.
func SamePath(a, b string) (bool, error) {
	ia, err := os.Stat(a)
	if errors.Is(err, os.ErrNotExist) {
		aa, err1 := filepath.Abs(a)
		bb, err2 := filepath.Abs(b)
		return err1 == nil && err2 == nil && aa == bb, nil
	}
	if err != nil {
		return false, err
	}
	ib, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(ia, ib), nil
}
