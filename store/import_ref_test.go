package store

// The import as it was before bounded memory (one transaction, everything in
// memory), kept unchanged but for its names (ref…) as the oracle of
// TestImportMatchesReference.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"supportd/entitlement"
)

func (db *DB) refImportCustomers(r io.Reader, progress func(rows int)) (ImportStats, error) {
	var st ImportStats
	err := db.Update(func(tx *Tx) error {
		im := &refImporter{tx: tx, cr: newCustomerReader()}
		err := im.cr.read(r, func(line int, c entitlement.Customer) error {
			if err := im.row(line, c); err != nil {
				return err
			}
			if progress != nil && len(im.rows)%progressEvery == 0 {
				progress(len(im.rows))
			}
			return nil
		})
		var csvErr *CSVError
		if err != nil && !errors.As(err, &csvErr) {
			return err
		}
		if !im.cr.errs.More {
			im.conflicts()
		}
		if errs := im.cr.errs; len(errs.Errs) > 0 {
			slices.SortStableFunc(errs.Errs, func(a, b *LineError) int { return a.Line - b.Line })
			return errs
		}
		if err := im.write(); err != nil {
			return err
		}
		st = im.st
		if progress != nil {
			progress(len(im.rows))
		}
		return nil
	})
	if err != nil {
		var csvErr *CSVError
		if errors.As(err, &csvErr) {
			return ImportStats{}, err
		}
		return ImportStats{}, fmt.Errorf("import customers: %w", err)
	}
	return st, nil
}

// Index kinds of an refImporter entry.
const (
	refKindContact = iota
	refKindDomain
)

var refKindNames = [...]string{"contact", "domain"}
var refKindColumns = [...]string{"contacts", "domains"}
var refKindBuckets = [...][]byte{bByContact, bByDomain}

type refImportRow struct {
	id   []byte
	line int32
	raw  []byte // new record; nil when unchanged
}

// refIndexEntry is one contact or domain claimed by rows[row].
type refIndexEntry struct {
	key  string
	row  int32
	kind uint8
}

type refImporter struct {
	tx      *Tx
	cr      *customerReader
	rows    []refImportRow
	entries []refIndexEntry
	stale   []refIndexEntry // old keys that changed rows no longer list
	st      ImportStats
}

// row records one valid row: its index keys, and its record if it changed.
func (im *refImporter) row(line int, c entitlement.Customer) error {
	ri := int32(len(im.rows))
	raw, err := json.Marshal(toRecord(&c))
	if err != nil {
		return fmt.Errorf("encode customer %s: %w", c.ID, err)
	}
	id := []byte(c.ID)
	old := im.tx.bucket(bCustomers).Get(id)
	im.st.Rows++
	switch {
	case old == nil:
		im.st.Added++
	case bytes.Equal(old, raw):
		im.st.Unchanged++
		raw = nil
	default:
		im.st.Updated++
		prev, err := decodeCustomer(old)
		if err != nil {
			return err
		}
		for k, lists := range [2][2][]string{{prev.Contacts, c.Contacts}, {prev.Domains, c.Domains}} {
			for _, key := range lists[0] {
				if !contains(lists[1], key) {
					im.stale = append(im.stale, refIndexEntry{key: key, row: ri, kind: uint8(k)})
				}
			}
		}
	}
	im.rows = append(im.rows, refImportRow{id: id, line: int32(line), raw: raw})
	for _, key := range c.Contacts {
		im.entries = append(im.entries, refIndexEntry{key: key, row: ri, kind: refKindContact})
	}
	for _, key := range c.Domains {
		im.entries = append(im.entries, refIndexEntry{key: key, row: ri, kind: refKindDomain})
	}
	return nil
}

func refCompareEntries(a, b refIndexEntry) int {
	if a.kind != b.kind {
		return int(a.kind) - int(b.kind)
	}
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}
	return int(a.row) - int(b.row)
}

// conflicts reports keys listed by two rows of the file, and keys that belong
// to an existing customer the file does not list.
func (im *refImporter) conflicts() {
	slices.SortFunc(im.entries, refCompareEntries)
	for i, e := range im.entries {
		line := int(im.rows[e.row].line)
		if i > 0 {
			p := im.entries[i-1]
			if p.kind == e.kind && p.key == e.key {
				if im.cr.add(&LineError{Line: line, Column: refKindColumns[e.kind], Err: fmt.Errorf("%w: %s %q is also listed for customer %s on line %d",
					ErrConflict, refKindNames[e.kind], e.key, im.rows[p.row].id, im.rows[p.row].line)}) != nil {
					return
				}
				continue
			}
		}
		owner := im.tx.bucket(refKindBuckets[e.kind]).Get([]byte(e.key))
		if owner == nil || bytes.Equal(owner, im.rows[e.row].id) {
			continue
		}
		if _, inFile := im.cr.seen[string(owner)]; inFile {
			continue // the owner's row no longer lists it (else a duplicate above): it moves
		}
		if im.cr.add(&LineError{Line: line, Column: refKindColumns[e.kind], Err: fmt.Errorf("%w: %s %q belongs to existing customer %s, which this file does not list; remove it there first",
			ErrConflict, refKindNames[e.kind], e.key, owner)}) != nil {
			return
		}
	}
}

// write applies the import: stale index entries out, then records and index
// entries in key order.
func (im *refImporter) write() error {
	slices.SortFunc(im.stale, refCompareEntries)
	for _, e := range im.stale {
		b := im.tx.bucket(refKindBuckets[e.kind])
		k := []byte(e.key)
		if bytes.Equal(b.Get(k), im.rows[e.row].id) {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete %s index %q: %w", refKindNames[e.kind], e.key, err)
			}
		}
	}
	order := make([]int32, 0, len(im.rows))
	for i, r := range im.rows {
		if r.raw != nil {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(im.rows[a].id, im.rows[b].id) })
	cb := im.tx.bucket(bCustomers)
	cb.FillPercent = bulkFillPercent
	for _, i := range order {
		if err := cb.Put(im.rows[i].id, im.rows[i].raw); err != nil {
			return fmt.Errorf("put customer %s: %w", im.rows[i].id, err)
		}
	}
	// entries are sorted by conflicts(); unchanged rows' entries already exist.
	for _, e := range im.entries {
		if im.rows[e.row].raw == nil {
			continue
		}
		b := im.tx.bucket(refKindBuckets[e.kind])
		b.FillPercent = bulkFillPercent
		k := []byte(e.key)
		if bytes.Equal(b.Get(k), im.rows[e.row].id) {
			continue
		}
		if err := b.Put(k, im.rows[e.row].id); err != nil {
			return fmt.Errorf("put %s index %q: %w", refKindNames[e.kind], e.key, err)
		}
	}
	return nil
}
