package main

import (
	"bytes"
	"strings"
	"testing"

	"supportd/mailparse"
)

const sampleBench = `goos: linux
BenchmarkParse/in=mail/impl=supportd-2   1730   983161 ns/op   30.00 MB/s   24.00 msgs   706351 B/op   5451 allocs/op
BenchmarkParse/in=mail/impl=supportd-2   1730   983161 ns/op   10.00 MB/s   24.00 msgs   706351 B/op   5451 allocs/op
BenchmarkParse/in=mail/impl=supportd-2   1730   983161 ns/op   20.00 MB/s   24.00 msgs   706351 B/op   5451 allocs/op
BenchmarkParse/in=mail/impl=rawwalk-2    6662   219630 ns/op  100.00 MB/s   24.00 msgs   428583 B/op   2069 allocs/op
BenchmarkParse/in=mail/impl=enmime-2      241  5122067 ns/op    2.00 MB/s   24.00 msgs  1233315 B/op   6407 allocs/op
BenchmarkCustomerByContact-2   212192   5083 ns/op   4507 p50-ns   11818 p99-ns   1595 B/op   33 allocs/op
--- FAIL: BenchmarkSomething
PASS
`

func TestParseGoBenchMedian(t *testing.T) {
	gb := benchRuns{}
	if err := parseGoBench(strings.NewReader(sampleBench), gb); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkParse/in=mail/impl=supportd", "MB/s", 20},
		{"BenchmarkParse/in=mail/impl=rawwalk", "B/op", 428583},
		{"BenchmarkCustomerByContact", "p99-ns", 11818},
	}
	for _, c := range cases {
		got, ok := gb.median(c.name, c.unit)
		if !ok || got != c.want {
			t.Errorf("median(%s, %s) = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if _, ok := gb.median("BenchmarkSomething", "ns/op"); ok {
		t.Error("a FAIL line was parsed as a result")
	}
}

func TestBuildRowsVerdicts(t *testing.T) {
	gb := benchRuns{}
	if err := parseGoBench(strings.NewReader(sampleBench), gb); err != nil {
		t.Fatal(err)
	}
	e2e := &results{
		SinkAlone: 10000, SMTPConns: 2,
		Floor: []drainResult{{N: 100, Rate: 1000, CPUPerMsg: 300, Busy: 0.8}, {N: 100, Rate: 3000, CPUPerMsg: 320, Busy: 0.9},
			{N: 100, Rate: 2000, CPUPerMsg: 310, Busy: 0.85}},
		Daemon: []drainResult{{N: 100, Rate: 1500, CPUPerMsg: 800, Busy: 0.9}, {N: 100, Rate: 900, CPUPerMsg: 760, Busy: 0.88},
			{N: 100, Rate: 1200, CPUPerMsg: 780, Busy: 0.95}},
		Latency: []latencyResult{
			{Mode: "idle", N: 10, P50: 40, P99: 300, NotifyP50: 30, NotifyP99: 290},
		},
		Memory: []memResult{{Messages: 3, Attachment: 25 << 20, PeakRSSMB: 20}},
	}
	rows := buildRows(gb, e2e)
	find := func(prefix string) row {
		t.Helper()
		for _, r := range rows {
			if strings.HasPrefix(r.Metric, prefix) {
				return r
			}
		}
		t.Fatalf("no row %q in %+v", prefix, rows)
		return row{}
	}
	for _, c := range []struct{ prefix, verdict, ratio string }{
		{"parse mail: Parse vs raw", "info", "0.20×"}, // a reference, not a target
		{"parse mail: Parse vs enmime", "met", "10.00×"},
		{"store lookup by contact", "met", "-"},
		{"drain 100: daemon vs relay floor", "NOT MET", "0.60×"}, // medians 1200 / 2000
		{"drain 100: daemon throughput", "met", "-"},
		{"drain: machine CPU per message", "info", "0.40×"}, // medians 310 / 780 µs
		{"latency IDLE p50", "met", "1.33×"},
		{"latency IDLE p99", "NOT MET", "1.03×"},
		{"peak RSS", "met", "-"},
		{"parse enmime: Parse vs enmime", "missing", "-"},
	} {
		r := find(c.prefix)
		if r.Verdict != c.verdict || r.Ratio != c.ratio {
			t.Errorf("%s: verdict %q ratio %q, want %q %q", c.prefix, r.Verdict, r.Ratio, c.verdict, c.ratio)
		}
	}
	for _, r := range rows {
		if strings.Contains(r.Metric, "raw go-message walk") && (r.Target != "-" || r.Verdict == "NOT MET" || r.Verdict == "missing") {
			t.Errorf("the raw walk is judged as a target: %+v", r)
		}
	}
	var buf bytes.Buffer
	printRows(&buf, rows, true)
	if !strings.Contains(buf.String(), "| drain 100: daemon vs relay floor (median of 3) | 1200 msg/s | 2000 msg/s | 0.60× | ≥ 0.70× | **NOT MET** |") {
		t.Errorf("markdown table:\n%s", buf.String())
	}
}

// Every generated drain message is answered: a distinct sender, a build,
// and nothing the triage would suppress.
func TestSupportMessageParses(t *testing.T) {
	seen := map[string]bool{}
	for i := 1; i <= 30; i++ {
		raw, id := supportMessage("t", i)
		m, err := mailparse.Default().Parse(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if m.MessageID != id || m.From == nil || m.Build != 9653 || len(m.Problems) != 0 {
			t.Fatalf("message %d: id %q from %v build %d problems %v", i, m.MessageID, m.From, m.Build, m.Problems)
		}
		if seen[m.From.Addr] {
			t.Fatalf("sender %s repeats", m.From.Addr)
		}
		seen[m.From.Addr] = true
	}
	raw, _ := bigMessage("t", 1, 100<<10)
	m, err := mailparse.Default().Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Size != 100<<10 {
		t.Fatalf("big message attachments %+v", m.Attachments)
	}
}

func TestDrainCPUAccount(t *testing.T) {
	r := drainResult{N: 100}
	r.account(machineCPU{busy: 100, total: 200}, machineCPU{busy: 300, total: 500})
	if r.CPUPerMsg != 20000 || r.Busy < 0.666 || r.Busy > 0.667 {
		t.Errorf("200 busy jiffies of 300 over 100 messages: got %.0f µs/msg, %.3f busy; want 20000, 0.667", r.CPUPerMsg, r.Busy)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice: busy
	// is user+nice+system+irq+softirq; guest is inside user already.
	if m := parseCPULine("cpu  100 20 30 400 50 6 7 80 900 1000"); m.busy != 163 || m.total != 693 {
		t.Errorf("parsed as %+v, want busy 163 of 693", m)
	}
	if m := parseCPULine("intr 1 2 3"); m != (machineCPU{}) {
		t.Errorf("not the cpu line: parsed as %+v", m)
	}
}
