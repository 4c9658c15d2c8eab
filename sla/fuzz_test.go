package sla

import (
	"testing"
	"time"
)

// FuzzCompute checks the SLA invariants at random receipt times and calendars:
// a deadline is never before receipt; out of hours it is exactly OutOfHours (and
// the target exactly OutOfHoursTarget) of elapsed time; in hours with the elapsed
// clock exactly InHours; with the business clock it lies inside support hours or
// exactly at a close, and exactly InHours of support time lies between receipt and
// deadline.
func FuzzCompute(f *testing.F) {
	f.Add(int64(1791000000), false, uint16(360), uint16(1080), uint16(120))
	f.Add(int64(1791527400), true, uint16(360), uint16(1080), uint16(120)) // 2026-10-02 17:30 ACST
	f.Add(int64(1798093800), true, uint16(360), uint16(1320), uint16(600)) // around Christmas 2026
	f.Add(int64(1775200000), true, uint16(0), uint16(1440), uint16(1))     // around Easter 2026
	f.Add(int64(-5), true, uint16(1439), uint16(1440), uint16(65535))
	f.Fuzz(func(t *testing.T, unix int64, business bool, openMin, closeMin, targetMin uint16) {
		const span = int64(130 * 365 * 24 * 3600) // 1970 .. 2100
		sec := unix % span
		if sec < 0 {
			sec += span
		}
		received := time.Unix(sec, 0).Truncate(time.Minute)
		openMin %= 24 * 60
		closeMin = closeMin%(24*60) + 1
		if openMin >= closeMin {
			openMin, closeMin = closeMin-1, openMin+1
		}
		cfg := DefaultConfig()
		cfg.Open = time.Duration(openMin) * time.Minute
		cfg.Close = time.Duration(closeMin) * time.Minute
		cfg.InHours = time.Duration(targetMin%(48*60)+1) * time.Minute
		if business {
			cfg.Clock = Business
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatalf("New(open %d close %d): %v", openMin, closeMin, err)
		}

		r := c.Compute(received)
		if r.Deadline.Before(received) || !r.Deadline.After(received) {
			t.Fatalf("deadline %s not after receipt %s", r.Deadline, received)
		}
		if r.InHours != c.InHours(received) || r.Clock != cfg.Clock {
			t.Fatalf("Result %+v disagrees with InHours/Clock", r)
		}
		if next := c.NextOpen(received); next.Equal(received) != r.InHours || !c.InHours(next) {
			t.Fatalf("NextOpen(%s) = %s, in hours %v", received, next, r.InHours)
		}
		if !r.InHours {
			if r.Deadline.Sub(received) != cfg.OutOfHours || r.TargetDeadline.Sub(received) != cfg.OutOfHoursTarget || r.Target != cfg.OutOfHours {
				t.Fatalf("out of hours: %+v for %s", r, received)
			}
			return
		}
		if r.Target != cfg.InHours || !r.TargetDeadline.IsZero() {
			t.Fatalf("in hours: %+v", r)
		}
		if !business {
			if r.Deadline.Sub(received) != cfg.InHours {
				t.Fatalf("elapsed in hours: deadline %s for %s", r.Deadline, received)
			}
			return
		}
		if r.Deadline.Sub(received) < cfg.InHours {
			t.Fatalf("business deadline %s earlier than elapsed for %s", r.Deadline, received)
		}
		if !c.InHours(r.Deadline.Add(-time.Nanosecond)) {
			t.Fatalf("business deadline %s neither in hours nor at a close (received %s)", r.Deadline, received)
		}
		if r.Deadline.Sub(received) > 20*24*time.Hour {
			return // too long to count minute by minute
		}
		var counted time.Duration
		for m := received; m.Before(r.Deadline); m = m.Add(time.Minute) {
			if c.InHours(m) {
				counted += time.Minute
			}
		}
		if counted != cfg.InHours {
			t.Fatalf("business: %v of support time between %s and %s, want %v", counted, received, r.Deadline, cfg.InHours)
		}
	})
}
