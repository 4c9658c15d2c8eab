package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultMaxRawBytes caps one raw message saved by SaveRaw.
const DefaultMaxRawBytes = 64 << 20

// ErrRawTooLarge: SaveRaw's input exceeded Options.MaxRawBytes.
var ErrRawTooLarge = errors.New("raw message larger than the limit")

// RawDir is the directory of the raw-mail audit copies: "<db path>.raw".
func (db *DB) RawDir() string { return db.rawDir }

// rawPath names the file of a key: the hex SHA-256 of the key (any string,
// e.g. a ledger key or MessageKey) plus ".eml", so keys need no escaping.
func (db *DB) rawPath(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(db.rawDir, hex.EncodeToString(sum[:])+".eml")
}

// SaveRaw stores the bytes of r as the audit copy for key (replacing an older
// one), in a 0600 file of the 0700 directory RawDir, written to a temporary
// file, fsync'd and renamed, so a reader never sees half a file. At most
// Options.MaxRawBytes are accepted: beyond that nothing is kept and the error
// wraps ErrRawTooLarge.
func (db *DB) SaveRaw(key string, r io.Reader) error {
	if err := PrivateDir(db.rawDir); err != nil {
		return fmt.Errorf("save raw: %w", err)
	}
	err := writeFileAtomic(db.rawPath(key), func(f *os.File) error {
		n, err := io.Copy(f, io.LimitReader(r, db.maxRaw+1))
		if err != nil {
			return err
		}
		if n > db.maxRaw {
			return fmt.Errorf("%w (%d bytes)", ErrRawTooLarge, db.maxRaw)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save raw %q: %w", truncate(key), err)
	}
	return nil
}

// OpenRaw opens the audit copy of key; the error wraps fs.ErrNotExist if there
// is none.
func (db *DB) OpenRaw(key string) (*os.File, error) {
	f, err := openNoFollow(db.rawPath(key))
	if err != nil {
		return nil, fmt.Errorf("open raw %q: %w", truncate(key), err)
	}
	return f, nil
}

// PruneRaw deletes audit copies last written before olderThan (and leftover
// temporary files), returning how many files it removed.
func (db *DB) PruneRaw(olderThan time.Time) (int, error) {
	ents, err := os.ReadDir(db.rawDir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune raw: %w", err)
	}
	n := 0
	for _, de := range ents {
		name := de.Name()
		if !de.Type().IsRegular() || !(strings.HasSuffix(name, ".eml") || strings.Contains(name, ".tmp")) {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if !info.ModTime().Before(olderThan) {
			continue
		}
		if err := os.Remove(filepath.Join(db.rawDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, fmt.Errorf("prune raw: %w", err)
		}
		n++
	}
	return n, nil
}

// AdoptRaw makes the file at path (a spooled message on the same file system,
// a regular file of this process's user, not a link) the audit copy of key
// by renaming it into RawDir: no copy and no fsync per
// message, so keeping raw mail costs the daemon nearly nothing. A copy lost in a
// crash before the kernel wrote it back is still on the IMAP server. When path is
// on another file system it falls back to SaveRaw's copy.
func (db *DB) AdoptRaw(key, path string) error {
	if err := PrivateDir(db.rawDir); err != nil {
		return fmt.Errorf("adopt raw: %w", err)
	}
	// The spool file itself, never what a link in its place points to: it is
	// opened without following links and its mode set through that handle.
	f, err := openNoFollow(path)
	if err != nil {
		return fmt.Errorf("adopt raw: %w", err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("adopt raw: %w", err)
	}
	err = os.Rename(path, db.rawPath(key))
	if err == nil {
		return nil
	}
	var le *os.LinkError
	if !errors.As(err, &le) {
		return fmt.Errorf("adopt raw: %w", err)
	}
	return db.SaveRaw(key, f)
}
