package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/mailer"
	"supportd/poller"
	"supportd/store"
)

// bench holds the shared servers and settings of one run.
type bench struct {
	dir       string
	dc        *dovecot
	sink      *sink
	smtpConns int
	batch     int
	log       *slog.Logger
}

// config is the configuration of a bench run on user's mailbox: the product
// defaults pointed at the bench's Dovecot and sink. The daemon and the relay
// floor both take their settings from it (config.Build, Config.Endpoints).
func (b *bench) config(user, dbPath string, idle bool) config.Config {
	c := config.Default()
	c.Store.Path = dbPath
	c.Store.RawRetention = 0 // no audit copies: the recorded figures measure the pipeline
	c.IMAP.Address, c.IMAP.TLS, c.IMAP.Username, c.IMAP.Password = b.dc.addr(), "none", user, b.dc.pass
	c.IMAP.Idle, c.IMAP.BatchSize, c.IMAP.StartAt = idle, b.batch, "all" // the backlog is the work
	c.SMTP.Address, c.SMTP.TLS, c.SMTP.MaxConns = b.sink.addr(), "none", b.smtpConns
	c.Metrics.Listen = ""
	return c
}

// pollerTunables sets what the bench varies below the configuration's limits:
// the poll interval (down to 25ms) and the reconnect backoffs (the test harness's).
func pollerTunables(poll time.Duration) func(*poller.Config) {
	return func(pc *poller.Config) {
		pc.PollInterval = poll
		pc.BackoffMin, pc.BackoffMax = 100*time.Millisecond, time.Second
		pc.StartAt = poller.StartAt{Mode: poller.StartAll} // the backlog is delivered before the daemon starts
	}
}

func (b *bench) mailer() (*mailer.Mailer, error) {
	_, mc, err := b.config("", "", false).Endpoints(context.Background())
	if err != nil {
		return nil, err
	}
	mc.Logger = b.log
	return mailer.New(mc)
}

func (b *bench) poller(user, spool string, idle bool, poll time.Duration) (*poller.Poller, error) {
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, err
	}
	pc, _, err := b.config(user, "", idle).Endpoints(context.Background())
	if err != nil {
		return nil, err
	}
	pc.SpoolDir, pc.Logger = spool, b.log
	pollerTunables(poll)(&pc)
	return poller.New(pc)
}

// newStore creates a store (fsync on, as in production) with n customers.
func newStore(path string, n int) error {
	db, err := store.Open(path, nil)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(customersCSV(pw, n)) }()
	_, err = db.ImportCustomers(pr, nil)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// runningDaemon is an in-process daemon (the same wiring as `supportd run`).
type runningDaemon struct {
	cancel context.CancelFunc
	done   chan error
	k      *config.Components
}

