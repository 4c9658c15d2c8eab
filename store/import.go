package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"supportd/entitlement"
)

// ImportStats counts what an import did. Rows = Added + Updated + Unchanged.
type ImportStats struct {
	Rows      int
	Added     int
	Updated   int
	Unchanged int
}

// bulkFillPercent fills pages written by an import (in key order) to 90%
// instead of bbolt's default 50%, which would double the file size.
const bulkFillPercent = 0.9

// progressEvery is how many rows pass between progress calls.
const progressEvery = 10000

// importChunk is how many keys one write transaction of the import puts, and
// how many rows are looked up per read transaction: bbolt keeps a write
// transaction's dirty pages in memory until commit, so this bounds memory.
const importChunk = 10000

// importChunkBytes bounds the same by size: a read batch is compared and a
// build transaction committed once its rows or key+value bytes pass it, even
// before importChunk (a customer record can be ~130 KB).
const importChunkBytes = 8 << 20

// inPlaceBytes bounds the changed records applied in place (see
// applyInPlace): an import that changes at most importChunk rows holding at
// most this many bytes of records and index keys writes them in one
// transaction instead of building a new generation (tests lower it through
// DB.importInPlace).
const inPlaceBytes = 32 << 20

// importDirPattern names the work directory of an import, beside the store
// file (os.MkdirTemp pattern appended to the file's base name).
const importDirPattern = ".import-*"

// generationBuckets are the buckets an import replaces as a whole.
var generationBuckets = [][]byte{bCustomers, bByContact, bByDomain}

// ImportCustomers reads a customer CSV (see ReadCustomersCSV) and inserts or
// updates every customer in it, all or nothing: if any row is bad, or a
// contact or domain is claimed by two customers, nothing is written and the
// error is a *CSVError listing the problems with their line numbers.
// Customers absent from the file are left alone (no deletion). Importing the
// same file again writes nothing and reports every row Unchanged.
//
// A contact or domain may belong to one customer only. It may move from one
// customer to another in a single import as long as the file no longer lists
// it for the old owner; if the old owner is not in the file at all, that is a
// conflict (edit or delete the old owner first).
//
// Memory is bounded, whatever the file's size: rows are sorted externally
// (run files in a temporary directory beside the store), conflicts are found
// while merging the sorted runs, and the new generation of the customers
// bucket and both indexes (old customers not in the file merged with the
// file's rows, in key order) is written under a staging bucket in
// transactions of 10,000 keys or 8 MiB, then swapped for the live one in one small
// transaction; an import that changes at most 10,000 rows (and 32 MiB)
// writes them in place in one transaction instead. Readers see the old
// generation or the new one, never a mix; a
// crash leaves only the staging bucket and the work directory, which the next
// Open (or import) discards. doc.go has the algorithm and the measurements.
// Imports of one DB are serialised; another goroutine must not change
// customers (PutCustomer, DeleteCustomer) while an import runs: its change
// would be lost when the generations are swapped.
//
// progress, if not nil, is called every 10,000 rows read and once at the end.
func (db *DB) ImportCustomers(r io.Reader, progress func(rows int)) (ImportStats, error) {
	return db.ImportCustomersContext(context.Background(), r, progress)
}

// ImportCustomersContext is ImportCustomers, stopped when ctx is done: ctx is
// checked between read batches, merge steps and build transactions and just
// before the swap. A cancelled import leaves the customers as they were,
// removes its staging bucket and work directory, and returns an error
// wrapping ctx.Err(). Once the swap transaction has begun it completes.
func (db *DB) ImportCustomersContext(ctx context.Context, r io.Reader, progress func(rows int)) (ImportStats, error) {
	db.importMu.Lock()
	defer db.importMu.Unlock()
	st, err := db.importCustomers(ctx, r, progress)
	if err != nil {
		var csvErr *CSVError
		if errors.As(err, &csvErr) {
			return ImportStats{}, err
		}
		return ImportStats{}, fmt.Errorf("import customers: %w", err)
	}
	return st, nil
}

