package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the bbolt file alone to w from one read
// transaction (the daemon keeps running and writing meanwhile) and returns the
// number of bytes written. The copy is a valid bbolt file: the snapshot the
// reading commands open while `run` holds the store. A backup to keep is
// WriteBackup's archive, which holds the raw copies too.
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

// The backup archive (doc.go, "Backup and restore"): a gzip-compressed tar of
//
//	supportd-backup.json   backupHeader
//	store.db               the bbolt file, from one read transaction
//	raw/<64 hex>.eml       each raw audit copy (mode 0600, its file time kept)
//	store.sent             the acceptance log (AcceptLog), read last: its
//	                       complete lines, maybe none (from version 2 on)
//	MANIFEST.json          backupManifest: name, size and SHA-256 of each entry
//
// in this order. The manifest comes last, so a cut archive has none; its
// sums and gzip's CRC catch corruption; restore checks all of it, and the
// store with bbolt's consistency check, before writing anything in place.
// Restore reads version 1 too (no store.sent); an older supportd refuses
// version 2 by its number.
const (
	backupFormat     = "supportd-backup"
	backupVersion    = 2
	backupMinVersion = 1
	backupHeaderFn   = "supportd-backup.json"
	backupStoreFn    = "store.db"
	backupSentFn     = "store.sent"
	backupManifest   = "MANIFEST.json"
	rawPrefix        = "raw/"
)

var rawEntryRE = regexp.MustCompile(`^raw/[0-9a-f]{64}\.eml$`)

type backupHeader struct {
	Format        string    `json:"format"`
	Version       int       `json:"version"`
	Created       time.Time `json:"created"`
	SchemaVersion int       `json:"schema_version"`
}

type manifestEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type manifest struct {
	Files []manifestEntry `json:"files"`
}

// BackupStats describe an archive.
type BackupStats struct {
	StoreBytes int64     // size of the bbolt file
	RawFiles   int       // raw audit copies
	RawBytes   int64     // their total size
	Accepted   int       // Message-IDs in the acceptance log (store.sent)
	Created    time.Time // when the backup was taken
}

func (s BackupStats) String() string {
	accepted := ""
	if s.Accepted > 0 {
		accepted = fmt.Sprintf(", %d logged SMTP acceptances", s.Accepted)
	}
	return fmt.Sprintf("store %d bytes, %d raw copies (%d bytes)%s, taken %s", s.StoreBytes, s.RawFiles, s.RawBytes, accepted, s.Created.Format(time.RFC3339))
}

// ErrBadBackup: an archive is truncated, corrupt or not a supportd backup.
var ErrBadBackup = errors.New("not a complete supportd backup")

// HoldRawCommit is taken (shared) by the daemon around a batch's commit and
// the adoption of its raw copies that follows; WriteBackup takes it
// exclusively while it starts its snapshot and lists the raw copies. So a
// backup holds, for every message its store snapshot has, that message's raw
// copy. Call the returned function to release it.
func (db *DB) HoldRawCommit() func() {
	db.rawGate.RLock()
	return db.rawGate.RUnlock
}

// WriteBackup writes the backup archive of the store and its raw copies to w,
// while the store stays open for writing.
func (db *DB) WriteBackup(w io.Writer) (BackupStats, error) {
	st, err := db.writeBackup(w)
	if err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	return st, nil
}

