package store

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"supportd/entitlement"
)

// Helpers only the tests of this package use (kept out of the binary).

// ReadCustomersCSV streams a customer CSV (docs/design.md §9): a header row naming the
// columns in any order (unknown or repeated columns, or a missing required one,
// are errors), then one customer per row. A UTF-8 BOM and CRLF line ends are
// accepted. A cell that starts with ' followed by ' = + - @ TAB or CR loses
// that first ' (undoing the formula neutralisation of WriteCustomersCSV).
//
// fn is called, in file order, for every valid row with its line number and
// the normalised customer, also after bad rows were found: a caller that
// must be all-or-nothing discards its work when an error is returned. If fn
// returns a *LineError it is collected like a bad row; any other error stops
// reading and is returned as is. Bad rows (wrong field count, bad values,
// duplicate ids, over-long fields) are collected, up to MaxCSVErrors, and
// returned together as a *CSVError.
func ReadCustomersCSV(r io.Reader, fn func(line int, c entitlement.Customer) error) error {
	cr := newCustomerReader()
	return cr.read(r, fn)
}

func newCustomerReader() *customerReader {
	return &customerReader{seen: make(map[string]int), errs: &CSVError{}}
}

// WriteCustomersCSV writes cs sorted by id (the slice is not modified).
func WriteCustomersCSV(w io.Writer, cs []entitlement.Customer) error {
	sorted := slices.Clone(cs)
	slices.SortFunc(sorted, func(a, b entitlement.Customer) int { return strings.Compare(a.ID, b.ID) })
	cw := NewCSVWriter(w)
	if slices.ContainsFunc(sorted, func(c entitlement.Customer) bool { return hasSubscription(&c) }) {
		cw.WithSubscriptions()
	}
	for _, c := range sorted {
		if err := cw.Write(c); err != nil {
			return fmt.Errorf("write customer CSV: %w", err)
		}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("write customer CSV: %w", err)
	}
	return nil
}
