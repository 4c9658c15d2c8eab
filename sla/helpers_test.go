package sla

import "time"

// Helpers only the tests of this package use (kept out of the binary).

// DefaultConfig is the policy as written: Monday–Friday 06:00–18:00 in
// Australia/Adelaide, South Australian public holidays, elapsed clock, 2 h in
// hours, 24 h guaranteed (12 h target) out of hours.
func DefaultConfig() Config {
	loc, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		// Unreachable: time/tzdata is embedded. Standard time is the best fallback.
		loc = time.FixedZone("ACST", 9*3600+1800)
	}
	return Config{
		Location:         loc,
		Days:             []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Open:             6 * time.Hour,
		Close:            18 * time.Hour,
		Region:           RegionSA,
		Clock:            Elapsed,
		InHours:          2 * time.Hour,
		OutOfHours:       24 * time.Hour,
		OutOfHoursTarget: 12 * time.Hour,
	}
}
