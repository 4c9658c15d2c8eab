package sla

import (
	"strings"
	"sync"
	"testing"
	"time"
)

var adelaide = mustLoc("Australia/Adelaide")

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at parses a local Adelaide wall-clock time "2006-01-02 15:04".
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, adelaide)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newCal(t testing.TB, mutate func(*Config)) *Calendar {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.Location.String() != "Australia/Adelaide" || cfg.Open != 6*time.Hour || cfg.Close != 18*time.Hour ||
		cfg.Region != "AU-SA" || cfg.Clock != Elapsed || cfg.InHours != 2*time.Hour ||
		cfg.OutOfHours != 24*time.Hour || cfg.OutOfHoursTarget != 12*time.Hour || len(cfg.Days) != 5 {
		t.Fatalf("DefaultConfig() = %+v", cfg)
	}
	for _, d := range cfg.Days {
		if d == time.Saturday || d == time.Sunday {
			t.Errorf("weekend day %s in default days", d)
		}
	}
	if _, err := New(cfg); err != nil {
		t.Fatalf("New(DefaultConfig()): %v", err)
	}
}

func TestInHours(t *testing.T) {
	c := newCal(t, nil)
	tests := []struct {
		local string
		want  bool
	}{
		{"2026-11-26 10:30", true},  // Thursday
		{"2026-11-26 05:59", false}, // before open
		{"2026-11-26 06:00", true},  // open is inside
		{"2026-11-26 17:59", true},
		{"2026-11-26 18:00", false}, // close is outside
		{"2026-11-26 23:00", false},
		{"2026-11-28 10:00", false}, // Saturday
		{"2026-11-29 10:00", false}, // Sunday
		{"2026-11-30 06:00", true},  // Monday
		{"2026-04-27 10:00", true},  // Monday after Anzac Day on a Saturday: no substitute
		{"2027-04-26 10:00", true},  // Monday after Anzac Day on a Sunday: no substitute
		{"2026-12-24 17:59", true},  // Christmas Eve is a holiday only from 19:00
		{"2026-12-29 06:00", true},  // first support hour after Christmas 2026
		{"2027-12-29 06:00", true},  // first support hour after Christmas 2027
		{"2026-04-07 06:00", true},  // Tuesday after Easter
	}
	for _, tc := range tests {
		if got := c.InHours(at(t, tc.local)); got != tc.want {
			t.Errorf("InHours(%s) = %v, want %v", tc.local, got, tc.want)
		}
	}
	// The same instant expressed in another zone gives the same answer.
	if !c.InHours(at(t, "2026-11-26 10:30").UTC()) || c.InHours(at(t, "2026-11-26 18:00").In(time.FixedZone("X", -5*3600))) {
		t.Error("InHours depends on the location of its argument")
	}
}

// TestInHoursEveryHoliday: at 10:00 on each whole-day holiday falling on a
// weekday of 2026 and 2027 support is closed, and open the same time a week before.
func TestInHoursEveryHoliday(t *testing.T) {
	c := newCal(t, nil)
	n := 0
	for _, hs := range [][]Holiday{sa2026, sa2027} {
		for _, h := range hs {
			if h.Partial {
				continue
			}
			ten := at(t, h.Date+" 10:00")
			if isWeekend(ten) {
				continue
			}
			n++
			if c.InHours(ten) {
				t.Errorf("InHours(%s 10:00, %s) = true, want false", h.Date, h.Name)
			}
			if weekBefore := ten.AddDate(0, 0, -7); !c.InHours(weekBefore) && !isHoliday(weekBefore) {
				t.Errorf("InHours(%s) = false on an ordinary weekday", weekBefore)
			}
		}
	}
	if n != 18 {
		t.Errorf("checked %d weekday holidays, want 18 (9 in 2026, 9 in 2027)", n)
	}
}

func isHoliday(t time.Time) bool {
	d := t.Format(dateLayout)
	for _, h := range SAHolidays(t.Year()) {
		if h.Date == d && !h.Partial {
			return true
		}
	}
	return false
}