// The acceptance log covers what the snapshot cannot: an outbox entry pending
// in the snapshot whose message a server had accepted. Let T0 be the start of
// the snapshot's read transaction. Such an acceptance was logged (Add) either
// after T0, or before T0 with its MarkSent commit after T0. The log is only
// emptied with sentGate held exclusively (AcceptLog.truncateLocked), and
// writeBackup holds it shared from before T0 until it has read the log, at
// the end (after the store and the raw copies): nothing logged since before
// T0 is emptied before the read, so the log as read holds every such
// acceptance logged by then. (An emptying before T0 came after its round's
// commit: those entries are sent in the snapshot.) Restore marks them sent.
// Lock order: sentGate, rawGate, bbolt; the daemon empties the log after its
// commits return, never inside a transaction.
func (db *DB) writeBackup(w io.Writer) (BackupStats, error) {
	var st BackupStats
	db.sentGate.RLock()
	defer db.sentGate.RUnlock()
	db.rawGate.Lock()
	tx, err := db.bolt.Begin(false)
	var names []string
	if err == nil {
		names, err = db.rawNames()
	}
	db.rawGate.Unlock()
	if err != nil {
		if tx != nil {
			_ = tx.Rollback()
		}
		return st, err
	}
	defer func() { _ = tx.Rollback() }()

	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	var man manifest
	now := time.Now().UTC()
	st.Created = now
	put := func(name string, size int64, mod time.Time, body func(io.Writer) (int64, error)) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: mod, Format: tar.FormatPAX}); err != nil {
			return err
		}
		h := sha256.New()
		n, err := body(io.MultiWriter(tw, h))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if n != size {
			return fmt.Errorf("%s: wrote %d bytes, expected %d", name, n, size)
		}
		man.Files = append(man.Files, manifestEntry{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	putBytes := func(name string, b []byte) error {
		return put(name, int64(len(b)), now, func(w io.Writer) (int64, error) { n, err := w.Write(b); return int64(n), err })
	}
	hdr, _ := json.Marshal(backupHeader{Format: backupFormat, Version: backupVersion, Created: now, SchemaVersion: db.version})
	if err := putBytes(backupHeaderFn, hdr); err != nil {
		return st, err
	}
	st.StoreBytes = tx.Size()
	if err := put(backupStoreFn, tx.Size(), now, tx.WriteTo); err != nil {
		return st, err
	}
	_ = tx.Rollback() // the raw copies need no transaction
	if db.backupHook != nil {
		db.backupHook()
	}
	for _, name := range names {
		f, err := os.Open(filepath.Join(db.rawDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // pruned since the listing: past its retention
		}
		if err != nil {
			return st, err
		}
		fi, err := f.Stat()
		if err == nil {
			err = put(rawPrefix+name, fi.Size(), fi.ModTime(), func(w io.Writer) (int64, error) { return io.Copy(w, f) })
		}
		f.Close()
		if err != nil {
			return st, err
		}
		st.RawFiles++
		st.RawBytes += fi.Size()
	}
	sent, err := db.readAcceptLog()
	if err != nil {
		return st, err
	}
	st.Accepted = len(acceptedIDs(sent))
	if err := putBytes(backupSentFn, sent); err != nil {
		return st, err
	}
	mb, _ := json.Marshal(man)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: backupManifest, Size: int64(len(mb)), Mode: 0o600, ModTime: now, Format: tar.FormatPAX}); err != nil {
		return st, err
	}
	if _, err := tw.Write(mb); err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, err
	}
	return st, gz.Close()
}

// readAcceptLog reads the complete lines of the store's acceptance log (none
// when there is no log).
func (db *DB) readAcceptLog() ([]byte, error) {
	data, err := os.ReadFile(db.path + ".sent")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("acceptance log: %w", err)
	}
	return completeLines(data), nil
}

