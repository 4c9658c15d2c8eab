package versions

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// GraceDays is how long after a new major release the major before the previous
// one stays supported (docs/design.md §4: "for 90 days after a new major release").
const GraceDays = 90

// Check classifies build at the moment at.
//
// The current major is the highest configured major released on or before at's
// date; it and the next lower configured major are supported, and the major below
// those too until the end of the GraceDays-th day after the current major's
// release date (released 2021-02-15: supported through 2021-05-16, not on
// 2021-05-17). Dates are compared as calendar days: Released is a date (its UTC
// day); at's day is taken in at's own location, so pass the receipt time in the
// support time zone.
//
// A build of a major released after at (a pre-release) is Known and Supported, so
// that no one is told to upgrade from a build newer than the current release, but
// that major is not listed in SupportedMajors. Build <= 0 is never Known.
// SupportedMajors is filled whatever the build, for the reply that lists them.
// majors need not be sorted and is not modified; Check assumes Validate passed.
func Check(majors []Major, build int, at time.Time) Result {
	sorted := append([]Major(nil), majors...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Major > sorted[j].Major })

	today := civil(at)
	cur := -1
	for i, m := range sorted {
		if !civil(m.Released.UTC()).After(today) {
			cur = i
			break
		}
	}

	var r Result
	if cur >= 0 {
		r.SupportedMajors = append(r.SupportedMajors, sorted[cur].Major)
		if cur+1 < len(sorted) {
			r.SupportedMajors = append(r.SupportedMajors, sorted[cur+1].Major)
		}
		graceEnd := civil(sorted[cur].Released.UTC()).AddDate(0, 0, GraceDays)
		if cur+2 < len(sorted) && !today.After(graceEnd) {
			r.SupportedMajors = append(r.SupportedMajors, sorted[cur+2].Major)
		}
	}

	if build <= 0 {
		return r
	}
	for i, m := range sorted {
		if build < m.FirstBuild || build > m.LastBuild {
			continue
		}
		r.Known, r.Major = true, m.Major
		if cur < 0 || i < cur {
			r.Supported = true // pre-release: newer than the current major
			break
		}
		for _, s := range r.SupportedMajors {
			if s == m.Major {
				r.Supported = true
			}
		}
		break
	}
	return r
}

// civil returns t's calendar date (in t's location) as midnight UTC.
func civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Validate checks the versions configuration: majors positive and unique, build
// ranges positive, first_build <= last_build and not overlapping, a release date
// set, and a higher major not released before a lower one. All problems are
// reported at once, each naming its key (e.g. "versions[1].first_build: …"),
// where the index is the position in majors.
func Validate(majors []Major) error {
	var errs []error
	bad := func(i int, key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("versions[%d].%s: %s", i, key, fmt.Sprintf(format, args...)))
	}
	for i, m := range majors {
		if m.Major <= 0 {
			bad(i, "major", "must be a positive number, not %d", m.Major)
		}
		rangeOK := true
		if m.FirstBuild <= 0 {
			bad(i, "first_build", "must be a positive build number, not %d", m.FirstBuild)
			rangeOK = false
		}
		if m.LastBuild < m.FirstBuild {
			bad(i, "last_build", "%d is less than first_build %d", m.LastBuild, m.FirstBuild)
			rangeOK = false
		}
		if m.Released.IsZero() {
			bad(i, "released", "must be set (YYYY-MM-DD)")
		}
		for j, o := range majors[:i] {
			if m.Major == o.Major && m.Major > 0 {
				bad(i, "major", "%d is configured twice (also versions[%d])", m.Major, j)
			}
			if rangeOK && o.FirstBuild > 0 && o.FirstBuild <= o.LastBuild &&
				m.FirstBuild <= o.LastBuild && o.FirstBuild <= m.LastBuild {
				bad(i, "first_build", "builds %d–%d overlap versions[%d] (major %d, builds %d–%d)",
					m.FirstBuild, m.LastBuild, j, o.Major, o.FirstBuild, o.LastBuild)
			}
			if !m.Released.IsZero() && !o.Released.IsZero() && m.Major != o.Major {
				hi, lo := m, o
				if lo.Major > hi.Major {
					hi, lo = lo, hi
				}
				if civil(hi.Released.UTC()).Before(civil(lo.Released.UTC())) {
					bad(i, "released", "major %d released %s, before major %d (%s): newer majors must be released later",
						hi.Major, hi.Released.UTC().Format(time.DateOnly), lo.Major, lo.Released.UTC().Format(time.DateOnly))
				}
			}
		}
	}
	return errors.Join(errs...)
}