// TestPartDayHolidays: with hours running late, 24 and 31 December close at 19:00.
func TestPartDayHolidays(t *testing.T) {
	c := newCal(t, func(cfg *Config) { cfg.Close = 22 * time.Hour; cfg.Clock = Business })
	for _, tc := range []struct {
		local string
		want  bool
	}{
		{"2026-12-24 18:59", true},
		{"2026-12-24 19:00", false},
		{"2026-12-24 21:00", false},
		{"2026-12-23 21:00", true},
		{"2026-12-31 18:30", true},
		{"2026-12-31 19:00", false},
	} {
		if got := c.InHours(at(t, tc.local)); got != tc.want {
			t.Errorf("InHours(%s) = %v, want %v", tc.local, got, tc.want)
		}
	}
	// Business clock: 30 minutes before 19:00 on Thu 24 Dec 2026, then closed for
	// Fri 25 (holiday), the weekend and Mon 28 (Proclamation Day additional day).
	r := c.Compute(at(t, "2026-12-24 18:30"))
	if want := at(t, "2026-12-29 07:30"); !r.Deadline.Equal(want) {
		t.Errorf("business deadline = %s, want %s", r.Deadline, want)
	}
}

func TestComputeElapsed(t *testing.T) {
	c := newCal(t, nil)
	tests := []struct {
		name     string
		received string
		inHours  bool
		deadline string // local wall clock
		offset   string // of the deadline
		target   time.Duration
		targetDL string // TargetDeadline, "" for zero
	}{
		{"in hours", "2026-11-26 08:30", true, "2026-11-26 10:30", "+10:30", 2 * time.Hour, ""},
		{"just before close", "2026-11-26 17:59", true, "2026-11-26 19:59", "+10:30", 2 * time.Hour, ""},
		{"at open", "2026-11-26 06:00", true, "2026-11-26 08:00", "+10:30", 2 * time.Hour, ""},
		{"at close", "2026-11-26 18:00", false, "2026-11-27 18:00", "+10:30", 24 * time.Hour, "2026-11-27 06:00"},
		{"before open", "2026-11-26 05:59", false, "2026-11-27 05:59", "+10:30", 24 * time.Hour, "2026-11-26 17:59"},
		{"Saturday", "2026-11-28 10:00", false, "2026-11-29 10:00", "+10:30", 24 * time.Hour, "2026-11-28 22:00"},
		{"Good Friday", "2026-04-03 10:00", false, "2026-04-04 10:00", "+10:30", 24 * time.Hour, "2026-04-03 22:00"},
		// DST ends Sun 5 Apr 2026 03:00 ACDT -> 02:00 ACST: 24 h later the clock reads an hour less.
		{"across DST end", "2026-04-04 20:00", false, "2026-04-05 19:00", "+09:30", 24 * time.Hour, "2026-04-05 07:00"},
		// DST starts Sun 4 Oct 2026 02:00 ACST -> 03:00 ACDT: the clock reads an hour more.
		{"across DST start", "2026-10-03 20:00", false, "2026-10-04 21:00", "+10:30", 24 * time.Hour, "2026-10-04 09:00"},
		// In-hours deadlines next to the DST weekends.
		{"Thu before Easter/DST end", "2026-04-02 17:30", true, "2026-04-02 19:30", "+10:30", 2 * time.Hour, ""},
		{"Tue after Easter/DST end", "2026-04-07 06:00", true, "2026-04-07 08:00", "+09:30", 2 * time.Hour, ""},
		{"Fri before DST start", "2026-10-02 17:00", true, "2026-10-02 19:00", "+09:30", 2 * time.Hour, ""},
		{"Tue after DST start", "2026-10-06 06:00", true, "2026-10-06 08:00", "+10:30", 2 * time.Hour, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recv := at(t, tc.received)
			r := c.Compute(recv)
			if r.InHours != tc.inHours || r.Clock != Elapsed || r.Target != tc.target {
				t.Fatalf("Compute = %+v, want in_hours %v target %v", r, tc.inHours, tc.target)
			}
			want := at(t, tc.deadline)
			if !r.Deadline.Equal(want) || r.Deadline.Format("-07:00") != tc.offset || r.Deadline.Location().String() != "Australia/Adelaide" {
				t.Errorf("Deadline = %s, want %s (%s, in Adelaide)", r.Deadline, want, tc.offset)
			}
			if got := r.Deadline.Sub(recv); got != tc.target {
				t.Errorf("deadline - received = %v (%d s), want %v", got, int64(got/time.Second), tc.target)
			}
			if tc.targetDL == "" {
				if !r.TargetDeadline.IsZero() {
					t.Errorf("TargetDeadline = %s, want zero in hours", r.TargetDeadline)
				}
			} else if want := at(t, tc.targetDL); !r.TargetDeadline.Equal(want) || r.TargetDeadline.Sub(recv) != 12*time.Hour {
				t.Errorf("TargetDeadline = %s, want %s", r.TargetDeadline, want)
			}
		})
	}
}

