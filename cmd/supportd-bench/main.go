// Command supportd-bench is supportd's end-to-end load tool (issue 5). It
// starts a private Dovecot on loopback and an SMTP sink that accepts and
// discards at full speed, then measures, each against a baseline taken in
// the same run:
//
//   - sink: the sink alone, fed by the mailer (the ceiling of any drain);
//   - drain: N messages already in the mailbox until all are answered, for
//     the no-logic relay floor (poller + mailer, fixed reply) and for the
//     daemon (parse, store, decide, outbox), msgs/s;
//   - latency: messages appended one at a time, APPEND start → SMTP
//     accepted, with IDLE and with polling only;
//   - memory: peak RSS (VmHWM) of the real `supportd run` binary answering
//     messages with 25 MB attachments;
//   - import: `supportd customers import` of a generated 1,000,000-row CSV,
//     wall time and peak RSS of the real binary.
//
// Usage:
//
//	supportd-bench e2e -supportd bin/supportd -out results.json -profile-dir prof/
//	supportd-bench report -gobench parse.txt,store.txt -e2e results.json
//
// make bench (scripts/bench) runs both with the Go benchmarks. Everything
// runs under a temporary directory that is removed at the end.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "e2e":
		err = runE2E(os.Args[2:])
	case "report":
		err = runReport(os.Args[2:], os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "supportd-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: supportd-bench e2e [flags] | report [flags]  (-h for flags)")
	os.Exit(2)
}

// results is what e2e writes (JSON) and report reads.
type results struct {
	Started     time.Time       `json:"started"`
	SMTPConns   int             `json:"smtp_conns"`
	BatchSize   int             `json:"batch_size"`
	SinkAlone   float64         `json:"sink_alone_msgs_per_s"`
	SinkN       int             `json:"sink_n"`
	Floor       []drainResult   `json:"floor,omitempty"`
	Daemon      []drainResult   `json:"daemon,omitempty"`
	Latency     []latencyResult `json:"latency,omitempty"`
	Memory      []memResult     `json:"memory,omitempty"`
	Import      []importResult  `json:"import,omitempty"`
	ElapsedSecs float64         `json:"elapsed_s"`
}