func (db *DB) importCustomers(ctx context.Context, r io.Reader, progress func(rows int)) (ImportStats, error) {
	if db.bolt.IsReadOnly() {
		return ImportStats{}, bolterrors.ErrDatabaseReadOnly
	}
	if err := ctx.Err(); err != nil {
		return ImportStats{}, err
	}
	if err := db.discardInterruptedImport("before a new import"); err != nil {
		return ImportStats{}, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(db.path), filepath.Base(db.path)+importDirPattern)
	if err != nil {
		return ImportStats{}, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	im := &importer{ctx: ctx, db: db, progress: progress, recs: newSorter(ctx, dir, "records"), idx: newSorter(ctx, dir, "index")}
	if db.importRunBytes > 0 {
		im.recs.limit, im.idx.limit = db.importRunBytes, db.importRunBytes
	}
	im.chunk, im.inPlace = importChunk, inPlaceBytes
	if db.importChunkKeys > 0 {
		im.chunk = db.importChunkKeys
	}
	if db.importInPlace > 0 {
		im.inPlace = db.importInPlace
	}
	if err := im.read(r); err != nil {
		return ImportStats{}, err
	}
	if err := im.check(); err != nil {
		return ImportStats{}, err
	}
	switch {
	case im.st.Added+im.st.Updated == 0:
	case im.st.Added+im.st.Updated <= im.chunk && im.changedBytes <= im.inPlace:
		if err := im.applyInPlace(); err != nil {
			return ImportStats{}, err
		}
	default:
		if err := im.build(); err != nil {
			// Best effort: Open and the next import discard it too.
			_ = db.bolt.Update(func(tx *bolt.Tx) error {
				if tx.Bucket(bImportStaging) == nil {
					return nil
				}
				return tx.DeleteBucket(bImportStaging)
			})
			return ImportStats{}, err
		}
	}
	if progress != nil {
		progress(im.rows)
	}
	return im.st, nil
}

// discardInterruptedImport deletes the staging bucket and work directories
// an interrupted import left (the file lock, or importMu, guarantees that no
// import is running), and logs what it found.
func (db *DB) discardInterruptedImport(when string) error {
	found := false
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bImportStaging) != nil
		return nil
	})
	var err error
	if found {
		err = db.bolt.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bImportStaging) })
	}
	if err != nil {
		return fmt.Errorf("discard interrupted import: %w", err)
	}
	dirs, _ := filepath.Glob(filepath.Join(filepath.Dir(db.path), globEscape(filepath.Base(db.path))+importDirPattern))
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			found = true
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("discard interrupted import: %w", err)
			}
		}
	}
	if found {
		db.log.Warn("discarded the leftovers of an interrupted customer import; the customers are as before it",
			"store", db.path, "when", when)
	}
	return nil
}

// globEscape quotes the glob metacharacters of a file name.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// kindNames names the index kinds of an index entry (0: contact, 1: domain).
var kindNames = [...]string{"contact", "domain"}
var kindColumns = [...]string{"contacts", "domains"}
var kindBuckets = [...][]byte{bByContact, bByDomain}

// Flags of sorted records.
const (
	flagChanged = 1 << iota // the row is new or differs from the stored record
	flagStale               // index entry: a key the row's stored record listed and the row no longer does
)

// The import sorts two kinds of byte records, compared with bytes.Compare.
// Ids, contacts and domains never contain a NUL byte (validation refuses
// control characters), so a NUL ends the key and records sort by key, then by
// line:
//
//	record:      id NUL line(4 BE) flags raw-JSON (raw only when changed)
//	index entry: kind(1) key NUL line(4 BE) flags id
type recEntry struct {
	id   []byte
	line int
	flag byte
	raw  []byte
}

