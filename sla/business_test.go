package sla

import (
	"testing"
	"time"
)

// BusinessBetween counts only support hours: closed evenings, weekends,
// South Australian public holidays (whole and part-day) and extra holidays
// count nothing, and a daylight-saving change counts the real time that
// passed (a 23 h or 25 h day when support runs around the clock).
func TestBusinessBetween(t *testing.T) {
	def := newCal(t, nil)
	allDay := newCal(t, func(c *Config) {
		c.Days = []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
		c.Open, c.Close = 0, 24*time.Hour
		c.Removed = []string{"2026-04-05"} // Easter Sunday, the day daylight saving ends
	})
	extra := newCal(t, func(c *Config) { c.Extra = []string{"2026-11-27"} })
	tests := []struct {
		name     string
		cal      *Calendar
		from, to string
		want     time.Duration
	}{
		{"inside one support day", def, "2026-11-26 10:00", "2026-11-26 11:30", 90 * time.Minute},
		{"to before from", def, "2026-11-26 11:30", "2026-11-26 10:00", 0},
		{"equal", def, "2026-11-26 10:00", "2026-11-26 10:00", 0},
		{"overnight: 1h before close, 1h after open", def, "2026-11-26 17:00", "2026-11-27 07:00", 2 * time.Hour},
		{"weekend only", def, "2026-11-28 10:00", "2026-11-29 10:00", 0},
		{"over a weekend", def, "2026-11-27 17:30", "2026-11-30 06:30", time.Hour},
		{"before open to after close", def, "2026-11-30 00:00", "2026-12-01 00:00", 12 * time.Hour},
		// Monday 5 October 2026 is Labour Day, and daylight saving starts on
		// Sunday 4 October (02:00 ACST -> 03:00 ACDT): 85 h pass, 2 h count.
		{"Labour Day and DST start", def, "2026-10-02 17:00", "2026-10-06 07:00", 2 * time.Hour},
		// Good Friday and Easter Monday, with DST ending on Easter Sunday.
		{"Easter and DST end", def, "2026-04-02 17:00", "2026-04-07 07:00", 2 * time.Hour},
		// Christmas Eve is a holiday only from 19:00 (after close), then
		// Christmas, the weekend and the additional Proclamation Day.
		{"Christmas", def, "2026-12-24 17:00", "2026-12-29 07:00", 2 * time.Hour},
		{"extra holiday", extra, "2026-11-26 17:00", "2026-11-30 07:00", 2 * time.Hour},
		{"24h support, DST start day is 23h", allDay, "2026-10-04 00:00", "2026-10-05 00:00", 23 * time.Hour},
		{"24h support, DST end day is 25h", allDay, "2026-04-05 00:00", "2026-04-06 00:00", 25 * time.Hour},
		{"24h support, Christmas Eve closes at 19:00", allDay, "2026-12-24 00:00", "2026-12-26 00:00", 19 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.BusinessBetween(at(t, tc.from), at(t, tc.to)); got != tc.want {
				t.Errorf("BusinessBetween(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

// BusinessBetween inverts the business clock's deadline: from any in-hours
// receipt, the support time up to the computed deadline is the target.
func TestBusinessBetweenInvertsCompute(t *testing.T) {
	c := newCal(t, func(c *Config) { c.Clock = Business })
	start := at(t, "2026-03-30 06:00")
	n := 0
	for r := start; r.Before(start.AddDate(0, 9, 0)); r = r.Add(47 * time.Minute) {
		res := c.Compute(r)
		if !res.InHours {
			continue
		}
		n++
		if got := c.BusinessBetween(r, res.Deadline); got != res.Target {
			t.Fatalf("received %s: BusinessBetween to deadline %s = %v, want %v", r, res.Deadline, got, res.Target)
		}
	}
	if n < 1000 {
		t.Fatalf("only %d in-hours receipts checked", n)
	}
}
