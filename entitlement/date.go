package entitlement

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

const dateLayout = "2006-01-02"

// ParseDate parses a YYYY-MM-DD date. The empty string (after trimming) gives
// the zero Date and no error: in the customer CSV an empty date means "not set".
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Date{}, nil
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Date{}, fmt.Errorf("parse date %q: want YYYY-MM-DD: %w", s, err)
	}
	return Date{Year: t.Year(), Month: t.Month(), Day: t.Day()}, nil
}

// IsZero reports whether the date is not set.
func (d Date) IsZero() bool { return d == Date{} }

// String formats the date as YYYY-MM-DD; the zero Date formats as "".
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// End is the first instant after the date in loc (midnight starting the next
// day): the date lasts while t.Before(d.End(loc)). A nil loc means UTC.
func (d Date) End(loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	return time.Date(d.Year, d.Month, d.Day+1, 0, 0, 0, 0, loc)
}

// Covers reports whether the date is set and t is at or before the end of that
// day in loc (expiry dates are inclusive).
func (d Date) Covers(t time.Time, loc *time.Location) bool {
	return !d.IsZero() && t.Before(d.End(loc))
}

// MarshalText formats the date as YYYY-MM-DD ("" for the zero Date).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD; empty text gives the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes "YYYY-MM-DD", or null for the zero Date (docs/design.md §7 uses null).
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.String() + `"`), nil
}

// UnmarshalJSON accepts "YYYY-MM-DD", "" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("parse date %s: want a JSON string", b)
	}
	return d.UnmarshalText(b[1 : len(b)-1])
}
