// The race detector multiplies the cost of memory accesses unevenly (shadow
// memory is touched as inputs grow), so a timing ratio under -race measures
// the detector, not the code: this test runs without it (make test runs it
// in a separate step).

//go:build !race

package mailparse

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Issue 13 item 6: every field extractor is linear in its input. Each
// extractor runs on pathological text (repeated keywords, digits,
// separators, labels without values) of n and 2n bytes; the time must at
// most about double. Times are the process's CPU time (other processes on
// a loaded machine do not count), the minimum of several runs, and only
// their ratio is compared, with a generous bound: linear work gives about
// 2, quadratic about 4.

// extractors are the field extractors, each on the lower-cased text as
// Extract gives it.
func extractors(t testing.TB) map[string]func(orig, lower string) {
	p := testParser(t, nil)
	return map[string]func(orig, lower string){
		"ticket":      func(orig, lower string) { p.ticket.find(orig, lower) },
		"build":       func(_, lower string) { findBuilds(lower) },
		"own_text":    func(orig, lower string) { ownText(orig, lower, 0) },
		"server_os":   func(_, lower string) { p.oses.find(lower) },
		"browser":     func(orig, lower string) { findBrowser(orig, lower) },
		"description": func(orig, lower string) { hasDescription(ownLines(orig, lower)) },
		"steps":       func(orig, lower string) { hasSteps(ownLines(orig, lower)) },
	}
}

// pathological are the repeated units: keywords of every extractor,
// digits, separators and labels without values, on one line and on many.
var pathological = []string{
	"edge ", "Edge ", "opera ", "chrome ", "firefox/", "safari ", "internet explorer ", "msie ", "ie ", "ie1", "version/",
	"build ", "build number: ", "Build Number:\n", "build 1", "win ", "windows ", "server ", "server 20", "r2 ", "2012 ",
	"cs-", "CS-00", "1", "12345 ", "/", ":", "-", "- ", "* click ", "1. ", "step ", "description: ", "Description:\n",
	"steps to ", "Browser:\n", "Server OS:\n", "> quoted ", "e.g. ", "for example ", "from build 9 to ", "upgraded to ",
}

// cpuTime is the CPU time the process has used.
func cpuTime(t testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// minTime is the least CPU time of runs calls of f, each repeated reps
// times.
func minTime(t testing.TB, f func(), runs, reps int) time.Duration {
	best := time.Duration(1 << 62)
	for range runs {
		start := cpuTime(t)
		for range reps {
			f()
		}
		best = min(best, cpuTime(t)-start)
	}
	return best
}

func TestExtractorsLinear(t *testing.T) {
	const n = 16 << 10
	for name, f := range extractors(t) {
		for _, unit := range pathological {
			small := strings.Repeat(unit, n/len(unit))
			big := strings.Repeat(unit, 2*n/len(unit))
			ls, lb := asciiLower(small), asciiLower(big)
			// Enough repetitions that the small input takes about half a
			// millisecond (timer resolution and scheduling do not count); a
			// ratio above the bound is measured again, longer.
			one := max(minTime(t, func() { f(small, ls) }, 1, 1), time.Microsecond)
			reps := int(min(max(time.Millisecond/2/one, 1), 1<<16))
			// No collection while timing: when one would fall is chance,
			// and its cost is not the extractor's.
			runtime.GC()
			gc := debug.SetGCPercent(-1)
			ratio := 0.0
			for try := 0; try < 3; try++ {
				ts := minTime(t, func() { f(small, ls) }, 3+2*try, reps)
				tb := minTime(t, func() { f(big, lb) }, 3+2*try, reps)
				ratio = float64(tb) / float64(ts)
				if ratio < 3 {
					break
				}
				if ts < 4*time.Millisecond { // a slow case is measured long enough already
					reps *= 8
				}
			}
			debug.SetGCPercent(gc)
			if ratio >= 3 {
				t.Errorf("%s on %q × %d: doubling the input multiplied the time by %.1f", name, unit, n/len(unit), ratio)
			}
		}
	}
}