// TestComputeDSTExactSeconds pins the 86,400 s of docs/design.md §5 literally.
func TestComputeDSTExactSeconds(t *testing.T) {
	c := newCal(t, nil)
	recv := at(t, "2026-10-03 20:00")
	r := c.Compute(recv)
	if d := r.Deadline.Unix() - recv.Unix(); d != 86400 {
		t.Fatalf("deadline is %d s after receipt, want 86400", d)
	}
	if got := r.Deadline.Format("2006-01-02 15:04 MST"); got != "2026-10-04 21:00 ACDT" {
		t.Fatalf("deadline = %s", got)
	}
}

func TestComputeBusiness(t *testing.T) {
	c := newCal(t, func(cfg *Config) { cfg.Clock = Business })
	tests := []struct {
		name, received, deadline string
	}{
		{"mid-morning", "2026-11-25 10:00", "2026-11-25 12:00"},
		{"ends exactly at close", "2026-11-25 16:00", "2026-11-25 18:00"},
		{"over the night", "2026-11-25 17:00", "2026-11-26 07:00"},
		{"over a weekend", "2026-11-20 17:00", "2026-11-23 07:00"},
		// Fri 2 Oct 2026: 30 min until close; weekend (DST starts); Mon 5 Oct Labour Day.
		{"over a holiday and DST start", "2026-10-02 17:30", "2026-10-06 07:30"},
		// Thu 2 Apr 2026: 1 h; Good Friday to Easter Monday closed; DST ends Sun 5 Apr.
		{"over Easter and DST end", "2026-04-02 17:00", "2026-04-07 07:00"},
		// Wed 23 Dec 2026 17:00: 1 h; 24 Dec opens 06:00..18:00 (part-day holiday from 19:00).
		{"before Christmas", "2026-12-23 17:00", "2026-12-24 07:00"},
		{"Christmas Eve", "2026-12-24 17:00", "2026-12-29 07:00"},
		{"Christmas 2027", "2027-12-24 17:45", "2027-12-29 07:45"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.Compute(at(t, tc.received))
			want := at(t, tc.deadline)
			if !r.InHours || r.Clock != Business || r.Target != 2*time.Hour || !r.TargetDeadline.IsZero() {
				t.Fatalf("Compute = %+v", r)
			}
			if !r.Deadline.Equal(want) || r.Deadline.Location().String() != "Australia/Adelaide" {
				t.Errorf("Deadline = %s, want %s", r.Deadline, want)
			}
		})
	}
	// Out of hours the business clock keeps the 24 h elapsed guarantee.
	recv := at(t, "2026-10-03 20:00")
	r := c.Compute(recv)
	if r.InHours || r.Clock != Business || r.Deadline.Sub(recv) != 24*time.Hour || r.TargetDeadline.Sub(recv) != 12*time.Hour {
		t.Errorf("out of hours with business clock: %+v", r)
	}
}

