package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"supportd/entitlement"
)

// Field limits of a customer record (CSV and PutCustomer alike).
const (
	MaxFieldBytes = 512   // one scalar field, or one list item
	MaxIDBytes    = 128   // customer id
	MaxListItems  = 1000  // contacts or domains of one customer
	maxListBytes  = 64000 // a whole list cell
)

// customerRecord is the on-disk JSON of a customer (schema v1 and v2). Field
// order is fixed, so equal customers marshal to equal bytes (used to count
// unchanged rows on import).
type customerRecord struct {
	ID              string   `json:"id"`
	Company         string   `json:"company"`
	Contacts        []string `json:"contacts,omitempty"`
	Domains         []string `json:"domains,omitempty"`
	License         string   `json:"license"`
	ASUPExpires     string   `json:"asup_expires,omitempty"`
	TrialExpires    string   `json:"trial_expires,omitempty"`
	Free5           bool     `json:"free5,omitempty"`
	ExtendedSupport bool     `json:"extended_support,omitempty"`
	HAModule        bool     `json:"ha_module,omitempty"`
	ResetPortal     bool     `json:"reset_portal,omitempty"`
	RemoteSites     bool     `json:"remote_sites,omitempty"`
}

func toRecord(c *entitlement.Customer) customerRecord {
	return customerRecord{
		ID: c.ID, Company: c.Company, Contacts: c.Contacts, Domains: c.Domains,
		License: c.License, ASUPExpires: formatDate(c.ASUPExpires), TrialExpires: formatDate(c.TrialExpires),
		Free5: c.Free5, ExtendedSupport: c.ExtendedSupport, HAModule: c.HAModule,
		ResetPortal: c.ResetPortal, RemoteSites: c.RemoteSites,
	}
}

func decodeCustomer(raw []byte) (*entitlement.Customer, error) {
	var r customerRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode customer: %w", err)
	}
	asup, err := parseDate(r.ASUPExpires)
	if err != nil {
		return nil, fmt.Errorf("decode customer %s: asup_expires: %w", r.ID, err)
	}
	trial, err := parseDate(r.TrialExpires)
	if err != nil {
		return nil, fmt.Errorf("decode customer %s: trial_expires: %w", r.ID, err)
	}
	return &entitlement.Customer{
		ID: r.ID, Company: r.Company, Contacts: r.Contacts, Domains: r.Domains,
		License: r.License, ASUPExpires: asup, TrialExpires: trial,
		Free5: r.Free5, ExtendedSupport: r.ExtendedSupport, HAModule: r.HAModule,
		ResetPortal: r.ResetPortal, RemoteSites: r.RemoteSites,
	}, nil
}