func runE2E(args []string) error {
	fs := flag.NewFlagSet("e2e", flag.ExitOnError)
	n := fs.Int("n", 10000, "drain: messages in the mailbox")
	latN := fs.Int("latency-n", 200, "latency with IDLE: messages appended one at a time")
	pollN := fs.Int("poll-n", 30, "latency with polling only: messages")
	poll := fs.Duration("poll-interval", time.Second, "latency with polling only: imap.poll_interval")
	fastN := fs.Int("fastpoll-n", 100, "latency with a short poll interval: messages (0 skips)")
	fastPoll := fs.Duration("fastpoll-interval", 25*time.Millisecond, "latency with a short poll interval: imap.poll_interval")
	conns := fs.Int("smtp-conns", 2, "smtp.max_conns of the mailer (floor, daemon, sink alone)")
	batch := fs.Int("batch", 100, "imap.batch_size (floor and daemon)")
	bin := fs.String("supportd", "bin/supportd", "the supportd binary (memory and import scenarios)")
	bigN := fs.Int("big-n", 3, "memory: messages with a large attachment")
	bigSize := fs.Int("big-size", 25<<20, "memory: attachment size in bytes (decoded)")
	importN := fs.Int("import-n", 1_000_000, "import: CSV rows (0 skips)")
	only := fs.String("only", "sink,drain,latency,memory,import", "scenarios to run, comma-separated")
	out := fs.String("out", "", "write the results as JSON to this file")
	rounds := fs.Int("rounds", 4, "drain: rounds of floor and daemon, the order alternating (the report takes medians)")
	profDir := fs.String("profile-dir", "", "write CPU profiles of the first drain round (drain-floor.cpu.prof, drain-daemon.cpu.prof) here")
	traceOn := fs.Bool("trace", false, "with -profile-dir: execution traces of the first drain round too")
	keep := fs.Bool("keep", false, "keep the working directory (logs, maildirs)")
	verbose := fs.Bool("v", false, "log the daemon at info level to stderr")
	_ = fs.Parse(args)

	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[strings.TrimSpace(s)] = true
	}
	begin := time.Now()
	res := &results{Started: begin.UTC(), SMTPConns: *conns, BatchSize: *batch}

	dir, err := os.MkdirTemp("", "supportd-bench-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "working directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var logw io.Writer = io.Discard
	level := slog.LevelWarn
	if *verbose {
		logw, level = os.Stderr, slog.LevelInfo
	}
	b := &bench{dir: dir, smtpConns: *conns, batch: *batch, log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))}
	users := []string{"idle@vendor.test", "poll@vendor.test", "fastpoll@vendor.test", "idlefloor@vendor.test", "mem@vendor.test", "memstaff@vendor.test", "memstaff9@vendor.test"}
	for r := 1; r <= *rounds; r++ {
		users = append(users, fmt.Sprintf("floor%d@vendor.test", r), fmt.Sprintf("daemon%d@vendor.test", r))
	}
	if b.dc, err = startDovecot(filepath.Join(dir, "dovecot"), users); err != nil {
		return err
	}
	defer b.dc.stop()
	if b.sink, err = startSink(); err != nil {
		return err
	}
	defer b.sink.close()
	say := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] "+format+"\n", append([]any{time.Since(begin).Seconds()}, a...)...)
	}

	if want["sink"] {
		res.SinkN = *n
		if res.SinkAlone, err = b.sinkAlone(*n); err != nil {
			return err
		}
		say("sink alone: %d replies via the mailer (%d conns): %.0f msgs/s", *n, *conns, res.SinkAlone)
	}
	if want["drain"] {
		// Rounds alternate floor and daemon, each on a fresh mailbox of n
		// messages, so that load from elsewhere on the machine hits both
		// alike; the report takes the median of each.
		for round := 1; round <= *rounds; round++ {
			floorUser, daemonUser := fmt.Sprintf("floor%d@vendor.test", round), fmt.Sprintf("daemon%d@vendor.test", round)
			received := time.Now().Add(-time.Minute)
			for _, u := range []string{floorUser, daemonUser} {
				tag := strings.SplitN(u, "@", 2)[0]
				if err := b.dc.fillMaildir(u, func(i int) []byte { raw, _ := supportMessage(tag, i+1); return raw }, *n, received); err != nil {
					return err
				}
				if got, err := b.dc.count(u); err != nil || int(got) != *n {
					return fmt.Errorf("maildir %s holds %d messages, want %d (%v)", u, got, *n, err)
				}
			}
			dbPath := filepath.Join(dir, fmt.Sprintf("drain%d.db", round))
			if err := newStore(dbPath, *n); err != nil {
				return err
			}
			say("drain round %d: %d messages in each of two mailboxes (maildir + doveadm force-resync)", round, *n)
			prof := func(name string) (string, string) {
				if *profDir == "" || round != 1 {
					return "", ""
				}
				tr := ""
				if *traceOn {
					tr = filepath.Join(*profDir, name+".trace")
				}
				return filepath.Join(*profDir, name+".cpu.prof"), tr
			}
			var fl, dm drainResult
			floor := func() error {
				cpu, tr := prof("drain-floor")
				if err := profiled(cpu, tr, func() (err error) { fl, err = b.floorDrain(floorUser, *n); return err }); err != nil {
					return fmt.Errorf("floor drain: %w", err)
				}
				say("drain floor (poller + mailer, fixed reply): %d in %.2fs = %.0f msgs/s; machine CPU %.0f µs/msg, %.0f%% busy", fl.N, fl.Seconds, fl.Rate, fl.CPUPerMsg, 100*fl.Busy)
				return nil
			}
			daemon := func() error {
				cpu, tr := prof("drain-daemon")
				if err := profiled(cpu, tr, func() (err error) { dm, err = b.daemonDrain(daemonUser, dbPath, *n); return err }); err != nil {
					return fmt.Errorf("daemon drain: %w", err)
				}
				if pending, err := outboxPending(dbPath); err != nil || pending != 0 {
					return fmt.Errorf("daemon drain: %d outbox entries still pending (%v)", pending, err)
				}
				return nil
			}
			// The order alternates: whichever drains second creates its spool
			// files right after the first one deleted n of them, and ext4
			// without a journal (this machine) skips recently freed inodes, a
			// cost that grows with every file deleted in the last minute.
			order := []func() error{floor, daemon}
			if round%2 == 0 {
				order = []func() error{daemon, floor}
			}
			for _, run := range order {
				if err := run(); err != nil {
					return err
				}
			}
			say("drain daemon (parse, store, decide, outbox): %d in %.2fs = %.0f msgs/s (%.2fx floor), duplicates %d (+%d at stop); machine CPU %.0f µs/msg, %.0f%% busy", dm.N, dm.Seconds, dm.Rate, dm.Rate/fl.Rate, dm.Dups, dm.DupsStop, dm.CPUPerMsg, 100*dm.Busy)
			res.Floor = append(res.Floor, fl)
			res.Daemon = append(res.Daemon, dm)
		}
	}
	if want["latency"] {
		// Flush what the drain wrote (60,000 spool and maildir files, the
		// stores) so its writeback does not stall the latency run's fsyncs.
		syscall.Sync()
		// Each latency message comes from a customer of its own (the idle
		// run's first, then the polling runs'), as in the drain.
		dbPath := filepath.Join(dir, "latency.db")
		if err := newStore(dbPath, *latN+*pollN+*fastN); err != nil {
			return err
		}
		nf, err := b.idleFloor("idlefloor@vendor.test", *latN, jitter(20*time.Millisecond))
		if err != nil {
			return err
		}
		li, err := b.latency("idle", "idle@vendor.test", dbPath, 0, *latN, true, time.Hour, jitter(20*time.Millisecond))
		if err != nil {
			return err
		}
		li.NotifyP50, _, li.NotifyP99, _ = quantiles(nf)
		say("latency IDLE: n=%d p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms; bare IDLE client saw EXISTS after p50 %.1f ms p99 %.1f ms",
			li.N, li.P50, li.P90, li.P99, li.Max, li.NotifyP50, li.NotifyP99)
		lp, err := b.latency("poll", "poll@vendor.test", dbPath, *latN, *pollN, false, *poll, jitter(*poll))
		if err != nil {
			return err
		}
		say("latency polling (%v): n=%d p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms", *poll, lp.N, lp.P50, lp.P90, lp.P99, lp.Max)
		res.Latency = []latencyResult{li, lp}
		if *fastN > 0 {
			lf, err := b.latency("fastpoll", "fastpoll@vendor.test", dbPath, *latN+*pollN, *fastN, false, *fastPoll, jitter(*fastPoll))
			if err != nil {
				return err
			}
			say("latency polling (%v): n=%d p50 %.1f ms p90 %.1f ms p99 %.1f ms max %.1f ms", *fastPoll, lf.N, lf.P50, lf.P90, lf.P99, lf.Max)
			res.Latency = append(res.Latency, lf)
		}
	}
	if want["memory"] {
		syscall.Sync()
		// 25 MB attachments as configured by default; again with a staff
		// queue (each message is also routed to staff, its original attached
		// up to the staff-copy limit, header only above it); and with
		// attachments just under that limit, so the staff copy carries all.
		// The last case is a backlog of 30 such messages: imap.batch_bytes
		// keeps what one batch holds bounded.
		cases := []struct {
			user, staff string
			size, n     int
		}{
			{"mem@vendor.test", "", *bigSize, *bigN},
			{"memstaff@vendor.test", "staff@vendor.test", *bigSize, *bigN},
			{"memstaff9@vendor.test", "staff@vendor.test", 1400 << 10, 30}, // ~1.9 MB on the wire, under the 2 MiB default
		}
		for _, c := range cases {
			received := time.Now().Add(-time.Minute)
			if err := b.dc.fillMaildir(c.user, func(i int) []byte { raw, _ := bigMessage("mem", i+1, c.size); return raw }, c.n, received); err != nil {
				return err
			}
			mr, err := b.memory(*bin, c.user, c.n, c.size, c.staff)
			if err != nil {
				return fmt.Errorf("memory: %w", err)
			}
			res.Memory = append(res.Memory, mr)
			say("memory (staff queue %q): %s answered %d messages with %.1f MB attachments in %.1fs, peak RSS %.1f MB (anonymous %.1f MB), largest message sent %.1f MB",
				c.staff, *bin, mr.Messages, float64(mr.Attachment)/(1<<20), mr.Seconds, mr.PeakRSSMB, mr.PeakAnonMB, mr.LargestSentMB)
		}
	}
	if want["import"] && *importN > 0 {
		// A tenth of the rows first: bounded memory means the same peak RSS.
		for _, rows := range []int{*importN / 10, *importN} {
			ir, err := importRun(*bin, dir, rows)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			res.Import = append(res.Import, ir)
			say("import: %d rows with `supportd customers import` in %.1fs, peak RSS %.1f MB", ir.Rows, ir.Seconds, ir.PeakRSSMB)
		}
	}
	res.ElapsedSecs = time.Since(begin).Seconds()
	if *out != "" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// importResult is the CLI import of a generated customer CSV.
