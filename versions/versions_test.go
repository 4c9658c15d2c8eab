package versions

import (
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Australia/Adelaide on any host
)

func date(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

var adelaide = func() *time.Location {
	loc, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		panic(err)
	}
	return loc
}()

// noon returns noon in Adelaide on a date.
func noon(s string) time.Time {
	d := date(s)
	return time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, adelaide)
}

// The docs/design.md §9 example configuration, newest first.
var spec = []Major{
	{Major: 9, FirstBuild: 9000, LastBuild: 9999, Released: date("2021-02-15")},
	{Major: 8, FirstBuild: 8000, LastBuild: 8999, Released: date("2017-06-01")},
	{Major: 7, FirstBuild: 7000, LastBuild: 7999, Released: date("2015-01-01")},
}

func withV10() []Major {
	return append([]Major{{Major: 10, FirstBuild: 10000, LastBuild: 10999, Released: date("2026-10-01")}}, spec...)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		majors []Major
		build  int
		at     time.Time
		want   Result
	}{
		{"V7 in V9's first 90 days", spec, 7512, noon("2021-03-01"),
			Result{Known: true, Major: 7, Supported: true, SupportedMajors: []int{9, 8, 7}}},
		// 90 days after 2021-02-15 is 2021-05-16: the last day V7 is supported.
		{"V7 on the 90th day", spec, 7512, noon("2021-05-16"),
			Result{Known: true, Major: 7, Supported: true, SupportedMajors: []int{9, 8, 7}}},
		{"V7 on the 91st day", spec, 7512, noon("2021-05-17"),
			Result{Known: true, Major: 7, Supported: false, SupportedMajors: []int{9, 8}}},
		{"V7 the first minute of the 91st day", spec, 7999, time.Date(2021, 5, 17, 0, 0, 0, 0, adelaide),
			Result{Known: true, Major: 7, Supported: false, SupportedMajors: []int{9, 8}}},
		{"V7 the last minute of the 90th day", spec, 7000, time.Date(2021, 5, 16, 23, 59, 0, 0, adelaide),
			Result{Known: true, Major: 7, Supported: true, SupportedMajors: []int{9, 8, 7}}},
		{"V7 in 2026", spec, 7512, noon("2026-11-25"),
			Result{Known: true, Major: 7, Supported: false, SupportedMajors: []int{9, 8}}},
		{"V8 in 2026", spec, 8973, noon("2026-11-25"),
			Result{Known: true, Major: 8, Supported: true, SupportedMajors: []int{9, 8}}},
		{"V9 in 2026", spec, 9653, noon("2026-11-25"),
			Result{Known: true, Major: 9, Supported: true, SupportedMajors: []int{9, 8}}},
		{"first and last builds", spec, 9000, noon("2026-11-25"),
			Result{Known: true, Major: 9, Supported: true, SupportedMajors: []int{9, 8}}},
		{"last build", spec, 9999, noon("2026-11-25"),
			Result{Known: true, Major: 9, Supported: true, SupportedMajors: []int{9, 8}}},
		{"build outside every range", spec, 6999, noon("2026-11-25"),
			Result{SupportedMajors: []int{9, 8}}},
		{"build above every range", spec, 10000, noon("2026-11-25"),
			Result{SupportedMajors: []int{9, 8}}},
		{"no build", spec, 0, noon("2026-11-25"),
			Result{SupportedMajors: []int{9, 8}}},
		{"negative build", spec, -8973, noon("2026-11-25"),
			Result{SupportedMajors: []int{9, 8}}},
		// Before V9's release V8 is current, V7 previous.
		{"V9 not yet released", spec, 7512, noon("2021-02-14"),
			Result{Known: true, Major: 7, Supported: true, SupportedMajors: []int{8, 7}}},
		{"V9 pre-release build", spec, 9001, noon("2021-02-14"),
			Result{Known: true, Major: 9, Supported: true, SupportedMajors: []int{8, 7}}},
		{"V9 release day", spec, 7512, noon("2021-02-15"),
			Result{Known: true, Major: 7, Supported: true, SupportedMajors: []int{9, 8, 7}}},
		// With V10 released 2026-10-01, V8 is supported until 2026-12-30 inclusive.
		{"V10: V8 on 2026-12-30", withV10(), 8973, noon("2026-12-30"),
			Result{Known: true, Major: 8, Supported: true, SupportedMajors: []int{10, 9, 8}}},
		{"V10: V8 on 2026-12-31", withV10(), 8973, noon("2026-12-31"),
			Result{Known: true, Major: 8, Supported: false, SupportedMajors: []int{10, 9}}},
		{"V10: V8 before V10", withV10(), 8973, noon("2026-09-30"),
			Result{Known: true, Major: 8, Supported: true, SupportedMajors: []int{9, 8}}},
		{"V10: V7 never again", withV10(), 7512, noon("2026-10-01"),
			Result{Known: true, Major: 7, Supported: false, SupportedMajors: []int{10, 9, 8}}},
		{"V10 itself", withV10(), 10001, noon("2027-06-01"),
			Result{Known: true, Major: 10, Supported: true, SupportedMajors: []int{10, 9}}},
		{"nothing released yet", spec, 7512, noon("2014-12-31"),
			Result{Known: true, Major: 7, Supported: true}},
		{"no configuration", nil, 8973, noon("2026-11-25"), Result{}},
		{"unsorted configuration", []Major{spec[2], spec[0], spec[1]}, 7512, noon("2026-11-25"),
			Result{Known: true, Major: 7, Supported: false, SupportedMajors: []int{9, 8}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(tc.majors, tc.build, tc.at)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Check(%d, %s) = %+v, want %+v", tc.build, tc.at, got, tc.want)
			}
		})
	}
}