// parseDate parses YYYY-MM-DD strictly; "" is the zero Date.
func parseDate(s string) (entitlement.Date, error) {
	if s == "" {
		return entitlement.Date{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil || len(s) != 10 {
		return entitlement.Date{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return entitlement.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

func formatDate(d entitlement.Date) string {
	if d == (entitlement.Date{}) {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

func validDate(d entitlement.Date) bool {
	if d == (entitlement.Date{}) {
		return true
	}
	if d.Year < 1 || d.Year > 9999 {
		return false
	}
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	return t.Year() == d.Year && t.Month() == d.Month && t.Day() == d.Day
}

// fieldError is one problem with one field of a customer.
type fieldError struct {
	Field string
	Err   error
}

// normalizeCustomer validates c and returns its canonical form: trimmed
// fields, lower-cased contacts, domains and licence, lists de-duplicated (first
// occurrence kept, order preserved, nil when empty).
func normalizeCustomer(c entitlement.Customer) (entitlement.Customer, []fieldError) {
	var errs []fieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	c.ID = strings.TrimSpace(c.ID)
	switch {
	case c.ID == "":
		bad("id", "is empty")
	case len(c.ID) > MaxIDBytes:
		bad("id", "longer than %d bytes", MaxIDBytes)
	case !validID(c.ID):
		bad("id", "%q contains spaces, control characters or invalid UTF-8", c.ID)
	}
	c.Company = strings.TrimSpace(c.Company)
	switch {
	case c.Company == "":
		bad("company", "is empty")
	case len(c.Company) > MaxFieldBytes:
		bad("company", "longer than %d bytes", MaxFieldBytes)
	case !validText(c.Company):
		bad("company", "contains control characters or invalid UTF-8")
	}
	var err error
	if c.Contacts, err = normalizeList(c.Contacts, normalizeEmail); err != nil {
		bad("contacts", "%v", err)
	}
	if c.Domains, err = normalizeList(c.Domains, func(s string) (string, error) {
		return normalizeDomain(strings.TrimPrefix(s, "@"))
	}); err != nil {
		bad("domains", "%v", err)
	}
	c.License = strings.ToLower(strings.TrimSpace(c.License))
	switch c.License {
	case "cal", "enterprise", "global":
	default:
		bad("license", "%q is not one of cal, enterprise, global", truncate(c.License))
	}
	if !validDate(c.ASUPExpires) {
		bad("asup_expires", "%v is not a valid date", c.ASUPExpires)
	}
	if !validDate(c.TrialExpires) {
		bad("trial_expires", "%v is not a valid date", c.TrialExpires)
	}
	return c, errs
}

func normalizeList(in []string, norm func(string) (string, error)) ([]string, error) {
	if len(in) > MaxListItems {
		return nil, fmt.Errorf("more than %d entries", MaxListItems)
	}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if len(s) > MaxFieldBytes {
			return nil, fmt.Errorf("entry longer than %d bytes", MaxFieldBytes)
		}
		n, err := norm(s)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			if o == n {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out, nil
}

// normalizeEmail checks an address lightly (local@domain, no spaces, quotes or
// separators) and lower-cases it. Matching is case-insensitive in practice, so
// the whole address is lower-cased.
func normalizeEmail(s string) (string, error) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", fmt.Errorf("%q is not an email address", truncate(s))
	}
	local := s[:at]
	if len(local) > 64 || !utf8.ValidString(local) || strings.ContainsAny(local, " \t\r\n\"(),;:<>[]\\@") || hasControl(local) {
		return "", fmt.Errorf("%q is not an email address", truncate(s))
	}
	dom, err := normalizeDomain(s[at+1:])
	if err != nil {
		return "", fmt.Errorf("%q is not an email address", truncate(s))
	}
	return strings.ToLower(local) + "@" + dom, nil
}

// normalizeDomain accepts a dotted host name (letters, digits, hyphens, or
// non-ASCII letters for internationalised names) and lower-cases it.
func normalizeDomain(s string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") || !utf8.ValidString(d) {
		return "", fmt.Errorf("%q is not a domain", truncate(s))
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%q is not a domain", truncate(s))
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r > 0x7f && r != utf8.RuneError && !isSpaceOrControl(r)) {
				return "", fmt.Errorf("%q is not a domain", truncate(s))
			}
		}
	}
	return d, nil
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0xa0 || r == 0x2028 || r == 0x2029 || r == 0xfeff
}

func validID(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if isSpaceOrControl(r) {
			return false
		}
	}
	return true
}

func validText(s string) bool {
	return utf8.ValidString(s) && !hasControl(s)
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return true
		}
	}
	return false
}

// truncate shortens a value quoted in an error message.
func truncate(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 80
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func joinFieldErrors(id string, errs []fieldError) error {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Field + ": " + e.Err.Error()
	}
	return fmt.Errorf("customer %q: %w: %s", id, ErrInvalid, strings.Join(parts, "; "))
}

// Customer returns the customer with this id, or nil and no error if none.
func (t *Tx) Customer(id string) (*entitlement.Customer, error) {
	raw := t.bucket(bCustomers).Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	return decodeCustomer(raw)
}

// CustomerByContact returns the customer listing addr (case-insensitive) as a
// contact, or nil and no error. One index Get and one record Get.
func (t *Tx) CustomerByContact(addr string) (*entitlement.Customer, error) {
	return t.customerByIndex(bByContact, strings.ToLower(strings.TrimSpace(addr)))
}

// CustomerByDomain returns the customer owning domain (case-insensitive), or
// nil and no error. Public-domain policy is entitlement's business, not ours.
func (t *Tx) CustomerByDomain(domain string) (*entitlement.Customer, error) {
	return t.customerByIndex(bByDomain, strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), ".")))
}

func (t *Tx) customerByIndex(index []byte, key string) (*entitlement.Customer, error) {
	if key == "" {
		return nil, nil
	}
	id := t.bucket(index).Get([]byte(key))
	if id == nil {
		return nil, nil
	}
	raw := t.bucket(bCustomers).Get(id)
	if raw == nil {
		return nil, fmt.Errorf("%s %q points to missing customer %q", index, key, id)
	}
	return decodeCustomer(raw)
}

// ForEachCustomer calls fn for every customer in id order, stopping at fn's
// first error. It holds one read transaction for the whole walk.
func (t *Tx) ForEachCustomer(fn func(c entitlement.Customer) error) error {
	return t.bucket(bCustomers).ForEach(func(_, v []byte) error {
		c, err := decodeCustomer(v)
		if err != nil {
			return err
		}
		return fn(*c)
	})
}

