package sla

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the support zone must be right whatever the host's zoneinfo
)

// maxScanDays bounds every search for the next support hours, so that a calendar
// with (almost) no open days cannot loop forever.
const maxScanDays = 3700

// Calendar is a validated support calendar. It is safe for concurrent use.
type Calendar struct {
	cfg     Config
	days    [7]bool
	extra   map[string]bool // YYYY-MM-DD
	removed map[string]bool

	mu    sync.Mutex
	cache map[int]map[string]Holiday // year -> date -> holiday (after Extra/Removed)
}

// New validates cfg and returns its calendar. All problems are reported at once,
// each naming its configuration key (e.g. "sla.clock: must be elapsed or business").
func New(cfg Config) (*Calendar, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c := &Calendar{extra: map[string]bool{}, removed: map[string]bool{}, cache: map[int]map[string]Holiday{}}

	if cfg.Location == nil {
		bad("support.timezone", "must be set (an IANA zone such as Australia/Adelaide)")
	}
	if len(cfg.Days) == 0 {
		bad("support.hours.days", "must name at least one day")
	}
	for i, d := range cfg.Days {
		switch {
		case d < time.Sunday || d > time.Saturday:
			bad(fmt.Sprintf("support.hours.days[%d]", i), "invalid weekday %d", int(d))
		case c.days[d]:
			bad(fmt.Sprintf("support.hours.days[%d]", i), "%s listed twice", d)
		default:
			c.days[d] = true
		}
	}
	if cfg.Open < 0 || cfg.Open >= 24*time.Hour {
		bad("support.hours.open", "must be from 00:00 to before 24:00")
	}
	if cfg.Close <= 0 || cfg.Close > 24*time.Hour {
		bad("support.hours.close", "must be after 00:00 and no later than 24:00")
	}
	if cfg.Open >= cfg.Close {
		bad("support.hours.close", "must be after support.hours.open (%s)", clockString(cfg.Open))
	}
	switch strings.ToUpper(strings.TrimSpace(cfg.Region)) {
	case RegionSA:
		cfg.Region = RegionSA
	case "":
		cfg.Region = ""
	default:
		bad("support.holidays.region", "unknown region %q (want %s, or empty for none)", cfg.Region, RegionSA)
	}
	for i, s := range cfg.Extra {
		if _, err := parseDate(s); err != nil {
			bad(fmt.Sprintf("support.holidays.extra[%d]", i), "%v", err)
			continue
		}
		c.extra[s] = true
	}
	for i, s := range cfg.Removed {
		if _, err := parseDate(s); err != nil {
			bad(fmt.Sprintf("support.holidays.removed[%d]", i), "%v", err)
			continue
		}
		c.removed[s] = true
	}
	if cfg.Clock != Elapsed && cfg.Clock != Business {
		bad("sla.clock", "must be elapsed or business, not %q", cfg.Clock)
	}
	if cfg.InHours <= 0 {
		bad("sla.in_hours", "must be positive")
	}
	if cfg.OutOfHours <= 0 {
		bad("sla.out_of_hours", "must be positive")
	}
	if cfg.OutOfHoursTarget <= 0 {
		bad("sla.out_of_hours_target", "must be positive")
	} else if cfg.OutOfHours > 0 && cfg.OutOfHoursTarget > cfg.OutOfHours {
		bad("sla.out_of_hours_target", "must not exceed sla.out_of_hours (%s)", FormatTarget(cfg.OutOfHours))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfg.Days = append([]time.Weekday(nil), cfg.Days...)
	cfg.Extra = append([]string(nil), cfg.Extra...)
	cfg.Removed = append([]string(nil), cfg.Removed...)
	c.cfg = cfg
	return c, nil
}

// Config returns a copy of the calendar's configuration.
func (c *Calendar) Config() Config {
	cfg := c.cfg
	cfg.Days = append([]time.Weekday(nil), cfg.Days...)
	cfg.Extra = append([]string(nil), cfg.Extra...)
	cfg.Removed = append([]string(nil), cfg.Removed...)
	return cfg
}

// Location is the support time zone.
func (c *Calendar) Location() *time.Location { return c.cfg.Location }

// Holidays returns the holidays of year in this calendar: the region's rule
// holidays without the Removed dates, plus the Extra dates as whole-day holidays,
// sorted by date, one entry per date.
func (c *Calendar) Holidays(year int) []Holiday {
	var hs []Holiday
	if c.cfg.Region == RegionSA {
		for _, h := range SAHolidays(year) {
			if !c.removed[h.Date] {
				hs = append(hs, h)
			}
		}
	}
	prefix := fmt.Sprintf("%04d-", year)
	for _, d := range c.cfg.Extra {
		if strings.HasPrefix(d, prefix) {
			hs = append(hs, Holiday{Date: d, Name: nameExtra})
		}
	}
	return mergeHolidays(hs)
}

// holiday returns the holiday on the local date (y, m, d), if any.
func (c *Calendar) holiday(y int, m time.Month, d int) (Holiday, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byDate, ok := c.cache[y]
	if !ok {
		hs := c.Holidays(y)
		byDate = make(map[string]Holiday, len(hs))
		for _, h := range hs {
			byDate[h.Date] = h
		}
		if len(c.cache) > 64 {
			clear(c.cache)
		}
		c.cache[y] = byDate
	}
	h, ok := byDate[fmt.Sprintf("%04d-%02d-%02d", y, m, d)]
	return h, ok
}

// InHours reports whether t falls in support hours: a configured weekday,
// Open <= local clock time < Close, not a whole-day holiday and not after the
// start of a part-day holiday.
func (c *Calendar) InHours(t time.Time) bool {
	lt := t.In(c.cfg.Location)
	if !c.days[lt.Weekday()] {
		return false
	}
	tod := timeOfDay(lt)
	if tod < c.cfg.Open || tod >= c.cfg.Close {
		return false
	}
	y, m, d := lt.Date()
	if h, ok := c.holiday(y, m, d); ok {
		if !h.Partial || tod >= h.From {
			return false
		}
	}
	return true
}

// interval returns the support hours of the local date (y, m, d) as instants
// [start, end); ok is false when there are none that day.
func (c *Calendar) interval(y int, m time.Month, d int) (start, end time.Time, ok bool) {
	loc := c.cfg.Location
	day := time.Date(y, m, d, 12, 0, 0, 0, loc) // normalises d beyond the month's end
	y, m, d = day.Date()
	if !c.days[day.Weekday()] {
		return start, end, false
	}
	closeAt := c.cfg.Close
	if h, hol := c.holiday(y, m, d); hol {
		if !h.Partial {
			return start, end, false
		}
		closeAt = min(closeAt, h.From)
	}
	if closeAt <= c.cfg.Open {
		return start, end, false
	}
	return wallClock(y, m, d, c.cfg.Open, loc), wallClock(y, m, d, closeAt, loc), true
}

// NextOpen returns t itself when t is in support hours, else the start of the
// next support hours after t (in the calendar's location). It returns the zero
// time if there are no support hours within about ten years.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	lt := t.In(c.cfg.Location)
	y, m, d := lt.Date()
	for i := 0; i < maxScanDays; i++ {
		start, end, ok := c.interval(y, m, d+i)
		if !ok || !end.After(lt) {
			continue
		}
		if start.After(lt) {
			return start
		}
		return lt
	}
	return time.Time{}
}

