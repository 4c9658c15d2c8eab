package sla

import "time"

// Clock kinds of docs/design.md §5.
const (
	Elapsed  = "elapsed"
	Business = "business"
)

// Config is the support calendar and the response targets.
type Config struct {
	Location *time.Location
	Days     []time.Weekday
	Open     time.Duration // since local midnight, e.g. 6h
	Close    time.Duration // e.g. 18h
	// Extra holidays (whole days) and Removed rule-based holidays, "YYYY-MM-DD".
	Extra   []string
	Removed []string
	Region  string // "AU-SA" (the only region with rules) or "" for none

	Clock            string        // Elapsed or Business
	InHours          time.Duration // 2h
	OutOfHours       time.Duration // 24h (guarantee)
	OutOfHoursTarget time.Duration // 12h (target, stated in replies)
}

// Holiday is one public holiday. Partial holidays start at From (local clock time
// since midnight, e.g. 19h) and run to the end of the day.
type Holiday struct {
	Date    string // YYYY-MM-DD
	Name    string
	From    time.Duration // 0 for whole-day holidays
	Partial bool
}

// Result is the SLA of one message received at one moment.
type Result struct {
	InHours  bool
	Clock    string
	Deadline time.Time     // in Location; zero when no SLA applies
	Target   time.Duration // 2h or 24h; zero when no SLA applies
	// TargetDeadline is the "generally within" deadline for out-of-hours mail
	// (received + OutOfHoursTarget); zero in hours.
	TargetDeadline time.Time
}