func TestExtraRemovedRegion(t *testing.T) {
	c := newCal(t, func(cfg *Config) {
		cfg.Extra = []string{"2026-11-25", "2026-12-24", "2027-01-04"}
		cfg.Removed = []string{"2026-10-05", "2026-12-31"}
	})
	for _, tc := range []struct {
		local string
		want  bool
	}{
		{"2026-11-25 10:00", false}, // extra (Wednesday)
		{"2026-11-24 10:00", true},
		{"2026-12-24 10:00", false}, // extra turns the part-day holiday into a whole day
		{"2027-01-04 10:00", false},
		{"2026-10-05 10:00", true}, // Labour Day removed
		{"2026-06-08 10:00", false},
	} {
		if got := c.InHours(at(t, tc.local)); got != tc.want {
			t.Errorf("InHours(%s) = %v, want %v", tc.local, got, tc.want)
		}
	}
	hs := c.Holidays(2026)
	find := func(date string) (Holiday, bool) {
		for _, h := range hs {
			if h.Date == date {
				return h, true
			}
		}
		return Holiday{}, false
	}
	if h, ok := find("2026-11-25"); !ok || h.Partial || h.Name != "Extra holiday" {
		t.Errorf("extra 2026-11-25: %+v %v", h, ok)
	}
	if h, ok := find("2026-12-24"); !ok || h.Partial {
		t.Errorf("2026-12-24 should be whole-day: %+v %v", h, ok)
	}
	for _, d := range []string{"2026-10-05", "2026-12-31", "2027-01-04"} {
		if _, ok := find(d); ok {
			t.Errorf("Holidays(2026) contains %s", d)
		}
	}
	if len(hs) != len(sa2026)-2+1 {
		t.Errorf("Holidays(2026) has %d entries, want %d", len(hs), len(sa2026)-2+1)
	}
	if got := c.Holidays(2027); len(got) != len(sa2027)+1 || got[0].Date != "2027-01-01" || got[1].Date != "2027-01-04" {
		t.Errorf("Holidays(2027) = %v", got)
	}

	none := newCal(t, func(cfg *Config) { cfg.Region = ""; cfg.Extra = []string{"2026-03-10"} })
	if !none.InHours(at(t, "2026-01-01 10:00")) || none.InHours(at(t, "2026-03-10 10:00")) {
		t.Error("region \"\" should have only the extra holidays")
	}
	if got := none.Holidays(2026); len(got) != 1 {
		t.Errorf("region \"\": Holidays = %v", got)
	}
}

func TestNextOpen(t *testing.T) {
	c := newCal(t, nil)
	for _, tc := range []struct{ from, want string }{
		{"2026-11-26 10:00", "2026-11-26 10:00"}, // in hours: itself
		{"2026-11-26 05:00", "2026-11-26 06:00"},
		{"2026-11-26 18:00", "2026-11-27 06:00"},
		{"2026-11-27 18:00", "2026-11-30 06:00"}, // Friday evening
		{"2026-11-28 12:00", "2026-11-30 06:00"},
		{"2026-12-24 18:00", "2026-12-29 06:00"},
		{"2026-10-02 18:00", "2026-10-06 06:00"}, // weekend + Labour Day
		{"2026-12-31 18:00", "2027-01-04 06:00"}, // New Year's Day Friday, weekend
	} {
		got := c.NextOpen(at(t, tc.from))
		if want := at(t, tc.want); !got.Equal(want) {
			t.Errorf("NextOpen(%s) = %s, want %s", tc.from, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Location = nil }, "support.timezone:"},
		{func(c *Config) { c.Days = nil }, "support.hours.days:"},
		{func(c *Config) { c.Days = []time.Weekday{time.Monday, 9} }, "support.hours.days[1]: invalid weekday"},
		{func(c *Config) { c.Days = []time.Weekday{time.Monday, time.Monday} }, "support.hours.days[1]: Monday listed twice"},
		{func(c *Config) { c.Open = -time.Hour }, "support.hours.open:"},
		{func(c *Config) { c.Close = 25 * time.Hour }, "support.hours.close:"},
		{func(c *Config) { c.Open, c.Close = 18*time.Hour, 6*time.Hour }, "support.hours.close: must be after support.hours.open"},
		{func(c *Config) { c.Open = c.Close }, "support.hours.close: must be after support.hours.open"},
		{func(c *Config) { c.Region = "AU-NSW" }, "support.holidays.region:"},
		{func(c *Config) { c.Extra = []string{"2026-01-01", "2026-02-30x", "26/12/2026"} }, "support.holidays.extra[2]:"},
		{func(c *Config) { c.Extra = []string{"2026-01-01", "2026-02-30"} }, "support.holidays.extra[1]:"},
		{func(c *Config) { c.Removed = []string{"tomorrow"} }, "support.holidays.removed[0]:"},
		{func(c *Config) { c.Clock = "wallclock" }, "sla.clock: must be elapsed or business"},
		{func(c *Config) { c.Clock = "" }, "sla.clock: must be elapsed or business"},
		{func(c *Config) { c.InHours = 0 }, "sla.in_hours:"},
		{func(c *Config) { c.OutOfHours = -time.Hour }, "sla.out_of_hours:"},
		{func(c *Config) { c.OutOfHoursTarget = 0 }, "sla.out_of_hours_target:"},
		{func(c *Config) { c.OutOfHoursTarget = 25 * time.Hour }, "sla.out_of_hours_target: must not exceed"},
	}
	for _, tc := range tests {
		cfg := DefaultConfig()
		tc.mutate(&cfg)
		c, err := New(cfg)
		if err == nil || c != nil {
			t.Errorf("want error %q, got calendar %v err %v", tc.want, c, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q does not contain %q", err, tc.want)
		}
	}
	// All problems at once.
	cfg := DefaultConfig()
	cfg.Clock, cfg.InHours, cfg.Extra = "x", 0, []string{"bad"}
	_, err := New(cfg)
	for _, key := range []string{"sla.clock", "sla.in_hours", "support.holidays.extra[0]"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("joined error %v lacks %s", err, key)
		}
	}
	// Region is case-insensitive and normalised.
	cfg = DefaultConfig()
	cfg.Region = "au-sa"
	if c, err := New(cfg); err != nil || c.Config().Region != RegionSA || c.InHours(at(t, "2026-10-05 10:00")) {
		t.Errorf("region au-sa: %v", err)
	}
}