func parseRec(b []byte) recEntry {
	i := bytes.IndexByte(b, 0)
	return recEntry{id: b[:i], line: int(binary.BigEndian.Uint32(b[i+1:])), flag: b[i+5], raw: b[i+6:]}
}

type idxEntry struct {
	kind byte
	key  []byte
	line int
	flag byte
	id   []byte
}

func parseEntry(b []byte) idxEntry {
	i := bytes.IndexByte(b[1:], 0) + 1
	return idxEntry{kind: b[0], key: b[1:i], line: int(binary.BigEndian.Uint32(b[i+1:])), flag: b[i+5], id: b[i+6:]}
}

type batchRow struct {
	line int
	c    entitlement.Customer
}

type idLine struct {
	id   string
	line int
}

type importer struct {
	ctx      context.Context
	db       *DB
	progress func(rows int)
	cr       *customerReader
	recs     *sorter // one record per valid row
	idx      *sorter // contacts and domains of valid rows, and stale keys
	batch    []batchRow
	batchLen int      // approximate bytes of batch
	badIDs   []idLine // valid ids of rows with other errors (at most MaxCSVErrors+1)
	rows     int
	chunk    int // keys per write transaction, lookups per read transaction
	inPlace  int // the in-place threshold (inPlaceBytes unless a test lowers it)
	// changedBytes counts the records and index keys of new and changed rows.
	changedBytes int
	st           ImportStats
	buf          []byte
}

// read streams the file: valid rows are compared with their stored record
// in batches (one short read transaction each) and spilled to the sorters.
func (im *importer) read(r io.Reader) error {
	im.cr = &customerReader{errs: &CSVError{}, badID: func(line int, id string) {
		im.badIDs = append(im.badIDs, idLine{id: id, line: line})
	}}
	err := im.cr.read(r, func(line int, c entitlement.Customer) error {
		im.batch = append(im.batch, batchRow{line: line, c: c})
		im.batchLen += customerSize(&c)
		im.rows++
		if im.rows%progressEvery == 0 || im.batchLen >= importChunkBytes {
			if err := im.flush(); err != nil {
				return err
			}
		}
		if im.rows%progressEvery == 0 && im.progress != nil {
			im.progress(im.rows)
		}
		return nil
	})
	var csvErr *CSVError
	if err != nil && !errors.As(err, &csvErr) {
		return err
	}
	if err := im.flush(); err != nil {
		return err
	}
	if err := im.recs.finish(); err != nil {
		return err
	}
	if err := im.idx.finish(); err != nil {
		return err
	}
	return im.hook("read")
}

// customerSize approximates the bytes a parsed customer holds.
func customerSize(c *entitlement.Customer) int {
	n := 64 + len(c.ID) + len(c.Company)
	for _, s := range c.Contacts {
		n += 16 + len(s)
	}
	for _, s := range c.Domains {
		n += 16 + len(s)
	}
	return n
}

// cancelled returns the context's error, wrapped, once the import is to stop.
func (im *importer) cancelled() error {
	if err := im.ctx.Err(); err != nil {
		return fmt.Errorf("cancelled: %w", err)
	}
	return nil
}

