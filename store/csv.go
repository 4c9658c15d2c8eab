package store

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"supportd/entitlement"
)

// CSV limits.
const (
	// MaxCSVErrors is how many bad rows are collected before reading stops.
	MaxCSVErrors = 20
	// MaxRecordBytes caps one CSV record (a row, quoted newlines included).
	MaxRecordBytes = 128 << 10
)

// CSVColumns is the header of the customer CSV (docs/design.md §9), in export order.
var CSVColumns = []string{"id", "company", "contacts", "domains", "license", "asup_expires", "trial_expires", "free5", "extended_support", "ha_module"}

// SubscriptionColumns are optional columns after CSVColumns: the subscriptions
// (docs/design.md §3) that end with the support contract. Export writes them only when a
// customer holds one, so the usual file keeps the docs/design.md §9 header.
var SubscriptionColumns = []string{"reset_portal", "remote_sites"}

// knownColumns is every column an import accepts, in export order.
var knownColumns = append(slices.Clone(CSVColumns), SubscriptionColumns...)

// requiredColumns must be in every header; the others default to empty/false.
var requiredColumns = []string{"id", "company", "contacts", "domains", "license", "asup_expires"}

// LineError is one problem of one CSV row.
type LineError struct {
	Line   int    // 1-based line where the record starts (the header is line 1)
	Column string // "" when the problem is not one column's
	Err    error
}

func (e *LineError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: %s: %v", e.Line, e.Column, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// CSVError is every problem found in a CSV file (at most MaxCSVErrors; More is
// set when reading stopped there).
type CSVError struct {
	Errs []*LineError
	More bool
}

func (e *CSVError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad row(s) in customer CSV, nothing imported", len(e.Errs))
	if e.More {
		fmt.Fprintf(&b, " (stopped after %d)", MaxCSVErrors)
	}
	for _, le := range e.Errs {
		b.WriteString("\n")
		b.WriteString(le.Error())
	}
	return b.String()
}

func (e *CSVError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, le := range e.Errs {
		out[i] = le
	}
	return out
}

// customerReader keeps, for the whole file, each id's line to find duplicate
// ids. The import, which must not hold a map as large as the file, leaves
// seen nil: it finds duplicates itself after sorting, and badID hears of the
// valid ids of rows that had other errors.
type customerReader struct {
	seen  map[string]int
	badID func(line int, id string)
	errs  *CSVError
}

var errTooManyErrors = errors.New("too many errors")

// add records a line error; it returns errTooManyErrors once the cap is hit.
func (cr *customerReader) add(le *LineError) error {
	if len(cr.errs.Errs) >= MaxCSVErrors {
		cr.errs.More = true
		return errTooManyErrors
	}
	cr.errs.Errs = append(cr.errs.Errs, le)
	return nil
}

func (cr *customerReader) read(r io.Reader, fn func(line int, c entitlement.Customer) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	lim := &recordLimitReader{r: br, max: MaxRecordBytes, line: 1}
	cs := csv.NewReader(lim)
	cs.ReuseRecord = true

	header, err := cs.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("read customer CSV: empty file, a header row is required")
		}
		return fmt.Errorf("read customer CSV header: %w", err)
	}
	col, err := parseHeader(header)
	if err != nil {
		return fmt.Errorf("read customer CSV: line 1: %w", err)
	}

	for {
		rec, err := cs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, errRecordTooLong) {
				_ = cr.add(&LineError{Line: lim.recordLine, Err: errRecordTooLong})
				return cr.errs
			}
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("read customer CSV near line %d: %w", lim.line, err)
			}
			line := pe.StartLine
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				if cr.add(&LineError{Line: line, Err: fmt.Errorf("has %d fields, the header has %d", len(rec), len(header))}) != nil {
					return cr.errs
				}
				continue
			}
			if cr.add(&LineError{Line: line, Err: pe.Err}) != nil {
				return cr.errs
			}
			continue
		}
		line, _ := cs.FieldPos(0)
		c, bad := parseRow(rec, col)
		if c.ID != "" && !hasField(bad, "id") {
			if cr.seen == nil {
				if len(bad) > 0 && cr.badID != nil {
					cr.badID(line, c.ID)
				}
			} else if prev, ok := cr.seen[c.ID]; ok {
				bad = append(bad, fieldError{Field: "id", Err: fmt.Errorf("%q is already on line %d", c.ID, prev)})
			} else {
				cr.seen[c.ID] = line
			}
		}
		if len(bad) > 0 {
			for _, fe := range bad {
				if cr.add(&LineError{Line: line, Column: fe.Field, Err: fe.Err}) != nil {
					return cr.errs
				}
			}
			continue
		}
		if err := fn(line, c); err != nil {
			var le *LineError
			if errors.As(err, &le) {
				if cr.add(le) != nil {
					return cr.errs
				}
				continue
			}
			return err
		}
	}
	if len(cr.errs.Errs) > 0 {
		return cr.errs
	}
	return nil
}