// rawNames lists the raw copies (not temporary files), sorted.
func (db *DB) rawNames() ([]string, error) {
	ents, err := os.ReadDir(db.rawDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range ents {
		if de.Type().IsRegular() && rawEntryRE.MatchString(rawPrefix+de.Name()) {
			names = append(names, de.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// BackupFile writes the backup archive to path (mode 0600) through a
// temporary file in the same directory, fsync'd and renamed: path holds
// either its old content or the complete new archive. It refuses to
// overwrite the store itself.
func (db *DB) BackupFile(path string) (BackupStats, error) {
	var st BackupStats
	if same, err := SamePath(path, db.path); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	} else if same {
		return st, fmt.Errorf("backup: %w: %s is the store itself", ErrInvalid, path)
	}
	err := writeFileAtomic(path, func(f *os.File) error {
		var err error
		st, err = db.writeBackup(f)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("backup to %s: %w", path, err)
	}
	return st, nil
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

// readBackup reads and checks a whole archive from r, handing each data entry
// (store.db, the raw copies, store.sent) to file, which must consume it. It
// fails with an error wrapping ErrBadBackup when the archive is truncated,
// corrupt, out of order or not a supportd backup.
func readBackup(r io.Reader, file func(name string, hdr *tar.Header, body io.Reader) error) (BackupStats, error) {
	var st BackupStats
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadBackup}, a...)...)
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return st, bad("not gzip-compressed (%v)", err)
	}
	tr := tar.NewReader(gz)
	seen := map[string]manifestEntry{}
	var order []string
	var man *manifest
	version := 0
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, bad("entry %d: %v (truncated or corrupt)", i+1, err)
		}
		if man != nil {
			return st, bad("entry %q after the manifest", h.Name)
		}
		if _, ok := seen[backupSentFn]; ok && h.Name != backupManifest {
			return st, bad("entry %q after %s", h.Name, backupSentFn)
		}
		if h.Typeflag != tar.TypeReg || h.Size < 0 {
			return st, bad("entry %q is not a regular file", h.Name)
		}
		if _, dup := seen[h.Name]; dup {
			return st, bad("entry %q twice", h.Name)
		}
		sum := sha256.New()
		body := io.TeeReader(tr, sum)
		switch {
		case i == 0 && h.Name != backupHeaderFn:
			return st, bad("it starts with %q, not %s", h.Name, backupHeaderFn)
		case h.Name == backupHeaderFn:
			var bh backupHeader
			if err := decodeSmall(body, h.Size, &bh); err != nil {
				return st, bad("%s: %v", h.Name, err)
			}
			if bh.Format != backupFormat {
				return st, bad("format %q", bh.Format)
			}
			if bh.Version < backupMinVersion || bh.Version > backupVersion {
				return st, fmt.Errorf("%w: archive version %d, this supportd reads versions %d to %d", ErrBadBackup, bh.Version, backupMinVersion, backupVersion)
			}
			version = bh.Version
			st.Created = bh.Created
		case h.Name == backupManifest:
			man = &manifest{}
			if err := decodeSmall(tr, h.Size, man); err != nil {
				return st, bad("%s: %v", h.Name, err)
			}
			continue
		case h.Name == backupSentFn && version >= 2:
			lines := &lineCounter{r: body}
			if err := file(h.Name, h, lines); err != nil {
				return st, bad("%s: %v (truncated or corrupt)", h.Name, err)
			}
			if _, err := io.Copy(io.Discard, lines); err != nil {
				return st, bad("%s: %v (truncated or corrupt)", h.Name, err)
			}
			st.Accepted = lines.n
		case h.Name == backupStoreFn || rawEntryRE.MatchString(h.Name):
			if h.Name == backupStoreFn && i != 1 {
				return st, bad("%s is not the second entry", h.Name)
			}
			if err := file(h.Name, h, body); err != nil {
				if errors.Is(err, ErrBadBackup) {
					return st, err
				}
				return st, bad("%s: %v (truncated or corrupt)", h.Name, err)
			}
			if h.Name == backupStoreFn {
				st.StoreBytes = h.Size
			} else {
				st.RawFiles++
				st.RawBytes += h.Size
			}
		default:
			return st, bad("unexpected entry %q", h.Name)
		}
		// Whatever the entry's reader left is read here, for the sum.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return st, bad("%s: %v (truncated or corrupt)", h.Name, err)
		}
		seen[h.Name] = manifestEntry{Name: h.Name, Size: h.Size, SHA256: hex.EncodeToString(sum.Sum(nil))}
		order = append(order, h.Name)
	}
	if man == nil {
		return st, bad("no %s: the archive is truncated", backupManifest)
	}
	// The gzip trailer (CRC-32 and length) is checked at the end of the stream.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return st, bad("compressed stream: %v (truncated or corrupt)", err)
	}
	if _, ok := seen[backupStoreFn]; !ok {
		return st, bad("no %s", backupStoreFn)
	}
	if _, ok := seen[backupSentFn]; !ok && version >= 2 {
		return st, bad("no %s", backupSentFn)
	}
	if len(man.Files) != len(order) {
		return st, bad("the manifest lists %d files, the archive holds %d", len(man.Files), len(order))
	}
	for i, m := range man.Files {
		got := seen[order[i]]
		if m != got {
			return st, bad("%s does not match the manifest (size %d, sha256 %s; manifest: %s, %d, %s)", order[i], got.Size, got.SHA256, m.Name, m.Size, m.SHA256)
		}
	}
	return st, nil
}