func (im *importer) flush() error {
	if err := im.cancelled(); err != nil {
		return err
	}
	if len(im.batch) == 0 {
		return nil
	}
	slices.SortFunc(im.batch, func(a, b batchRow) int { return strings.Compare(a.c.ID, b.c.ID) })
	err := im.db.bolt.View(func(tx *bolt.Tx) error {
		customers := tx.Bucket(bCustomers)
		for i := range im.batch {
			if err := im.row(customers, &im.batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
	clear(im.batch)
	im.batch, im.batchLen = im.batch[:0], 0
	return err
}

// row sorts one valid row: its record, its contacts and domains, and, if it
// changes a stored customer, the keys that customer no longer lists.
func (im *importer) row(customers *bolt.Bucket, br *batchRow) error {
	c := &br.c
	raw, err := json.Marshal(toRecord(c))
	if err != nil {
		return fmt.Errorf("encode customer %s: %w", c.ID, err)
	}
	old := customers.Get([]byte(c.ID))
	im.st.Rows++
	var flag byte = flagChanged
	switch {
	case old == nil:
		im.st.Added++
	case bytes.Equal(old, raw):
		im.st.Unchanged++
		flag, raw = 0, nil
	default:
		im.st.Updated++
		prev, err := decodeCustomer(old)
		if err != nil {
			return err
		}
		for k, lists := range [2][2][]string{{prev.Contacts, c.Contacts}, {prev.Domains, c.Domains}} {
			for _, key := range lists[0] {
				if !contains(lists[1], key) {
					if err := im.addEntry(byte(k), key, br.line, flagStale, c.ID); err != nil {
						return err
					}
				}
			}
		}
	}
	if flag&flagChanged != 0 {
		im.changedBytes += len(c.ID) + len(raw)
		for _, keys := range [2][]string{c.Contacts, c.Domains} {
			for _, key := range keys {
				im.changedBytes += len(key) + len(c.ID)
			}
		}
	}
	b := append(im.buf[:0], c.ID...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(br.line))
	b = append(b, flag)
	b = append(b, raw...)
	im.buf = b
	if err := im.recs.add(b); err != nil {
		return err
	}
	for k, keys := range [2][]string{c.Contacts, c.Domains} {
		for _, key := range keys {
			if err := im.addEntry(byte(k), key, br.line, flag, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

func (im *importer) addEntry(kind byte, key string, line int, flag byte, id string) error {
	b := append(im.buf[:0], kind)
	b = append(b, key...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(line))
	b = append(b, flag)
	b = append(b, id...)
	im.buf = b
	return im.idx.add(b)
}

func (im *importer) hook(point string) error {
	if im.db.importHook != nil {
		return im.db.importHook(point)
	}
	return nil
}

func byLine(a, b *LineError) int { return a.Line - b.Line }

// check returns the *CSVError of the file, or nil: the read errors, duplicate
// ids and, unless those already exceed MaxCSVErrors, the conflicts. The result
// is the one reading the file in order would give: the first MaxCSVErrors
// read errors and duplicate ids in file order, then as many conflicts as fit,
// in the order of their key, all sorted by line.
func (im *importer) check() error {
	dups, rejected, err := im.duplicateIDs()
	if err != nil {
		return err
	}
	errs := append(slices.Clone(im.cr.errs.Errs), dups...)
	slices.SortStableFunc(errs, byLine)
	if im.cr.errs.More || len(errs) > MaxCSVErrors {
		return &CSVError{Errs: errs[:min(len(errs), MaxCSVErrors)], More: true}
	}
	conflicts, more, err := im.conflicts(MaxCSVErrors-len(errs), rejected)
	if err != nil {
		return err
	}
	errs = append(errs, conflicts...)
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, byLine)
	return &CSVError{Errs: errs, More: more}
}

// duplicateIDs merges the sorted records with the ids of bad rows and
// returns the first MaxCSVErrors+1 repeated ids (by line), and the lines
// they were found on.
func (im *importer) duplicateIDs() ([]*LineError, map[int]bool, error) {
	it, err := im.recs.iter()
	if err != nil {
		return nil, nil, err
	}
	defer it.close()
	slices.SortFunc(im.badIDs, func(a, b idLine) int {
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return a.line - b.line
	})
	var (
		dups      []*LineError
		prevID    []byte
		firstLine int
	)
	visit := func(id []byte, line int) {
		if prevID != nil && bytes.Equal(id, prevID) {
			dups = append(dups, &LineError{Line: line, Column: "id", Err: fmt.Errorf("%q is already on line %d", string(id), firstLine)})
			if len(dups) > 2*(MaxCSVErrors+1) {
				slices.SortFunc(dups, byLine)
				dups = dups[:MaxCSVErrors+1]
			}
			return
		}
		prevID = append(prevID[:0], id...)
		firstLine = line
	}
	bad := im.badIDs
	for n := 1; ; n++ {
		if n%progressEvery == 0 {
			if err := im.cancelled(); err != nil {
				return nil, nil, err
			}
		}
		rec, err := it.next()
		if err != nil {
			return nil, nil, err
		}
		var e recEntry
		if rec != nil {
			e = parseRec(rec)
		}
		for len(bad) > 0 && (rec == nil || bad[0].id < string(e.id) || bad[0].id == string(e.id) && bad[0].line < e.line) {
			visit([]byte(bad[0].id), bad[0].line)
			bad = bad[1:]
		}
		if rec == nil {
			break
		}
		visit(e.id, e.line)
	}
	slices.SortFunc(dups, byLine)
	dups = dups[:min(len(dups), MaxCSVErrors+1)]
	rejected := make(map[int]bool, len(dups))
	for _, d := range dups {
		rejected[d.Line] = true
	}
	return dups, rejected, nil
}

// conflicts walks the index entries in key order and returns up to
// remaining conflicts (and whether there were more): a key listed by two rows
// (the later row's error names the earlier), and a key owned by a stored
// customer that the file does not list. rejected are the lines of rows
// refused as duplicate ids, which claim nothing.
//
// "The file lists the owner" is decided within the key's entries: an index
// entry points to a customer whose record lists the key (an invariant every
// writer keeps), so an owner with a valid row either lists the key (an entry)
// or dropped it (a stale entry); an owner whose row is bad is in badIDs.
func (im *importer) conflicts(remaining int, rejected map[int]bool) ([]*LineError, bool, error) {
	it, err := im.idx.iter()
	if err != nil {
		return nil, false, err
	}
	defer it.close()
	look := &lookup{db: im.db.bolt, max: im.chunk}
	defer look.close()
	badIDs := make(map[string]bool, len(im.badIDs))
	for _, b := range im.badIDs {
		badIDs[b.id] = true
	}
	type claim struct {
		id   string
		line int
	}
	var (
		out         []*LineError
		group       bool
		kind        byte
		key         []byte
		owner       []byte
		ownerListed bool
		first, prev *claim
		groupDups   []*LineError
	)
	endGroup := func() {
		if first != nil && owner != nil && string(owner) != first.id && !ownerListed && !badIDs[string(owner)] {
			out = append(out, &LineError{Line: first.line, Column: kindColumns[kind], Err: fmt.Errorf("%w: %s %q belongs to existing customer %s, which this file does not list; remove it there first",
				ErrConflict, kindNames[kind], key, owner)})
		}
		out = append(out, groupDups...)
		groupDups = groupDups[:0]
	}
	for n := 1; ; n++ {
		if n%progressEvery == 0 {
			if err := im.cancelled(); err != nil {
				return nil, false, err
			}
		}
		rec, err := it.next()
		if err != nil {
			return nil, false, err
		}
		if rec == nil {
			if group {
				endGroup()
			}
			break
		}
		e := parseEntry(rec)
		if !group || e.kind != kind || !bytes.Equal(e.key, key) {
			if group {
				endGroup()
				if len(out) > remaining {
					break
				}
			}
			group, kind, key = true, e.kind, append(key[:0], e.key...)
			if owner, err = look.get(kindBuckets[kind], key); err != nil {
				return nil, false, err
			}
			ownerListed, first, prev = false, nil, nil
		}
		if owner != nil && bytes.Equal(e.id, owner) {
			ownerListed = true
		}
		if e.flag&flagStale != 0 || rejected[e.line] {
			continue
		}
		cur := &claim{id: string(e.id), line: e.line}
		if first == nil {
			first, prev = cur, cur
			continue
		}
		if len(out)+len(groupDups) <= remaining {
			groupDups = append(groupDups, &LineError{Line: e.line, Column: kindColumns[kind], Err: fmt.Errorf("%w: %s %q is also listed for customer %s on line %d",
				ErrConflict, kindNames[kind], key, prev.id, prev.line)})
		}
		prev = cur
	}
	more := len(out) > remaining
	if more {
		out = out[:remaining]
	}
	return out, more, nil
}

// lookup answers Gets from short read transactions, renewed every
// importChunk gets: a read transaction held for the whole import would keep
// other writers from growing the file.
type lookup struct {
	db  *bolt.DB
	tx  *bolt.Tx
	n   int
	max int
}

func (l *lookup) get(bucket, key []byte) ([]byte, error) {
	if l.tx == nil || l.n >= l.max {
		l.close()
		tx, err := l.db.Begin(false)
		if err != nil {
			return nil, err
		}
		l.tx, l.n = tx, 0
	}
	l.n++
	b := l.tx.Bucket(bucket)
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing", bucket)
	}
	return bytes.Clone(b.Get(key)), nil
}

func (l *lookup) close() {
	if l.tx != nil {
		_ = l.tx.Rollback()
		l.tx = nil
	}
}

// build writes the new generation under the staging bucket, chunk by chunk,
// then swaps it for the live one in one transaction.
func (im *importer) build() error {
	err := im.db.bolt.Update(func(tx *bolt.Tx) error {
		stg, err := tx.CreateBucket(bImportStaging)
		if err != nil {
			return err
		}
		for _, name := range generationBuckets {
			b, err := stg.CreateBucket(name)
			if err != nil {
				return err
			}
			if err := b.SetSequence(tx.Bucket(name).Sequence()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create staging bucket: %w", err)
	}
	if err := im.buildCustomers(); err != nil {
		return err
	}
	it, err := im.idx.iter()
	if err != nil {
		return err
	}
	defer it.close()
	p := &peekIter{it: it}
	for kind := range kindBuckets {
		if err := im.buildIndex(p, byte(kind)); err != nil {
			return err
		}
	}
	if err := im.hook("swap"); err != nil {
		return err
	}
	if err := im.cancelled(); err != nil {
		return err
	}
	err = im.db.bolt.Update(func(tx *bolt.Tx) error {
		stg := tx.Bucket(bImportStaging)
		for _, name := range generationBuckets {
			if err := tx.DeleteBucket(name); err != nil {
				return fmt.Errorf("delete old %s: %w", name, err)
			}
			if err := tx.MoveBucket(name, stg, nil); err != nil {
				return fmt.Errorf("move new %s: %w", name, err)
			}
		}
		return tx.DeleteBucket(bImportStaging)
	})
	if err != nil {
		return fmt.Errorf("swap customer generations: %w", err)
	}
	return nil
}

// oldStream walks a live bucket across the write transactions of the build:
// its position is the last key consumed, sought again in each transaction.
type oldStream struct {
	name []byte
	k, v []byte // head, valid in the current transaction; k is nil at the end
	c    *bolt.Cursor
	last []byte
}

func (o *oldStream) open(tx *bolt.Tx) {
	o.c = tx.Bucket(o.name).Cursor()
	if o.last == nil {
		o.k, o.v = o.c.First()
		return
	}
	o.k, o.v = o.c.Seek(o.last)
	if o.k != nil && bytes.Equal(o.k, o.last) {
		o.k, o.v = o.c.Next()
	}
}

func (o *oldStream) advance() {
	o.last = append(o.last[:0], o.k...)
	o.k, o.v = o.c.Next()
}

// chunks calls fill in write transactions until it reports done; fill puts
// keys into the staging copy of name until full reports that the
// transaction holds importChunk keys or importChunkBytes bytes.
func (im *importer) chunks(name []byte, old *oldStream, fill func(put func(k, v []byte) error, full func() bool) (bool, error)) error {
	for {
		if err := im.cancelled(); err != nil {
			return err
		}
		done := false
		err := im.db.bolt.Update(func(tx *bolt.Tx) error {
			dst := tx.Bucket(bImportStaging).Bucket(name)
			dst.FillPercent = bulkFillPercent
			old.open(tx)
			keys, size := 0, 0
			put := func(k, v []byte) error {
				keys, size = keys+1, size+len(k)+len(v)
				return dst.Put(k, v)
			}
			full := func() bool { return keys >= im.chunk || size >= importChunkBytes }
			var err error
			done, err = fill(put, full)
			return err
		})
		if err != nil {
			return fmt.Errorf("write new %s: %w", name, err)
		}
		if err := im.hook("chunk"); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// buildCustomers merges the stored customers with the file's records. A value
// put must stay valid until commit: records from the sort are copied, stored
// ones live in the mmap for the transaction.
func (im *importer) buildCustomers() error {
	it, err := im.recs.iter()
	if err != nil {
		return err
	}
	defer it.close()
	head, err := it.next()
	if err != nil {
		return err
	}
	old := &oldStream{name: bCustomers}
	return im.chunks(bCustomers, old, func(put func(k, v []byte) error, full func() bool) (bool, error) {
		for !full() {
			var fe recEntry
			if head != nil {
				fe = parseRec(head)
			}
			c := 0
			switch {
			case head == nil && old.k == nil:
				return true, nil
			case head == nil:
				c = 1
			case old.k == nil:
				c = -1
			default:
				c = bytes.Compare(fe.id, old.k)
			}
			var err error
			switch {
			case c > 0: // stored customer not in the file
				err = put(old.k, old.v)
				old.advance()
			case c == 0 && fe.flag&flagChanged == 0:
				err = put(old.k, old.v)
				old.advance()
			default: // new or changed
				err = put(fe.id, bytes.Clone(fe.raw))
				if c == 0 {
					old.advance()
				}
			}
			if err != nil {
				return false, err
			}
			if c <= 0 {
				if head, err = it.next(); err != nil {
					return false, err
				}
			}
		}
		return false, nil
	})
}

// peekIter is a recIter with one record of look-ahead.
type peekIter struct {
	it     recIter
	cur    []byte
	loaded bool
}

func (p *peekIter) peek() ([]byte, error) {
	if !p.loaded {
		rec, err := p.it.next()
		if err != nil {
			return nil, err
		}
		p.cur, p.loaded = rec, true
	}
	return p.cur, nil
}

func (p *peekIter) pop() { p.loaded = false }

// buildIndex merges one stored index with the file's entries of that kind.
// Per key: a changed row's claim wins; otherwise the stored entry stays,
// unless its owner's changed row dropped the key (a stale entry). An
// unchanged row's claim writes nothing (its entry is already stored).
func (im *importer) buildIndex(p *peekIter, kind byte) error {
	old := &oldStream{name: kindBuckets[kind]}
	var key []byte
	return im.chunks(kindBuckets[kind], old, func(put func(k, v []byte) error, full func() bool) (bool, error) {
		for !full() {
			rec, err := p.peek()
			if err != nil {
				return false, err
			}
			var e idxEntry
			if rec != nil {
				if e = parseEntry(rec); e.kind != kind {
					rec = nil
				}
			}
			c := 0
			switch {
			case rec == nil && old.k == nil:
				return true, nil
			case rec == nil:
				c = 1
			case old.k == nil:
				c = -1
			default:
				c = bytes.Compare(e.key, old.k)
			}
			if c > 0 {
				if err := put(old.k, old.v); err != nil {
					return false, err
				}
				old.advance()
				continue
			}
			var owner []byte
			if c == 0 {
				owner = old.v
			}
			key = append(key[:0], e.key...)
			var claim []byte
			stale := false
			for {
				if e.flag&flagStale != 0 {
					stale = stale || bytes.Equal(e.id, owner)
				} else if e.flag&flagChanged != 0 {
					claim = bytes.Clone(e.id)
				}
				p.pop()
				if rec, err = p.peek(); err != nil {
					return false, err
				}
				if rec == nil {
					break
				}
				if e = parseEntry(rec); e.kind != kind || !bytes.Equal(e.key, key) {
					break
				}
			}
			switch {
			case claim != nil:
				err = put(key, claim)
			case owner != nil && !stale:
				err = put(key, owner)
			}
			if err != nil {
				return false, err
			}
			if c == 0 {
				old.advance()
			}
		}
		return false, nil
	})
}

// applyInPlace writes a small change set into the live buckets in one write
// transaction: the new and changed records, then per index key the result
// buildIndex would give (a changed row's claim wins; a stored entry goes when
// its owner's changed row dropped the key). Rebuilding a generation for a
// few changed rows would rewrite every page and leave the old generation's
// pages on the freelist, which every later commit writes; in place, the file
// grows by the pages touched. Only changed rows are written, so the
// transaction is bounded by importChunk rows and inPlaceBytes.
func (im *importer) applyInPlace() error {
	if err := im.hook("apply"); err != nil {
		return err
	}
	if err := im.cancelled(); err != nil {
		return err
	}
	recs, err := im.recs.iter()
	if err != nil {
		return err
	}
	defer recs.close()
	idx, err := im.idx.iter()
	if err != nil {
		return err
	}
	defer idx.close()
	err = im.db.bolt.Update(func(tx *bolt.Tx) error {
		customers := tx.Bucket(bCustomers)
		for n := 1; ; n++ {
			if n%progressEvery == 0 {
				if err := im.cancelled(); err != nil {
					return err
				}
			}
			rec, err := recs.next()
			if err != nil {
				return err
			}
			if rec == nil {
				break
			}
			if e := parseRec(rec); e.flag&flagChanged != 0 {
				if err := customers.Put(bytes.Clone(e.id), bytes.Clone(e.raw)); err != nil {
					return fmt.Errorf("put customer %s: %w", e.id, err)
				}
			}
		}
		return im.applyIndexes(tx, &peekIter{it: idx})
	})
	if err != nil {
		return fmt.Errorf("apply changed customers: %w", err)
	}
	return nil
}

// applyIndexes walks the index entries one key at a time; a key with a
// changed row's claim or a stale entry is looked up and set or deleted.
func (im *importer) applyIndexes(tx *bolt.Tx, p *peekIter) error {
	var (
		key, claim []byte
		staleIDs   [][]byte
	)
	for n := 1; ; n++ {
		if n%progressEvery == 0 {
			if err := im.cancelled(); err != nil {
				return err
			}
		}
		rec, err := p.peek()
		if err != nil {
			return err
		}
		if rec == nil {
			return nil
		}
		e := parseEntry(rec)
		kind := e.kind
		key, claim, staleIDs = append(key[:0], e.key...), nil, staleIDs[:0]
		for {
			if e.flag&flagStale != 0 {
				staleIDs = append(staleIDs, bytes.Clone(e.id))
			} else if e.flag&flagChanged != 0 {
				claim = bytes.Clone(e.id)
			}
			p.pop()
			if rec, err = p.peek(); err != nil {
				return err
			}
			if rec == nil {
				break
			}
			if e = parseEntry(rec); e.kind != kind || !bytes.Equal(e.key, key) {
				break
			}
		}
		if claim == nil && len(staleIDs) == 0 {
			continue // only unchanged rows list the key: its entry is stored
		}
		b := tx.Bucket(kindBuckets[kind])
		owner := b.Get(key)
		switch {
		case claim != nil && !bytes.Equal(owner, claim):
			err = b.Put(bytes.Clone(key), claim)
		case claim == nil && owner != nil && slices.ContainsFunc(staleIDs, func(id []byte) bool { return bytes.Equal(id, owner) }):
			err = b.Delete(key)
		}
		if err != nil {
			return fmt.Errorf("write %s index %q: %w", kindNames[kind], key, err)
		}
	}
}