func (b *bench) startDaemon(user, dbPath string, idle bool, poll time.Duration) (*runningDaemon, error) {
	k, err := b.config(user, dbPath, idle).Build(context.Background(), config.Options{
		Logger: b.log, SpoolDir: filepath.Join(b.dir, "spool-"+user), Poller: pollerTunables(poll)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningDaemon{cancel: cancel, done: make(chan error, 1), k: k}
	go pprof.Do(ctx, pprof.Labels("role", "daemon"), func(ctx context.Context) { r.done <- k.Daemon.Run(ctx) })
	return r, nil
}

func (r *runningDaemon) stop() error {
	r.cancel()
	var err error
	select {
	case err = <-r.done:
	case <-time.After(30 * time.Second):
		err = errors.New("daemon did not stop within 30s")
	}
	if cerr := r.k.Close(); err == nil {
		err = cerr
	}
	return err
}

// outboxPending counts the outbox entries not yet sent (after the daemon stopped).
func outboxPending(path string) (pending int, err error) {
	db, err := store.Open(path, &store.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	err = db.View(func(tx *store.Tx) error {
		pending, _, err = tx.OutboxStats()
		return err
	})
	return pending, err
}

// sinkAlone measures the sink with the mailer alone: n fixed replies in
// batches of 100 (the outbox's batch), smtpConns sessions.
func (b *bench) sinkAlone(n int) (float64, error) {
	m, err := b.mailer()
	if err != nil {
		return 0, err
	}
	defer m.Close()
	b.sink.reset()
	start := time.Now()
	for i := 0; i < n; i += 100 {
		envs := make([]mailer.Envelope, 0, 100)
		for j := i; j < min(i+100, n); j++ {
			envs = append(envs, fixedReply(uint32(j+1), "sink"))
		}
		for _, err := range m.SendBatch(context.Background(), envs) {
			if err != nil {
				return 0, fmt.Errorf("sink alone: %w", err)
			}
		}
	}
	el := time.Since(start)
	if got, _, _ := b.sink.stats(); got != n {
		return 0, fmt.Errorf("sink alone: sink got %d of %d", got, n)
	}
	return float64(n) / el.Seconds(), nil
}

// fixedReply is the floor's reply: about the size of the daemon's
// acknowledgement, with an In-Reply-To unique per UID.
func fixedReply(uid uint32, tag string) mailer.Envelope {
	body := strings.Repeat("Thank you for contacting support. We have received your message and will answer within the SLA.\r\n", 8)
	data := fmt.Sprintf("From: Support <support@vendor.test>\r\nTo: customer@cust.test\r\nSubject: Re: your message\r\n"+
		"Message-ID: <floor-%s-%d@vendor.test>\r\nIn-Reply-To: <%s-%d@floor>\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", tag, uid, tag, uid, body)
	return mailer.Envelope{From: "support@vendor.test", To: []string{"customer@cust.test"}, Data: []byte(data)}
}

// relay is the no-logic floor: the same poller (UID FETCH batches, spool
// files, keyword marks) and the same mailer (parallel sessions), a fixed
// reply per message, no parse, no store, no decision. Sending is pipelined
// with fetching, like the daemon's outbox.
type relay struct {
	mu   sync.Mutex
	last uint32
	uv   uint32
	out  chan []mailer.Envelope
}

func (r *relay) Checkpoint(_ string, uv uint32) (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uv != r.uv {
		return 0, nil
	}
	return r.last, nil
}

func (r *relay) Handle(ctx context.Context, mb poller.Mailbox, batch []poller.Fetched) ([]poller.Mark, error) {
	envs := make([]mailer.Envelope, 0, len(batch))
	marks := make([]poller.Mark, 0, len(batch))
	for _, f := range batch {
		if f.Path != "" {
			os.Remove(f.Path)
		}
		envs = append(envs, fixedReply(f.UID, "floor"))
		marks = append(marks, poller.Mark{UID: f.UID, Keywords: []string{daemon.ProcessedKeyword}})
	}
	select {
	case r.out <- envs:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r.mu.Lock()
	r.uv, r.last = mb.UIDValidity, batch[len(batch)-1].UID
	r.mu.Unlock()
	return marks, nil
}

// drainResult is one drain measurement.
type drainResult struct {
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"msgs_per_s"`
	// Dups are replies accepted twice for one message while draining;
	// DupsStop those added while the daemon shut down afterwards.
	Dups     int `json:"duplicates"`
	DupsStop int `json:"duplicates_at_stop"`
	// CPUPerMsg is the CPU the whole machine spent per message (every
	// process: the bench with its SMTP sink, Dovecot, the kernel), in µs;
	// Busy the share of all cores that was busy while draining. When both
	// sides keep the cores busy, the floor's CPU per message over the
	// daemon's is the highest drain ratio this machine allows.
	CPUPerMsg float64 `json:"machine_cpu_us_per_msg,omitempty"`
	Busy      float64 `json:"machine_busy,omitempty"`
}

// machineCPU is a reading of /proc/stat's first line: jiffies all cores
// spent busy and in total.
type machineCPU struct{ busy, total uint64 }

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPULine(line)
}

// parseCPULine reads /proc/stat's "cpu" line: user nice system idle iowait
// irq softirq steal guest guest_nice, in USER_HZ.
func parseCPULine(line string) machineCPU {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "cpu" {
		return machineCPU{}
	}
	var m machineCPU
	for i, v := range f[1:min(len(f), 9)] { // guest time is counted in user and nice already
		n, _ := strconv.ParseUint(v, 10, 64)
		m.total += n
		if i != 3 && i != 4 && i != 7 { // idle, iowait, steal (time another VM had)
			m.busy += n
		}
	}
	return m
}

// account sets r's CPU figures from readings before and after draining
// (nothing when /proc/stat is not there). The daemon's window includes its
// start (store open, IMAP login), as its drain time does.
func (r *drainResult) account(before, after machineCPU) {
	if after.total <= before.total || after.busy < before.busy || r.N == 0 {
		return
	}
	busy := float64(after.busy - before.busy)
	r.Busy = busy / float64(after.total-before.total)
	r.CPUPerMsg = busy / clockTicks * 1e6 / float64(r.N)
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on x86 and arm.
const clockTicks = 100

// floorDrain runs the relay floor on user's mailbox until n replies arrived.
func (b *bench) floorDrain(user string, n int) (drainResult, error) {
	p, err := b.poller(user, filepath.Join(b.dir, "spool-"+user), false, time.Hour)
	if err != nil {
		return drainResult{}, err
	}
	m, err := b.mailer()
	if err != nil {
		return drainResult{}, err
	}
	defer m.Close()
	r := &relay{out: make(chan []mailer.Envelope, 4)}
	b.sink.reset()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sendErr error
	wg.Add(2)
	cpu0 := readMachineCPU()
	start := time.Now()
	go func() {
		defer wg.Done()
		for envs := range r.out {
			for _, err := range m.SendBatch(context.Background(), envs) {
				if err != nil && sendErr == nil {
					sendErr = err
				}
			}
		}
	}()
	pollErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		pollErr <- p.Run(ctx, r)
		close(r.out)
	}()
	last, werr := b.sink.wait(n, 10*time.Minute)
	cpu1 := readMachineCPU()
	cancel()
	wg.Wait()
	if werr != nil {
		return drainResult{}, werr
	}
	if err := <-pollErr; err != nil {
		return drainResult{}, err
	}
	if sendErr != nil {
		return drainResult{}, sendErr
	}
	_, dups, _ := b.sink.stats()
	el := last.Sub(start).Seconds()
	res := drainResult{N: n, Seconds: el, Rate: float64(n) / el, Dups: dups}
	res.account(cpu0, cpu1)
	return res, nil
}

// daemonDrain runs the in-process daemon on user's mailbox until n replies
// arrived.
func (b *bench) daemonDrain(user, dbPath string, n int) (drainResult, error) {
	b.sink.reset()
	cpu0 := readMachineCPU()
	start := time.Now()
	r, err := b.startDaemon(user, dbPath, false, time.Hour)
	if err != nil {
		return drainResult{}, err
	}
	last, werr := b.sink.wait(n, 10*time.Minute)
	cpu1 := readMachineCPU()
	_, dups, _ := b.sink.stats()
	if err := r.stop(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return drainResult{}, werr
	}
	_, dupsAll, _ := b.sink.stats()
	el := last.Sub(start).Seconds()
	res := drainResult{N: n, Seconds: el, Rate: float64(n) / el, Dups: dups, DupsStop: dupsAll - dups}
	res.account(cpu0, cpu1)
	return res, nil
}

// profiled runs fn with a CPU profile written to cpu and an execution trace
// to tr ("" = none).
func profiled(cpu, tr string, fn func() error) error {
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if tr != "" {
		f, err := os.Create(tr)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	return fn()
}

// latencyResult is arrival → SMTP accepted, in milliseconds.
type latencyResult struct {
	Mode string  `json:"mode"`
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Poll string  `json:"poll_interval,omitempty"`
	// Notify* is the protocol floor of IDLE mode, measured in the same run:
	// APPEND start → EXISTS seen by a bare IMAP client idling on a mailbox
	// nothing else touches (idleFloor).
	NotifyP50 float64 `json:"notify_p50_ms,omitempty"`
	NotifyP99 float64 `json:"notify_p99_ms,omitempty"`
}

func quantiles(ds []time.Duration) (p50, p90, p99, maxv float64) {
	if len(ds) == 0 {
		return
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	q := func(f float64) float64 {
		return float64(ds[int(float64(len(ds)-1)*f)].Microseconds()) / 1000
	}
	return q(0.50), q(0.90), q(0.99), q(1)
}

// existsWatcher is a bare IMAP client idling on a mailbox, recording when
// each message count was first announced.
type existsWatcher struct {
	c    *imapclient.Client
	idle *imapclient.IdleCommand
	mu   sync.Mutex
	seen map[uint32]time.Time
}

func (b *bench) watchExists(user string) (*existsWatcher, error) {
	w := &existsWatcher{seen: map[uint32]time.Time{}}
	c, err := imapclient.DialInsecure(b.dc.addr(), &imapclient.Options{
		Dialer: &net.Dialer{Timeout: 5 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				now := time.Now()
				w.mu.Lock()
				if _, ok := w.seen[*d.NumMessages]; !ok {
					w.seen[*d.NumMessages] = now
				}
				w.mu.Unlock()
			}
		}},
	})
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, b.dc.pass).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	if w.idle, err = c.Idle(); err != nil {
		c.Close()
		return nil, err
	}
	w.c = c
	return w, nil
}

func (w *existsWatcher) at(count uint32) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.seen[count]
	return t, ok
}

func (w *existsWatcher) close() {
	_ = w.idle.Close()
	_ = w.c.Close()
}

// latency appends n messages one at a time to user's INBOX (empty at the
// start) while the daemon runs (IDLE or polling every poll) and measures
// from the start of each APPEND to the moment the sink accepted its reply.
// gap() is the pause after each reply. Message i comes from customer first+i
// (supportMessage). In IDLE mode a bare IDLE client on a second connection
// measures the server's own notification delay.
func (b *bench) latency(mode, user, dbPath string, first, n int, idle bool, poll time.Duration, gap func() time.Duration) (latencyResult, error) {
	res := latencyResult{Mode: mode, N: n}
	if !idle {
		res.Poll = poll.String()
	}
	b.sink.reset()
	r, err := b.startDaemon(user, dbPath, idle, poll)
	if err != nil {
		return res, err
	}
	defer r.stop()
	c, err := b.dc.client(user)
	if err != nil {
		return res, err
	}
	defer c.Close()
	a := &appender{c: c}
	time.Sleep(500 * time.Millisecond) // connected, caught up, idling
	var ds []time.Duration
	for i := 1; i <= n; i++ {
		raw, id := supportMessage(mode, first+i)
		t0 := time.Now()
		if err := a.append(context.Background(), raw); err != nil {
			return res, err
		}
		deadline := time.Now().Add(poll + 10*time.Second)
		if !idle {
			deadline = time.Now().Add(poll + 10*time.Second)
		}
		for {
			if at, ok := b.sink.acceptedAt(id); ok {
				ds = append(ds, at.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				return res, fmt.Errorf("%s latency: no reply to message %d within %v", mode, i, time.Since(t0))
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(gap())
	}
	res.P50, res.P90, res.P99, res.Max = quantiles(ds)
	return res, nil
}

// idleFloor is the protocol floor of IDLE latency: a bare IMAP client idles
// on user's (empty) INBOX, with nothing else touching it, while n messages
// are appended one at a time on another connection; each is timed from the
// start of its APPEND to the EXISTS that announces it.
func (b *bench) idleFloor(user string, n int, gap func() time.Duration) ([]time.Duration, error) {
	w, err := b.watchExists(user)
	if err != nil {
		return nil, err
	}
	defer w.close()
	c, err := b.dc.client(user)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	a := &appender{c: c}
	var ds []time.Duration
	for i := 1; i <= n; i++ {
		raw, _ := supportMessage("idlefloor", i)
		t0 := time.Now()
		if err := a.append(context.Background(), raw); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if at, ok := w.at(uint32(i)); ok {
				ds = append(ds, at.Sub(t0))
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("idle floor: no EXISTS %d within 10s", i)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(gap())
	}
	return ds, nil
}

// memResult is the peak RSS of the real binary.
type memResult struct {
	Messages   int     `json:"messages"`
	Attachment int     `json:"attachment_bytes"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	// PeakAnonMB is the largest RssAnon sampled every 5 ms: the process's own
	// memory, without the store's memory-mapped file pages that VmHWM counts.
	PeakAnonMB float64 `json:"peak_anon_mb"`
	Seconds    float64 `json:"seconds"`
	StaffQueue string  `json:"staff_queue,omitempty"` // a routed copy of each message went to staff too
	// LargestSentMB is the largest message the sink accepted (the staff copy
	// carries the original).
	LargestSentMB float64 `json:"largest_sent_mb"`
}

// memory runs the real supportd binary (`supportd run`) on user's mailbox,
// which holds n messages with a size-byte attachment each, and reads VmHWM
// from /proc/<pid>/status once every message was answered.
func (b *bench) memory(bin, user string, n, size int, staffQueue string) (memResult, error) {
	res := memResult{Messages: n, Attachment: size, StaffQueue: staffQueue}
	dir := filepath.Join(b.dir, "mem-"+user)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	conf := fmt.Sprintf(`support:
  addresses: [support@vendor.test]
  sales_address: sales@vendor.test
  staff_queue: "%s"
store:
  path: %s/supportd.db
imap:
  address: "%s"
  tls: none
  username: %s
  password: %s
  idle: true
  start_at: all
smtp:
  address: "%s"
  tls: none
  from: "Support <support@vendor.test>"
  max_conns: %d
metrics:
  listen: ""
log:
  level: warn
`, staffQueue, dir, b.dc.addr(), user, b.dc.pass, b.sink.addr(), b.smtpConns)
	cfgPath := filepath.Join(dir, "supportd.yaml")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		return res, err
	}
	b.sink.reset()
	logf, err := os.Create(filepath.Join(dir, "supportd.log"))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", cfgPath, "run")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var peak float64
	want := n
	if staffQueue != "" {
		want = 2 * n // reply + staff copy
	}
	stopSampling := make(chan struct{})
	sampled := make(chan int, 1)
	go func() {
		maxKB := 0
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := procStatusKB(cmd.Process.Pid, "RssAnon:"); err == nil {
				maxKB = max(maxKB, kb)
			}
			select {
			case <-stopSampling:
				sampled <- maxKB
				return
			case <-t.C:
			}
		}
	}()
	werr := b.sink.waitAccepted(want, 5*time.Minute)
	close(stopSampling)
	res.PeakAnonMB = float64(<-sampled) / 1024
	res.Seconds = time.Since(start).Seconds()
	if kb, err := vmHWM(cmd.Process.Pid); err == nil {
		peak = float64(kb) / 1024
	} else if werr == nil {
		werr = err
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	if werr != nil {
		return res, fmt.Errorf("%w (log: %s)", werr, logf.Name())
	}
	res.PeakRSSMB = peak
	res.LargestSentMB = float64(b.sink.largest()) / (1 << 20)
	return res, nil
}

// vmHWM reads the peak resident set size (kB) of pid.
func vmHWM(pid int) (int, error) { return procStatusKB(pid, "VmHWM:") }

// procStatusKB reads one "Name: N kB" line of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		}
	}
	return 0, fmt.Errorf("%s not found", field)
}

func jitter(maxD time.Duration) func() time.Duration {
	return func() time.Duration { return time.Duration(rand.Int64N(int64(maxD) + 1)) }
}