func hasField(errs []fieldError, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

// columns maps each known column to its index in the file, -1 if absent.
type columns [12]int

func parseHeader(h []string) (columns, error) {
	var col columns
	for i := range col {
		col[i] = -1
	}
	for i, name := range h {
		name = strings.ToLower(strings.TrimSpace(name))
		j := slices.Index(knownColumns, name)
		if j < 0 {
			return col, fmt.Errorf("unknown column %q (columns are %s, optionally %s)", truncate(name), strings.Join(CSVColumns, ","), strings.Join(SubscriptionColumns, ","))
		}
		if col[j] >= 0 {
			return col, fmt.Errorf("column %q appears twice", name)
		}
		col[j] = i
	}
	var missing []string
	for _, name := range requiredColumns {
		if col[slices.Index(knownColumns, name)] < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return col, fmt.Errorf("missing required column(s) %s", strings.Join(missing, ", "))
	}
	return col, nil
}

// parseRow turns one record into a normalised customer plus its field errors.
func parseRow(rec []string, col columns) (entitlement.Customer, []fieldError) {
	var errs []fieldError
	cell := func(name string) string {
		i := col[slices.Index(knownColumns, name)]
		if i < 0 {
			return ""
		}
		return unneutralize(rec[i])
	}
	scalar := func(name string) (string, bool) {
		v := cell(name)
		if len(v) > MaxFieldBytes {
			errs = append(errs, fieldError{Field: name, Err: fmt.Errorf("longer than %d bytes", MaxFieldBytes)})
			return "", false
		}
		return strings.TrimSpace(v), true
	}
	list := func(name string) []string {
		v := cell(name)
		if len(v) > maxListBytes {
			errs = append(errs, fieldError{Field: name, Err: fmt.Errorf("longer than %d bytes", maxListBytes)})
			return nil
		}
		if strings.TrimSpace(v) == "" {
			return nil
		}
		return strings.Split(v, ";")
	}
	date := func(name string) entitlement.Date {
		v, ok := scalar(name)
		if !ok {
			return entitlement.Date{}
		}
		d, err := parseDate(v)
		if err != nil {
			errs = append(errs, fieldError{Field: name, Err: err})
		}
		return d
	}
	boolean := func(name string) bool {
		if col[slices.Index(knownColumns, name)] < 0 {
			return false
		}
		v, ok := scalar(name)
		if !ok {
			return false
		}
		switch strings.ToLower(v) {
		case "true":
			return true
		case "false":
			return false
		}
		errs = append(errs, fieldError{Field: name, Err: fmt.Errorf("%q is not true or false", truncate(v))})
		return false
	}
	var c entitlement.Customer
	c.ID, _ = scalar("id")
	c.Company, _ = scalar("company")
	c.Contacts = list("contacts")
	c.Domains = list("domains")
	c.License, _ = scalar("license")
	c.ASUPExpires = date("asup_expires")
	c.TrialExpires = date("trial_expires")
	c.Free5 = boolean("free5")
	c.ExtendedSupport = boolean("extended_support")
	c.HAModule = boolean("ha_module")
	c.ResetPortal = boolean("reset_portal")
	c.RemoteSites = boolean("remote_sites")

	n, ferrs := normalizeCustomer(c)
	for _, fe := range ferrs {
		if !hasField(errs, fe.Field) {
			errs = append(errs, fe)
		}
	}
	// Keep the (possibly over-long, hence cleared) id out of duplicate checks.
	if hasField(errs, "id") {
		n.ID = ""
	}
	return n, errs
}

// isFormulaStart reports whether a spreadsheet would treat a cell beginning
// with b as a formula (OWASP "CSV injection").
func isFormulaStart(b byte) bool {
	switch b {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// neutralize prefixes ' to a cell that a spreadsheet would run as a formula.
// Cells already of the form '…'<formula char> get one more ', so that
// unneutralize is its exact inverse.
func neutralize(s string) string {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i < len(s) && isFormulaStart(s[i]) {
		return "'" + s
	}
	return s
}

// unneutralize removes the one ' that neutralize added.
func unneutralize(s string) string {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	if i > 0 && i < len(s) && isFormulaStart(s[i]) {
		return s[1:]
	}
	return s
}

// CSVWriter writes customers as CSV (header first) with formula
// neutralisation; ReadCustomersCSV reads its output back identically.
type CSVWriter struct {
	w      *csv.Writer
	header bool
	rec    []string
}

// NewCSVWriter returns a writer to w. Call Flush at the end.
func NewCSVWriter(w io.Writer) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w), rec: make([]string, len(CSVColumns))}
}

