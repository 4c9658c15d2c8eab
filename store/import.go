package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"supportd/entitlement"
)

// ImportStats counts what an import did. Rows = Added + Updated + Unchanged.
type ImportStats struct {
	Rows      int
	Added     int
	Updated   int
	Unchanged int
}

// progressEvery is how many rows pass between progress calls.
const progressEvery = 10000

// ImportCustomers reads a customer CSV (see ReadCustomersCSV) and inserts or
// updates every customer in it, in ONE read-write transaction: if any row is
// bad, or a contact or domain is claimed by two customers, nothing is written
// and the error is a *CSVError listing the problems with their line numbers.
// Customers absent from the file are left alone (no deletion). Importing the
// same file again writes nothing and reports every row Unchanged.
//
// A contact or domain may belong to one customer only. It may move from one
// customer to another in a single import as long as the file no longer lists
// it for the old owner; if the old owner is not in the file at all, that is a
// conflict (edit or delete the old owner first).
//
// progress, if not nil, is called every 10,000 rows and at the end with the
// number of valid rows read so far.
func (db *DB) ImportCustomers(r io.Reader, progress func(rows int)) (ImportStats, error) {
	var st ImportStats
	err := db.Update(func(tx *Tx) error {
		st = ImportStats{}
		cr := newCustomerReader()
		im := &importer{tx: tx, seen: cr.seen, pending: make(map[string][]steal)}
		err := cr.read(r, func(line int, c entitlement.Customer) error {
			added, changed, err := im.put(line, c)
			if err != nil {
				return err
			}
			st.Rows++
			switch {
			case added:
				st.Added++
			case changed:
				st.Updated++
			default:
				st.Unchanged++
			}
			if progress != nil && st.Rows%progressEvery == 0 {
				progress(st.Rows)
			}
			return nil
		})
		var csvErr *CSVError
		if err != nil && !errors.As(err, &csvErr) {
			return err
		}
		if csvErr == nil {
			csvErr = cr.errs
		}
		if !csvErr.More {
			im.unresolved(cr)
		}
		if len(csvErr.Errs) > 0 {
			slices.SortStableFunc(csvErr.Errs, func(a, b *LineError) int { return a.Line - b.Line })
			return csvErr
		}
		if progress != nil {
			progress(st.Rows)
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

// steal: row `line` (customer thief) took key from existing customer owner,
// which must not list it any more when (if) it appears later in the file.
type steal struct {
	owner, thief string
	kind, key    string
	line         int
}

type importer struct {
	tx      *Tx
	seen    map[string]int     // id → line, of rows read so far (shared with the reader)
	pending map[string][]steal // owner id → keys taken from it by rows of this file
}

// put writes one normalised customer. It returns a *LineError for conflicts.
func (im *importer) put(line int, c entitlement.Customer) (added, changed bool, err error) {
	id := []byte(c.ID)
	var conflicts []string
	var steals []steal
	check := func(index []byte, kind string, keys []string) {
		b := im.tx.bucket(index)
		for _, k := range keys {
			owner := b.Get([]byte(k))
			if owner == nil || bytes.Equal(owner, id) {
				continue
			}
			o := string(owner)
			if ol, ok := im.seen[o]; ok {
				conflicts = append(conflicts, fmt.Sprintf("%s %q is also listed for customer %s on line %d", kind, k, o, ol))
				continue
			}
			steals = append(steals, steal{owner: o, thief: c.ID, kind: kind, key: k, line: line})
		}
	}
	check(bByContact, "contact", c.Contacts)
	check(bByDomain, "domain", c.Domains)
	for _, s := range im.pending[c.ID] {
		keys := c.Contacts
		if s.kind == "domain" {
			keys = c.Domains
		}
		if contains(keys, s.key) {
			conflicts = append(conflicts, fmt.Sprintf("%s %q is also listed for customer %s on line %d", s.kind, s.key, s.thief, s.line))
		}
	}
	delete(im.pending, c.ID)
	if len(conflicts) > 0 {
		return false, false, &LineError{Line: line, Err: fmt.Errorf("%w: %s", ErrConflict, strings.Join(conflicts, "; "))}
	}
	for _, s := range steals {
		im.pending[s.owner] = append(im.pending[s.owner], s)
	}
	old := im.tx.bucket(bCustomers).Get(id)
	changed, err = im.tx.writeCustomer(&c, old)
	if err != nil {
		return false, false, err
	}
	return old == nil, changed, nil
}

// unresolved reports keys taken from customers that the file never listed
// again: the old owner still claims them.
func (im *importer) unresolved(cr *customerReader) {
	var all []steal
	for _, ss := range im.pending {
		all = append(all, ss...)
	}
	slices.SortFunc(all, func(a, b steal) int { return a.line - b.line })
	for _, s := range all {
		col := "contacts"
		if s.kind == "domain" {
			col = "domains"
		}
		err := fmt.Errorf("%w: %s %q belongs to existing customer %s, which this file does not list; remove it there first", ErrConflict, s.kind, s.key, s.owner)
		if ol, ok := cr.seen[s.owner]; ok {
			err = fmt.Errorf("%w: %s %q is also listed for customer %s on line %d", ErrConflict, s.kind, s.key, s.owner, ol)
		}
		if cr.add(&LineError{Line: s.line, Column: col, Err: err}) != nil {
			return
		}
	}
}