// PutCustomer validates and normalises c, then inserts or replaces it,
// maintaining the contact and domain indexes (entries of the previous version
// that c no longer lists are removed). A contact or domain belonging to another
// customer is an error wrapping ErrConflict; move it by first removing it there.
func (t *Tx) PutCustomer(c entitlement.Customer) error {
	n, errs := normalizeCustomer(c)
	if len(errs) > 0 {
		return joinFieldErrors(c.ID, errs)
	}
	id := []byte(n.ID)
	var conflicts []string
	check := func(index []byte, what string, keys []string) {
		b := t.bucket(index)
		for _, k := range keys {
			if owner := b.Get([]byte(k)); owner != nil && !bytes.Equal(owner, id) {
				conflicts = append(conflicts, fmt.Sprintf("%s %q belongs to customer %s", what, k, owner))
			}
		}
	}
	check(bByContact, "contact", n.Contacts)
	check(bByDomain, "domain", n.Domains)
	if len(conflicts) > 0 {
		return fmt.Errorf("put customer %s: %w: %s", n.ID, ErrConflict, strings.Join(conflicts, "; "))
	}
	_, err := t.writeCustomer(&n, t.bucket(bCustomers).Get(id))
	return err
}

// writeCustomer stores the normalised n whose previous raw record is old (nil
// if new). It returns false when the stored bytes were already identical. Index
// entries of old that point to n.ID and are not in n are removed; n's entries
// are set to n.ID (overwriting whatever was there: callers check conflicts).
func (t *Tx) writeCustomer(n *entitlement.Customer, old []byte) (bool, error) {
	raw, err := json.Marshal(toRecord(n))
	if err != nil {
		return false, fmt.Errorf("encode customer %s: %w", n.ID, err)
	}
	if old != nil && bytes.Equal(old, raw) {
		return false, nil
	}
	id := []byte(n.ID)
	if old != nil {
		prev, err := decodeCustomer(old)
		if err != nil {
			return false, err
		}
		if err := removeStale(t.bucket(bByContact), id, prev.Contacts, n.Contacts); err != nil {
			return false, err
		}
		if err := removeStale(t.bucket(bByDomain), id, prev.Domains, n.Domains); err != nil {
			return false, err
		}
	}
	if err := putIndex(t.bucket(bByContact), id, n.Contacts); err != nil {
		return false, err
	}
	if err := putIndex(t.bucket(bByDomain), id, n.Domains); err != nil {
		return false, err
	}
	if err := t.bucket(bCustomers).Put(id, raw); err != nil {
		return false, fmt.Errorf("put customer %s: %w", n.ID, err)
	}
	return true, nil
}

func removeStale(b *bolt.Bucket, id []byte, old, keep []string) error {
	for _, k := range old {
		if contains(keep, k) {
			continue
		}
		if owner := b.Get([]byte(k)); bytes.Equal(owner, id) {
			if err := b.Delete([]byte(k)); err != nil {
				return fmt.Errorf("delete index %q: %w", k, err)
			}
		}
	}
	return nil
}

func putIndex(b *bolt.Bucket, id []byte, keys []string) error {
	for _, k := range keys {
		if owner := b.Get([]byte(k)); bytes.Equal(owner, id) {
			continue
		}
		if err := b.Put([]byte(k), id); err != nil {
			return fmt.Errorf("put index %q: %w", k, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// DeleteCustomer removes the customer and its index entries; ErrNotFound if
// there is no such customer.
func (t *Tx) DeleteCustomer(id string) error {
	b := t.bucket(bCustomers)
	raw := b.Get([]byte(id))
	if raw == nil {
		return fmt.Errorf("delete customer %q: %w", id, ErrNotFound)
	}
	prev, err := decodeCustomer(raw)
	if err != nil {
		return err
	}
	if err := removeStale(t.bucket(bByContact), []byte(id), prev.Contacts, nil); err != nil {
		return err
	}
	if err := removeStale(t.bucket(bByDomain), []byte(id), prev.Domains, nil); err != nil {
		return err
	}
	if err := b.Delete([]byte(id)); err != nil {
		return fmt.Errorf("delete customer %q: %w", id, err)
	}
	return nil
}

// rebuildCustomerIndexes recreates both customer indexes from the records. A
// key listed by several customers goes to the first in id order (older
// schemas did not enforce uniqueness); the count of such keys is returned.
func rebuildCustomerIndexes(tx *bolt.Tx) (int, error) {
	for _, name := range [][]byte{bByContact, bByDomain} {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return 0, err
			}
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return 0, err
		}
	}
	contacts, domains := tx.Bucket(bByContact), tx.Bucket(bByDomain)
	dups := 0
	add := func(b *bolt.Bucket, id []byte, keys []string) error {
		for _, k := range keys {
			if b.Get([]byte(k)) != nil {
				dups++
				continue
			}
			if err := b.Put([]byte(k), id); err != nil {
				return err
			}
		}
		return nil
	}
	err := tx.Bucket(bCustomers).ForEach(func(k, v []byte) error {
		c, err := decodeCustomer(v)
		if err != nil {
			return err
		}
		id := bytes.Clone(k)
		if err := add(contacts, id, c.Contacts); err != nil {
			return err
		}
		return add(domains, id, c.Domains)
	})
	if err != nil {
		return 0, fmt.Errorf("rebuild customer indexes: %w", err)
	}
	return dups, nil
}
