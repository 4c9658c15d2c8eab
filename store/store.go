package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// initialMmapSize is the address space bbolt maps for a writable store: twice
// the file, at least 1 GiB (on 64-bit; pages are read only when used, so
// memory use does not change). A commit that grows the file past the mapping
// remaps it, and a remap waits for every open read transaction: with this
// headroom a long read — a backup streamed to a slow client, a report — does
// not hold up the daemon's commits until the store has doubled in size.
// bbolt then extends the file 16 MiB ahead of its data (a sparse extension:
// the disk holds only what is written; backups copy the data alone).
func initialMmapSize(path string) int {
	if strconv.IntSize < 64 {
		return 0 // bbolt's default: grow from the file's size
	}
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	return int(max(1<<30, 2*size))
}

// SchemaVersion is the layout this code reads and writes (see doc.go).
const SchemaVersion = 3

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is 0.
const DefaultTimeout = 2 * time.Second

// Sentinel errors; compare with errors.Is.
var (
	// ErrLocked: another process (normally `supportd run`) holds the file lock.
	ErrLocked = errors.New("locked by another process (is supportd run active?)")
	// ErrSchemaTooNew: the file was written by a newer supportd.
	ErrSchemaTooNew = errors.New("store schema is newer than this supportd understands")
	// ErrNeedsMigration: a read-only open found an older schema.
	ErrNeedsMigration = errors.New("store schema is older and must be migrated by a read-write open")
	// ErrNotFound: the record an operation needs does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a contact address or domain already belongs to another customer.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a record failed validation.
	ErrInvalid = errors.New("invalid")
)

// Bucket names (doc.go describes each).
var (
	bMeta            = []byte("meta")
	bCustomers       = []byte("customers")
	bByContact       = []byte("customers_by_contact")
	bByDomain        = []byte("customers_by_domain")
	bTickets         = []byte("tickets")
	bTicketByMsgID   = []byte("ticket_by_msgid")
	bLedger          = []byte("ledger")
	bLedgerByMsgKey  = []byte("ledger_by_msgkey")
	bLedgerUnmarked  = []byte("ledger_unmarked")
	bCheckpoints     = []byte("checkpoints")
	bOutbox          = []byte("outbox")
	bOutboxData      = []byte("outbox_data")
	bOutboxByMsgID   = []byte("outbox_by_msgid")
	bOutboxDue       = []byte("outbox_due")
	bReplies         = []byte("replies")
	bTicketDue       = []byte("ticket_due")
	keySchemaVersion = []byte("schema_version")

	// bImportStaging holds the next generation of customers and its indexes
	// while ImportCustomers builds it; it exists only during an import (or
	// after a crash in one, until the next read-write Open discards it).
	bImportStaging = []byte("customers_import")
)

// allBuckets are the top-level buckets of the current schema.
var allBuckets = [][]byte{
	bMeta, bCustomers, bByContact, bByDomain, bTickets, bTicketByMsgID,
	bLedger, bLedgerByMsgKey, bLedgerUnmarked, bCheckpoints,
	bOutbox, bOutboxData, bOutboxByMsgID, bOutboxDue, bReplies, bTicketDue,
}