// WithSubscriptions makes the writer add SubscriptionColumns; call it before
// the first Write.
func (cw *CSVWriter) WithSubscriptions() *CSVWriter {
	cw.rec = make([]string, len(knownColumns))
	return cw
}

func (cw *CSVWriter) writeHeader() error {
	if cw.header {
		return nil
	}
	cw.header = true
	return cw.w.Write(knownColumns[:len(cw.rec)])
}

func hasSubscription(c *entitlement.Customer) bool { return c.ResetPortal || c.RemoteSites }

// Write writes one customer (after the header, on the first call).
func (cw *CSVWriter) Write(c entitlement.Customer) error {
	if err := cw.writeHeader(); err != nil {
		return err
	}
	r := cw.rec
	r[0] = c.ID
	r[1] = c.Company
	r[2] = strings.Join(c.Contacts, ";")
	r[3] = strings.Join(c.Domains, ";")
	r[4] = c.License
	r[5] = formatDate(c.ASUPExpires)
	r[6] = formatDate(c.TrialExpires)
	r[7] = fmt.Sprint(c.Free5)
	r[8] = fmt.Sprint(c.ExtendedSupport)
	r[9] = fmt.Sprint(c.HAModule)
	if len(r) > 10 {
		r[10] = fmt.Sprint(c.ResetPortal)
		r[11] = fmt.Sprint(c.RemoteSites)
	}
	for i := range r {
		r[i] = neutralize(r[i])
	}
	return cw.w.Write(r)
}

// Flush writes the header if no customer was written, and flushes.
func (cw *CSVWriter) Flush() error {
	if err := cw.writeHeader(); err != nil {
		return err
	}
	cw.w.Flush()
	return cw.w.Error()
}

// ExportCustomers writes every customer as CSV, sorted by id, from one
// consistent read transaction, and returns how many it wrote.
func (db *DB) ExportCustomers(w io.Writer) (int, error) {
	n := 0
	err := db.View(func(tx *Tx) error {
		cw := NewCSVWriter(w)
		// A first pass decides the header: the subscription columns only when a
		// customer holds a subscription.
		errFound := errors.New("found")
		switch err := tx.ForEachCustomer(func(c entitlement.Customer) error {
			if hasSubscription(&c) {
				return errFound
			}
			return nil
		}); {
		case errors.Is(err, errFound):
			cw.WithSubscriptions()
		case err != nil:
			return err
		}
		if err := tx.ForEachCustomer(func(c entitlement.Customer) error {
			n++
			return cw.Write(c)
		}); err != nil {
			return err
		}
		return cw.Flush()
	})
	if err != nil {
		return n, fmt.Errorf("export customers: %w", err)
	}
	return n, nil
}

var errRecordTooLong = fmt.Errorf("record longer than %d bytes", MaxRecordBytes)

// recordLimitReader fails once one CSV record exceeds max bytes, so that a
// hostile file cannot make encoding/csv buffer an endless quoted field. It
// tracks quote parity: a newline outside quotes ends a record ("" escapes
// keep the parity).
type recordLimitReader struct {
	r          io.Reader
	max        int
	cur        int
	inQuote    bool
	line       int // current physical line
	recordLine int // line where the current record started
	err        error
}

func (l *recordLimitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if l.cur == 0 {
			l.recordLine = l.line
		}
		l.cur++
		switch p[i] {
		case '"':
			l.inQuote = !l.inQuote
		case '\n':
			l.line++
			if !l.inQuote {
				l.cur = 0
				continue
			}
		}
		if l.cur > l.max {
			l.err = errRecordTooLong
			return i, l.err
		}
	}
	return n, err
}