// Compute returns the SLA of a message received at received (IMAP INTERNALDATE).
//
// In support hours the deadline is received + InHours: elapsed time with the
// elapsed clock; with the business clock only time inside support hours counts
// (the clock pauses at close and resumes at the next open, skipping closed days
// and holidays). Outside support hours the deadline is received + OutOfHours of
// elapsed time (24 h is exactly 86,400 s, also across a daylight-saving change),
// and TargetDeadline is received + OutOfHoursTarget, whatever the clock.
// Deadlines are expressed in the calendar's location.
func (c *Calendar) Compute(received time.Time) Result {
	loc := c.cfg.Location
	r := Result{Clock: c.cfg.Clock, InHours: c.InHours(received)}
	if !r.InHours {
		r.Target = c.cfg.OutOfHours
		r.Deadline = received.Add(c.cfg.OutOfHours).In(loc)
		r.TargetDeadline = received.Add(c.cfg.OutOfHoursTarget).In(loc)
		return r
	}
	r.Target = c.cfg.InHours
	if c.cfg.Clock == Business {
		r.Deadline = c.addBusiness(received, c.cfg.InHours).In(loc)
	} else {
		r.Deadline = received.Add(c.cfg.InHours).In(loc)
	}
	return r
}

// addBusiness adds d of support-hours time to t. The result is inside support
// hours or exactly at the end of a support interval.
func (c *Calendar) addBusiness(t time.Time, d time.Duration) time.Time {
	lt := t.In(c.cfg.Location)
	y, m, day := lt.Date()
	cur := lt
	remaining := d
	for i := 0; i < maxScanDays; i++ {
		start, end, ok := c.interval(y, m, day+i)
		if !ok || !end.After(cur) {
			continue
		}
		if start.Before(cur) {
			start = cur
		}
		avail := end.Sub(start)
		if remaining <= avail {
			return start.Add(remaining)
		}
		remaining -= avail
		cur = end
	}
	// No support hours for years: fall back to elapsed time rather than no deadline.
	return t.Add(d)
}

