package sla

import (
	"reflect"
	"testing"
	"time"
)

// whole and part build expected holidays compactly.
func whole(date, name string) Holiday { return Holiday{Date: date, Name: name} }
func part(date, name string) Holiday {
	return Holiday{Date: date, Name: name, From: 19 * time.Hour, Partial: true}
}

// The published South Australian lists for 2026 and 2027 (Public Holidays Act 2023).
var (
	sa2026 = []Holiday{
		whole("2026-01-01", "New Year's Day"),                    // Thu
		whole("2026-01-26", "Australia Day"),                     // Mon
		whole("2026-03-09", "Adelaide Cup Day"),                  // 2nd Mon of March
		whole("2026-04-03", "Good Friday"),                       // Fri
		whole("2026-04-04", "Easter Saturday"),                   // Sat
		whole("2026-04-05", "Easter Sunday"),                     // Sun
		whole("2026-04-06", "Easter Monday"),                     // Mon
		whole("2026-04-25", "Anzac Day"),                         // Sat, no substitute
		whole("2026-06-08", "King's Birthday"),                   // 2nd Mon of June
		whole("2026-10-05", "Labour Day"),                        // 1st Mon of October
		part("2026-12-24", "Christmas Eve"),                      // Thu from 19:00
		whole("2026-12-25", "Christmas Day"),                     // Fri
		whole("2026-12-26", "Proclamation Day"),                  // Sat
		whole("2026-12-28", "Proclamation Day (additional day)"), // Mon
		part("2026-12-31", "New Year's Eve"),                     // Thu from 19:00
	}
	sa2027 = []Holiday{
		whole("2027-01-01", "New Year's Day"),                    // Fri
		whole("2027-01-26", "Australia Day"),                     // Tue
		whole("2027-03-08", "Adelaide Cup Day"),                  // Mon
		whole("2027-03-26", "Good Friday"),                       // Fri
		whole("2027-03-27", "Easter Saturday"),                   // Sat
		whole("2027-03-28", "Easter Sunday"),                     // Sun
		whole("2027-03-29", "Easter Monday"),                     // Mon
		whole("2027-04-25", "Anzac Day"),                         // Sun, no substitute
		whole("2027-06-14", "King's Birthday"),                   // Mon
		whole("2027-10-04", "Labour Day"),                        // Mon
		part("2027-12-24", "Christmas Eve"),                      // Fri from 19:00
		whole("2027-12-25", "Christmas Day"),                     // Sat
		whole("2027-12-26", "Proclamation Day"),                  // Sun
		whole("2027-12-27", "Christmas Day (additional day)"),    // Mon
		whole("2027-12-28", "Proclamation Day (additional day)"), // Tue
		part("2027-12-31", "New Year's Eve"),                     // Fri from 19:00
	}
)

func TestSAHolidaysPublishedYears(t *testing.T) {
	for _, tc := range []struct {
		year int
		want []Holiday
	}{{2026, sa2026}, {2027, sa2027}} {
		got := SAHolidays(tc.year)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SAHolidays(%d):\n got  %v\n want %v", tc.year, got, tc.want)
		}
	}
}