// TestNewCopiesConfig: changing the caller's slices after New changes nothing.
func TestNewCopiesConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Extra = []string{"2026-11-25"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Extra[0] = "2026-11-24"
	cfg.Days[0] = time.Sunday
	if c.InHours(at(t, "2026-11-25 10:00")) || !c.InHours(at(t, "2026-11-24 10:00")) || !c.InHours(at(t, "2026-11-23 10:00")) {
		t.Error("calendar changed with the caller's config")
	}
}

func TestFormatDeadline(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{at(t, "2026-11-26 10:30"), "Thursday 26 November 2026, 10:30 ACDT (+10:30) / 00:00 UTC"},
		{at(t, "2026-06-10 14:00"), "Wednesday 10 June 2026, 14:00 ACST (+09:30) / 04:30 UTC"},
		{at(t, "2026-11-26 06:00"), "Thursday 26 November 2026, 06:00 ACDT (+10:30) / 19:30 UTC on Wednesday 25 November 2026"},
	} {
		if got := FormatDeadline(tc.t); got != tc.want {
			t.Errorf("FormatDeadline(%s) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestFormatTarget(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{2 * time.Hour, "2h"}, {24 * time.Hour, "24h"}, {12 * time.Hour, "12h"},
		{90 * time.Minute, "1h30m"}, {30 * time.Minute, "30m"}, {45 * time.Second, "45s"}, {0, "0"},
	} {
		if got := FormatTarget(tc.d); got != tc.want {
			t.Errorf("FormatTarget(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestConcurrentUse exercises the holiday cache under -race.
func TestConcurrentUse(t *testing.T) {
	c := newCal(t, func(cfg *Config) { cfg.Clock = Business })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for y := 2020 + g; y < 2040+g; y++ {
				recv := time.Date(y, time.December, 24, 17, 0, 0, 0, adelaide)
				r := c.Compute(recv)
				if r.InHours != !isWeekend(recv) || (r.InHours && !c.InHours(r.Deadline.Add(-time.Nanosecond))) {
					t.Errorf("%d: %+v", y, r)
				}
			}
		}()
	}
	wg.Wait()
}
