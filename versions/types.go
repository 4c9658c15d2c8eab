package versions

import "time"

// Major is one configured major version and its build range.
type Major struct {
	Major      int
	FirstBuild int
	LastBuild  int
	Released   time.Time // date, midnight UTC
}

// Result of checking one build number at one moment.
type Result struct {
	Known           bool // the build falls in a configured range
	Major           int
	Supported       bool
	SupportedMajors []int // supported majors at that moment, newest first
}