// TestCheckDayInCallerZone: the day boundary is the caller's zone. 2021-05-16
// 20:00 UTC is already 2021-05-17 in Adelaide, the first day V7 is unsupported.
func TestCheckDayInCallerZone(t *testing.T) {
	utc := time.Date(2021, 5, 16, 20, 0, 0, 0, time.UTC)
	if !Check(spec, 7512, utc).Supported {
		t.Error("in UTC it is still 2021-05-16: V7 supported")
	}
	if Check(spec, 7512, utc.In(adelaide)).Supported {
		t.Error("in Adelaide it is 2021-05-17: V7 unsupported")
	}
}

func TestCheckDoesNotModifyInput(t *testing.T) {
	in := []Major{spec[2], spec[0], spec[1]}
	before := append([]Major(nil), in...)
	Check(in, 8000, noon("2026-01-01"))
	if !reflect.DeepEqual(in, before) {
		t.Error("Check reordered its input")
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(spec); err != nil {
		t.Fatalf("Validate(spec) = %v", err)
	}
	if err := Validate(withV10()); err != nil {
		t.Fatalf("Validate(with V10) = %v", err)
	}
	if err := Validate(nil); err != nil {
		t.Fatalf("Validate(nil) = %v", err)
	}
	mod := func(i int, f func(*Major)) []Major {
		ms := append([]Major(nil), spec...)
		f(&ms[i])
		return ms
	}
	tests := []struct {
		name   string
		majors []Major
		want   []string
	}{
		{"first after last", mod(1, func(m *Major) { m.FirstBuild, m.LastBuild = 8999, 8000 }),
			[]string{"versions[1].last_build: 8000 is less than first_build 8999"}},
		{"overlap", mod(1, func(m *Major) { m.LastBuild = 9000 }),
			[]string{"versions[1].first_build: builds 8000–9000 overlap versions[0] (major 9"}},
		{"overlap contained", mod(2, func(m *Major) { m.FirstBuild, m.LastBuild = 8500, 8600 }),
			[]string{"versions[2].first_build:", "overlap versions[1]"}},
		{"duplicate major", mod(2, func(m *Major) { m.Major = 8 }),
			[]string{"versions[2].major: 8 is configured twice (also versions[1])"}},
		{"zero major", mod(0, func(m *Major) { m.Major = 0 }), []string{"versions[0].major:"}},
		{"zero first build", mod(2, func(m *Major) { m.FirstBuild = 0 }), []string{"versions[2].first_build: must be a positive"}},
		{"no release date", mod(0, func(m *Major) { m.Released = time.Time{} }), []string{"versions[0].released: must be set"}},
		{"release order", mod(1, func(m *Major) { m.Released = date("2022-01-01") }),
			[]string{"versions[1].released: major 9 released 2021-02-15, before major 8 (2022-01-01)"}},
		{"several at once", mod(1, func(m *Major) { m.Major = 9; m.LastBuild = 7000 }),
			[]string{"versions[1].major: 9 is configured twice", "versions[1].last_build:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.majors)
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// FuzzCheck: Check never panics, SupportedMajors are configured, descending, at
// most 3 long, and Supported agrees with the list for
// released majors.
func FuzzCheck(f *testing.F) {
	f.Add(8973, int64(1795600000), int64(0))
	f.Add(7512, int64(1621200000), int64(86400))
	f.Add(0, int64(-1), int64(-86400*9000))
	f.Fuzz(func(t *testing.T, build int, unix, shift int64) {
		at := time.Unix(unix%(1<<40), 0).In(adelaide)
		ms := withV10()
		for i := range ms {
			ms[i].Released = ms[i].Released.Add(time.Duration(shift%(1<<20)) * time.Second)
		}
		r := Check(ms, build, at)
		for i, s := range r.SupportedMajors {
			if s < 7 || s > 10 || (i > 0 && s >= r.SupportedMajors[i-1]) {
				t.Fatalf("SupportedMajors %v", r.SupportedMajors)
			}
		}
		if n := len(r.SupportedMajors); n > 3 {
			t.Fatalf("SupportedMajors %v", r.SupportedMajors)
		}
		if r.Known != (build >= 7000 && build <= 10999) || (r.Known && r.Major != build/1000) {
			t.Fatalf("build %d: %+v", build, r)
		}
		if r.Known && len(r.SupportedMajors) > 0 && r.Major <= r.SupportedMajors[0] {
			listed := false
			for _, s := range r.SupportedMajors {
				listed = listed || s == r.Major
			}
			if listed != r.Supported {
				t.Fatalf("build %d: %+v", build, r)
			}
		}
	})
}