// dates extracts the dates of hs.
// TestSAHolidaysChristmasOnWeekend pins the reading of Schedule 1 for the two
// awkward Decembers: 25 December on a Sunday (2022) and on a Saturday (2021), and
// New Year's Day on a Saturday (2022) and a Sunday (2023).
func TestSAHolidaysChristmasOnWeekend(t *testing.T) {
	tests := []struct {
		year int
		want []Holiday // December and early-January entries only
		from string    // keep entries on or after this date, or before `until`
		till string
	}{
		{2022, []Holiday{
			part("2022-12-24", "Christmas Eve"),
			whole("2022-12-25", "Christmas Day"), // Sun
			// Mon 26: the additional day for Christmas and Proclamation Day itself.
			whole("2022-12-26", "Christmas Day (additional day) / Proclamation Day"),
			whole("2022-12-27", "Proclamation Day (additional day)"), // Tue
			part("2022-12-31", "New Year's Eve"),
		}, "2022-12-01", "9999"},
		{2021, []Holiday{
			part("2021-12-24", "Christmas Eve"),
			whole("2021-12-25", "Christmas Day"),                     // Sat
			whole("2021-12-26", "Proclamation Day"),                  // Sun
			whole("2021-12-27", "Christmas Day (additional day)"),    // Mon
			whole("2021-12-28", "Proclamation Day (additional day)"), // Tue
			part("2021-12-31", "New Year's Eve"),
		}, "2021-12-01", "9999"},
		{2022, []Holiday{
			whole("2022-01-01", "New Year's Day"),                  // Sat
			whole("2022-01-03", "New Year's Day (additional day)"), // Mon
			whole("2022-01-26", "Australia Day"),                   // Wed
		}, "0000", "2022-02-01"},
		{2023, []Holiday{
			whole("2023-01-01", "New Year's Day"),                  // Sun
			whole("2023-01-02", "New Year's Day (additional day)"), // Mon
			whole("2023-01-26", "Australia Day"),                   // Thu
		}, "0000", "2023-02-01"},
		// Australia Day on a Saturday (2030) and Sunday (2025) moves to Monday.
		{2025, []Holiday{
			whole("2025-01-01", "New Year's Day"),
			whole("2025-01-27", "Australia Day"),
		}, "0000", "2025-02-01"},
		{2030, []Holiday{
			whole("2030-01-01", "New Year's Day"),
			whole("2030-01-28", "Australia Day"),
		}, "0000", "2030-02-01"},
		// Proclamation Day on a Monday (2022 above) and Christmas on a Monday (2023):
		// 26 December is a Tuesday, no additional day.
		{2023, []Holiday{
			part("2023-12-24", "Christmas Eve"),
			whole("2023-12-25", "Christmas Day"),
			whole("2023-12-26", "Proclamation Day"),
			part("2023-12-31", "New Year's Eve"),
		}, "2023-12-01", "9999"},
	}
	for _, tc := range tests {
		var got []Holiday
		for _, h := range SAHolidays(tc.year) {
			if h.Date >= tc.from && h.Date < tc.till {
				got = append(got, h)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SAHolidays(%d) in [%s, %s):\n got  %v\n want %v", tc.year, tc.from, tc.till, got, tc.want)
		}
	}
}

func TestEasterSunday(t *testing.T) {
	for _, want := range []string{
		"1818-03-22", // earliest possible
		"1943-04-25", // latest possible
		"2000-04-23", "2019-04-21", "2021-04-04", "2022-04-17", "2024-03-31",
		"2025-04-20", "2026-04-05", "2027-03-28", "2038-04-25", "2285-03-22",
	} {
		d, _ := time.Parse(dateLayout, want)
		if got := easterSunday(d.Year()).Format(dateLayout); got != want {
			t.Errorf("easterSunday(%d) = %s, want %s", d.Year(), got, want)
		}
	}
}

func TestSAHolidaysInvariants(t *testing.T) {
	for y := 1990; y <= 2100; y++ {
		hs := SAHolidays(y)
		if n := len(hs); n < 13 || n > 17 { // 12 whole + 2 part-day, less merges, plus up to 3 additional days
			t.Errorf("%d: %d holidays, want 13..17", y, n)
		}
		for i, h := range hs {
			d, err := time.Parse(dateLayout, h.Date)
			if err != nil || d.Year() != y {
				t.Errorf("%d: bad date %q", y, h.Date)
			}
			if i > 0 && hs[i-1].Date >= h.Date {
				t.Errorf("%d: not sorted or duplicate at %s", y, h.Date)
			}
			if h.Partial != (h.From != 0) {
				t.Errorf("%d: %s: Partial %v with From %v", y, h.Date, h.Partial, h.From)
			}
		}
	}
}