type importResult struct {
	Rows      int     `json:"rows"`
	Seconds   float64 `json:"seconds"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
	FileMB    float64 `json:"csv_mb"`
}

// importRun writes an n-row CSV and imports it with the real binary into a
// fresh store (fsync on), timing the process and reading its peak RSS
// (rusage maxrss of the child).
func importRun(bin, dir string, n int) (importResult, error) {
	res := importResult{Rows: n}
	idir := filepath.Join(dir, fmt.Sprintf("import-%d", n))
	if err := os.MkdirAll(idir, 0o700); err != nil {
		return res, err
	}
	csvPath := filepath.Join(idir, "customers.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return res, err
	}
	bw := newBufWriter(f)
	if err := customersCSV(bw, n); err != nil {
		f.Close()
		return res, err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return res, err
	}
	if fi, err := f.Stat(); err == nil {
		res.FileMB = float64(fi.Size()) / (1 << 20)
	}
	f.Close()
	cfg := filepath.Join(idir, "supportd.yaml")
	if err := os.WriteFile(cfg, []byte("store:\n  path: "+filepath.Join(idir, "supportd.db")+"\n"), 0o600); err != nil {
		return res, err
	}
	cmd := exec.Command(bin, "--config", cfg, "customers", "import", csvPath)
	var outb strings.Builder
	cmd.Stdout, cmd.Stderr = &outb, &outb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", bin, err)
	}
	// VmHWM of the running process, sampled until it exits. Not the rusage of
	// wait4: Go starts children with CLONE_VM|CLONE_VFORK, so the child's
	// ru_maxrss includes this (large) process's RSS from before the exec.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	hwm := 0
	tick := time.NewTicker(5 * time.Millisecond)
wait:
	for {
		if kb, err := vmHWM(cmd.Process.Pid); err == nil {
			hwm = max(hwm, kb)
		}
		select {
		case err = <-done:
			break wait
		case <-tick.C:
		}
	}
	tick.Stop()
	res.Seconds = time.Since(start).Seconds()
	if err != nil {
		return res, fmt.Errorf("%s customers import: %w: %s", bin, err, outb.String())
	}
	res.PeakRSSMB = float64(hwm) / 1024
	if want := fmt.Sprintf("%d added", n); !strings.Contains(outb.String(), want) {
		return res, fmt.Errorf("import output %q does not say %q", outb.String(), want)
	}
	return res, nil
}

func newBufWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 1<<20) }