// timeOfDay is the wall-clock time since local midnight of t (in t's location).
func timeOfDay(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

// wallClock returns the instant at wall-clock time tod on the local date
// (y, m, d). tod = 24h is the following midnight.
func wallClock(y int, m time.Month, d int, tod time.Duration, loc *time.Location) time.Time {
	h := tod / time.Hour
	tod -= h * time.Hour
	mi := tod / time.Minute
	tod -= mi * time.Minute
	s := tod / time.Second
	tod -= s * time.Second
	return time.Date(y, m, d, int(h), int(mi), int(s), int(tod), loc)
}

// clockString formats a time of day as HH:MM.
func clockString(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// FormatDeadline formats t for a reply: the wall clock in t's location with its
// zone abbreviation and offset, then UTC, e.g.
// "Thursday 26 November 2026, 10:30 ACDT (+10:30) / 00:00 UTC". When the UTC date
// differs from the local one it is spelt out:
// "Thursday 26 November 2026, 06:00 ACDT (+10:30) / 19:30 UTC on Wednesday 25 November 2026".
func FormatDeadline(t time.Time) string {
	s := t.Format("Monday 2 January 2006, 15:04 MST (-07:00)")
	u := t.UTC()
	ly, lm, ld := t.Date()
	uy, um, ud := u.Date()
	if ly == uy && lm == um && ld == ud {
		return s + " / " + u.Format("15:04 UTC")
	}
	return s + " / " + u.Format("15:04 UTC on Monday 2 January 2006")
}

// FormatTarget formats a response target the way the explain JSON and replies
// show it: "2h", "24h", "90m" → "1h30m", "30m", "45s".
func FormatTarget(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

// BusinessBetween is the support-hours time between from and to: the part of
// [from, to) that falls inside support hours (configured days and hours,
// holidays and part-day holidays excluded), measured in real seconds, so a
// daylight-saving change inside an interval counts as the time that passed.
// It is zero when to is not after from.
func (c *Calendar) BusinessBetween(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	lf := from.In(c.cfg.Location)
	y, m, d := lf.Date()
	var total time.Duration
	for i := 0; i < maxScanDays; i++ {
		start, end, ok := c.interval(y, m, d+i)
		if !ok {
			continue
		}
		if !start.Before(to) {
			break
		}
		start, end = later(start, from), earlier(end, to)
		if end.After(start) {
			total += end.Sub(start)
		}
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