// lineCounter counts the newlines read through it.
type lineCounter struct {
	r io.Reader
	n int
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += bytes.Count(p[:n], []byte("\n"))
	return n, err
}

// decodeSmall decodes the JSON of an entry of at most 16 MiB.
func decodeSmall(r io.Reader, size int64, v any) error {
	if size > 16<<20 {
		return fmt.Errorf("%d bytes", size)
	}
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// VerifyBackupFile reads the whole archive at path and checks it as restore
// would (format, every SHA-256 of the manifest, the gzip checksum), without
// writing anything.
func VerifyBackupFile(path string) (BackupStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return BackupStats{}, fmt.Errorf("verify backup: %w", err)
	}
	defer f.Close()
	st, err := readBackup(f, func(string, *tar.Header, io.Reader) error { return nil })
	if err != nil {
		return st, fmt.Errorf("backup %s: %w", path, err)
	}
	return st, nil
}

// ErrNotEmpty: restore was pointed at a store path that holds data.
var ErrNotEmpty = errors.New("not empty")

// RestoreFile rebuilds the store at storePath and its raw copies
// (storePath + ".raw") from the archive at backupPath. storePath must not
// exist (or be an empty file), the raw directory must be absent or empty, and
// so must the acceptance log storePath + ".sent" (an old store's log would be
// replayed into the restored one). The archive is unpacked beside storePath
// and checked completely (manifest sums, gzip checksum, bbolt's consistency
// check, schema version) before anything is moved into place; when a check
// fails nothing at storePath changes and the error wraps ErrBadBackup. The
// archive's acceptance log is applied to the unpacked store before that (see
// prepareRestoredStore).
func RestoreFile(backupPath, storePath string) (BackupStats, error) {
	f, err := os.Open(backupPath)
	if err != nil {
		return BackupStats{}, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	st, err := restore(f, storePath)
	if err != nil {
		return st, fmt.Errorf("restore %s into %s: %w", backupPath, storePath, err)
	}
	return st, nil
}

func restore(r io.Reader, storePath string) (BackupStats, error) {
	rawDir := storePath + ".raw"
	if err := checkEmptyTarget(storePath, rawDir); err != nil {
		return BackupStats{}, err
	}
	dir := filepath.Dir(storePath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return BackupStats{}, err
	}
	// The restored store is written where run will open it: a directory
	// another user could write into is refused here as it is there.
	if err := CheckDir(dir); err != nil {
		return BackupStats{}, err
	}
	work, err := os.MkdirTemp(dir, "."+filepath.Base(storePath)+".restore-*")
	if err != nil {
		return BackupStats{}, err
	}
	defer os.RemoveAll(work)
	workRaw := filepath.Join(work, "raw")
	type mtime struct {
		path string
		t    time.Time
	}
	var times []mtime
	workSent := filepath.Join(work, backupSentFn)
	st, err := readBackup(r, func(name string, h *tar.Header, body io.Reader) error {
		dst := filepath.Join(work, backupStoreFn)
		if name == backupSentFn {
			return writeSynced(workSent, io.LimitReader(body, h.Size))
		}
		if name != backupStoreFn {
			if err := os.MkdirAll(workRaw, 0o700); err != nil {
				return err
			}
			dst = filepath.Join(workRaw, name[len(rawPrefix):])
		}
		if err := writeSynced(dst, io.LimitReader(body, h.Size)); err != nil {
			return err
		}
		times = append(times, mtime{dst, h.ModTime})
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, m := range times {
		if err := os.Chtimes(m.path, m.t, m.t); err != nil {
			return st, err
		}
	}
	if err := prepareRestoredStore(filepath.Join(work, backupStoreFn), workSent, st.Created); err != nil {
		return st, err
	}
	syncDir(workRaw)
	// In place: the raw copies first, the store last (its appearance completes
	// the restore); Link, unlike Rename, never replaces a store that appeared
	// meanwhile.
	if err := checkEmptyTarget(storePath, rawDir); err != nil {
		return st, err
	}
	if st.RawFiles > 0 {
		_ = os.Remove(rawDir) // absent or empty (checked)
		if err := os.Rename(workRaw, rawDir); err != nil {
			return st, err
		}
	}
	if fi, err := os.Stat(storePath); err == nil && fi.Size() == 0 {
		_ = os.Remove(storePath)
	}
	if err := os.Link(filepath.Join(work, backupStoreFn), storePath); err != nil {
		if st.RawFiles > 0 {
			_ = os.Rename(rawDir, workRaw)
		}
		return st, err
	}
	syncDir(dir)
	return st, nil
}

// checkEmptyTarget refuses a store path that holds data, or whose acceptance
// log does.
func checkEmptyTarget(storePath, rawDir string) error {
	if fi, err := os.Stat(storePath); err == nil && (fi.Size() > 0 || !fi.Mode().IsRegular()) {
		return fmt.Errorf("refusing: store.path %s %w (%d bytes); restore only into an empty place: move it away first", storePath, errAlreadyExists, fi.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	sent := storePath + ".sent"
	if fi, err := os.Stat(sent); err == nil && (fi.Size() > 0 || !fi.Mode().IsRegular()) {
		return fmt.Errorf("refusing: acceptance log %s %w (%d bytes), left by another store; restore only into an empty place: move it away first", sent, errAlreadyExists, fi.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ents, err := os.ReadDir(rawDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("refusing: raw copies directory %s: %w", rawDir, err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("refusing: raw copies directory %s %w (%d entries); restore only into an empty place: move it away first", rawDir, errAlreadyExists, len(ents))
	}
	return nil
}

var errAlreadyExists = fmt.Errorf("already exists: %w", ErrNotEmpty)

// prepareRestoredStore opens the unpacked bbolt file, marks sent (at the
// backup's time, taken) each pending outbox entry named in the archive's
// acceptance log (sentPath; absent in a version 1 archive), as the daemon's
// Replay would, and runs bbolt's consistency check: a sound archive of a
// broken store is no backup either. Applying the log here, in the copy,
// rather than putting it beside the restored store for the next start, makes
// the restored store right for every command at once and leaves no log at
// storePath + ".sent" to keep in step with it.
func prepareRestoredStore(path, sentPath string, taken time.Time) error {
	// Read-write: a backup of an older schema is migrated here, in the copy.
	db, err := Open(path, &Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: %s does not open as a store: %v", ErrBadBackup, backupStoreFn, err)
	}
	defer db.Close()
	sent, err := os.ReadFile(sentPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := db.markAccepted(acceptedIDs(sent), taken); err != nil {
		return fmt.Errorf("applying %s to the restored store: %w", backupSentFn, err)
	}
	if err := db.Check(); err != nil {
		return fmt.Errorf("%w: %s fails the consistency check: %v", ErrBadBackup, backupStoreFn, err)
	}
	return nil
}

// writeSynced writes r to a new 0600 file at path and fsyncs it.
func writeSynced(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// ForEachRecord visits every key and value of every bucket (nested buckets
// by their path, "outer/inner"), in key order; values are only valid inside
// fn. Tests compare a restored store with its original through it.
func (t *Tx) ForEachRecord(fn func(bucket string, key, value []byte) error) error {
	var walk func(path string, b *bolt.Bucket) error
	walk = func(path string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return walk(path+"/"+string(k), sub)
				}
			}
			return fn(path, k, v)
		})
	}
	return t.tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
}

// PutTicketJSON stores a ticket given as its JSON (its "id" must be id),
// exactly as given: for tools and tests that write tickets with fields this
// version's Ticket does not know (the dashboard's tests use docs/design.md §10's).
func (t *Tx) PutTicketJSON(id string, raw []byte) error {
	var probe struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.ID != id {
		return fmt.Errorf("put ticket %s: %w: JSON with that id expected", id, ErrInvalid)
	}
	return t.bucket(bTickets).Put([]byte(id), raw)
}