// Options configure Open. A nil *Options means the defaults.
type Options struct {
	// Timeout bounds the wait for the file lock; 0 means DefaultTimeout. A
	// negative value waits forever (never use it from the CLI).
	Timeout time.Duration
	// ReadOnly opens with a shared lock: several read-only opens may coexist, but
	// not with a read-write one (the daemon). An older schema is not migrated.
	ReadOnly bool
	// NoSync skips fsync on commit. Only for tests and benchmarks: a crash may
	// corrupt the file.
	NoSync bool
	// MaxRawBytes caps one SaveRaw file; 0 means DefaultMaxRawBytes.
	MaxRawBytes int64
	// Logger receives the warning when a read-write Open (or an import)
	// discards the leftovers of an interrupted customer import; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DB is an open store. It is safe for concurrent use; bbolt serialises writers.
type DB struct {
	bolt    *bolt.DB
	path    string
	rawDir  string
	maxRaw  int64
	version int
	log     *slog.Logger

	rawGate sync.RWMutex // HoldRawCommit (shared) against a backup's snapshot (exclusive)
	// sentGate: a backup (shared, from before its snapshot until it has read
	// the acceptance log) against emptying that log (AcceptLog's
	// truncateLocked: exclusive, TryLock only, so it never waits for a backup).
	sentGate sync.RWMutex

	importMu        sync.Mutex         // one ImportCustomers at a time
	importHook      func(string) error // tests: called at named points of an import
	backupHook      func()             // tests: called once a backup's snapshot is copied and its transaction ended
	importRunBytes  int                // tests: sort run size (0: runBytes)
	importChunkKeys int                // tests: keys per write transaction (0: importChunk)
	importInPlace   int                // tests: in-place threshold in bytes (0: inPlaceBytes)
}

// Open opens (creating it with mode 0600 if absent) the store file at path,
// records or migrates its schema, and returns it. While another process holds
// the file it fails within opts.Timeout with an error wrapping ErrLocked.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0 // bbolt: wait forever
	}
	maxRaw := o.MaxRawBytes
	if maxRaw <= 0 {
		maxRaw = DefaultMaxRawBytes
	}
	if !o.ReadOnly {
		// Another user able to write the directory could swap the store's
		// files for links; refuse to write there at all.
		if err := CheckDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	bopts := &bolt.Options{
		Timeout:      timeout,
		ReadOnly:     o.ReadOnly,
		NoSync:       o.NoSync,
		FreelistType: bolt.FreelistMapType,
	}
	if !o.ReadOnly {
		bopts.InitialMmapSize = initialMmapSize(path)
	}
	bdb, err := bolt.Open(path, 0o600, bopts)
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s is %w", filepath.Base(path), ErrLocked)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	db := &DB{bolt: bdb, path: path, rawDir: path + ".raw", maxRaw: maxRaw, log: logger}
	if o.ReadOnly {
		err = bdb.View(func(tx *bolt.Tx) error {
			v, err := schemaVersion(tx)
			if err != nil {
				return err
			}
			switch {
			case v == 0:
				return fmt.Errorf("%w: empty store (open it read-write once to initialise it)", ErrNeedsMigration)
			case v < SchemaVersion:
				return fmt.Errorf("%w: file has v%d, this supportd uses v%d", ErrNeedsMigration, v, SchemaVersion)
			case v > SchemaVersion:
				return fmt.Errorf("%w: file has v%d, this supportd knows up to v%d", ErrSchemaTooNew, v, SchemaVersion)
			}
			for _, name := range allBuckets {
				if tx.Bucket(name) == nil {
					return fmt.Errorf("store v%d lacks bucket %s", v, name)
				}
			}
			db.version = v
			return nil
		})
	} else {
		err = bdb.Update(func(tx *bolt.Tx) error {
			v, err := migrate(tx, migrations)
			db.version = v
			return err
		})
		if err == nil {
			err = db.discardInterruptedImport("at open")
		}
	}
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

// schemaVersion reads meta/schema_version: 0 for an empty file; an error for a
// file that has buckets but no meta bucket (not a supportd store).
func schemaVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			empty = false
			return nil
		})
		if empty {
			return 0, nil
		}
		return 0, errors.New("not a supportd store (no meta bucket)")
	}
	v := meta.Get(keySchemaVersion)
	if len(v) != 8 {
		return 0, errors.New("meta bucket has no valid schema_version")
	}
	n := binary.BigEndian.Uint64(v)
	if n == 0 || n > 1<<20 {
		return 0, fmt.Errorf("implausible schema_version %d", n)
	}
	return int(n), nil
}

func putSchemaVersion(tx *bolt.Tx, v int) error {
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return err
	}
	return meta.Put(keySchemaVersion, u64(uint64(v)))
}

// Close releases the file and its lock.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", db.path, err)
	}
	return nil
}

// Path is the file's path as given to Open.
func (db *DB) Path() string { return db.path }

// SchemaVersion is the schema of the open file (always SchemaVersion once open).
func (db *DB) SchemaVersion() int { return db.version }

// Tx is a store transaction. Every value it returns is a copy, valid after the
// transaction ends. A Tx must not be used outside the function it was given to.
type Tx struct {
	tx *bolt.Tx
}

// View runs fn in a read-only transaction. Keep it short: a long read
// transaction delays writers that need to grow the file.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// Update runs fn in a read-write transaction, committed (and fsync'd) when fn
// returns nil and rolled back otherwise.
func (db *DB) Update(fn func(*Tx) error) error {
	return db.bolt.Update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx}) })
}

// PageWrites is how many page writes the store's committed write
// transactions made since it was opened (every commit writes at least its
// meta page and syncs): tests use it to prove a path writes nothing.
func (db *DB) PageWrites() int64 {
	st := db.bolt.Stats()
	return st.TxStats.GetWrite()
}

// Check runs bbolt's consistency check on the whole file and returns the
// problems found, joined.
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// bucket returns a top-level bucket, which always exists once Open succeeded.
func (t *Tx) bucket(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		// Only possible if someone deleted it behind our back.
		panic(fmt.Sprintf("store: bucket %s missing", name))
	}
	return b
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// writeFileAtomic writes data produced by fill to path via a temporary file in
// the same directory: mode 0600, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, fill func(f *os.File) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
