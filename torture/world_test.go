package torture

import (
	"bytes"
	"fmt"
	"maps"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"supportd/internal/testenv"
	"supportd/store"
)

// customersCSV is imported with `supportd customers import`.
const customersCSV = `id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module
C100,Acme Pty Ltd,it@acme.test,acme.test,enterprise,2027-06-30,,false,false,true
C200,Globex Corporation,,globex.test,global,2027-01-31,,false,true,true
C300,Initech,,initech.test,cal,2025-03-31,2027-12-10,false,false,false
C400,Umbrella Small Biz,,umbrella.test,cal,,,true,false,false
C500,Hooli Ltd,,hooli.test,enterprise,2026-08-31,,false,false,false
`

// received is the INTERNALDATE of every test message: Wednesday 25 November 2026,
// 10:00 in Adelaide, inside support hours (all on one day for the reply limit).
var received = time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)

// world is one test's setup: a real Dovecot and Mailpit, proxies in front of them
// that can kill the daemon at protocol events, a config file and a store.
type world struct {
	t        *testing.T
	dovecot  *testenv.DovecotServer
	mailpit  *testenv.MailpitServer
	imapPx   *proxy
	smtpPx   *proxy
	trig     *trigger
	slow     atomic.Int64 // SMTP DATA delay, see smtpTap
	slowIMAP atomic.Int64 // UID FETCH delay, see imapTap
	dir      string
	cfgPath  string
	dbPath   string
	runs     int
	logs     []string
	procs    []*daemonProc
	items    []item // everything delivered, in UID order

	mu       sync.Mutex
	procList []*daemonProc    // copy of procs for the proxies' goroutines
	accepted map[string][]int // Message-ID → index of each run whose connection delivered it
	conns    int              // SMTP connections opened through the proxy
	// deliveries: Message-ID → the SMTP connection of each copy, in order.
	deliveries map[string][]int
}

// currentRun is the index of the newest daemon run (-1 before the first).
func (w *world) currentRun() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.procList) - 1
}

func (w *world) recordDelivered(id string, run, conn int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.accepted == nil {
		w.accepted, w.deliveries = map[string][]int{}, map[string][]int{}
	}
	w.accepted[id] = append(w.accepted[id], run)
	w.deliveries[id] = append(w.deliveries[id], conn)
}

// newConn numbers an SMTP connection through the proxy.
func (w *world) newConn() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns++
	return w.conns
}

type worldOpts struct {
	batchSize     int
	repliesPerDay int
	staffQueue    string // support.staff_queue ("" = none)
	extraConfig   string // YAML sections appended to the config (not support, limits, store, imap, smtp, metrics, log)
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	if o.batchSize == 0 {
		o.batchSize = 10
	}
	if o.repliesPerDay == 0 {
		o.repliesPerDay = 3
	}
	w := &world{t: t, dovecot: testenv.Dovecot(t), mailpit: testenv.Mailpit(t), trig: &trigger{}, dir: t.TempDir()}
	w.imapPx = startProxy(t, w.dovecot.Addr(), func() tap { return &imapTap{tr: w.trig, slow: &w.slowIMAP} })
	w.smtpPx = startProxy(t, w.mailpit.SMTPAddr(), func() tap {
		run, conn := w.currentRun(), w.newConn()
		return &smtpTap{tr: w.trig, slow: &w.slow, delivered: func(id string) { w.recordDelivered(id, run, conn) }}
	})
	w.dbPath = filepath.Join(w.dir, "supportd.db")
	w.cfgPath = filepath.Join(w.dir, "supportd.yaml")
	cfg := fmt.Sprintf(`support:
  addresses: [support@vendor.test]
  sales_address: sales@vendor.test
  staff_queue: %q
limits:
  auto_replies_per_sender_per_day: %d
  unknown_replies_per_domain_per_hour: 1000
  unknown_replies_per_hour: 1000
store:
  path: %q
imap:
  address: %q
  tls: none
  username: %q
  password: %q
  mailbox: INBOX
  idle: true
  poll_interval: 1s
  batch_size: %d
  start_at: all
smtp:
  address: %q
  tls: none
  from: "Support <support@vendor.test>"
  max_conns: 2
  timeout: 30s
metrics:
  listen: ""
log:
  level: info
  format: json
%s`, o.staffQueue, o.repliesPerDay, w.dbPath, w.imapPx.addr(), w.dovecot.User(), w.dovecot.Password(), o.batchSize, w.smtpPx.addr(), o.extraConfig)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := w.cli("config", "check"); err != nil {
		t.Fatalf("supportd config check: %v\n%s", err, out)
	}
	csv := filepath.Join(w.dir, "customers.csv")
	if err := os.WriteFile(csv, []byte(customersCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := w.cli("customers", "import", csv); err != nil || !strings.Contains(out, "5 added") {
		t.Fatalf("supportd customers import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for _, p := range w.procs {
			p.kill()
		}
		if t.Failed() {
			w.dumpLogs()
		}
	})
	return w
}

// cli runs a supportd subcommand with the world's config and returns its output.
func (w *world) cli(args ...string) (string, error) {
	cmd := exec.Command(supportdBin, append([]string{"--config", w.cfgPath}, args...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cleanEnv is the environment without SUPPORTD_ overrides of the test's config.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUPPORTD_") {
			env = append(env, kv)
		}
	}
	return env
}

func (w *world) dumpLogs() {
	if keep, err := os.MkdirTemp("", "supportd-torture-logs-"); err == nil {
		files, _ := filepath.Glob(filepath.Join(w.dir, "run-*.log"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				_ = os.WriteFile(filepath.Join(keep, filepath.Base(f)), b, 0o600)
			}
		}
		w.t.Logf("all daemon logs kept in %s", keep)
	}
	for _, l := range w.logs {
		b, _ := os.ReadFile(l)
		if len(b) > 6000 {
			b = append([]byte("…"), b[len(b)-6000:]...)
		}
		w.t.Logf("---- %s ----\n%s", filepath.Base(l), b)
	}
}

// daemonProc is one `supportd run`.
type daemonProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	log     string
	started time.Time
	ended   time.Time   // set before done is closed
	killed  atomic.Bool // we sent SIGKILL
}

// start runs `supportd run` with its output in a log file of its own.
func (w *world) start() *daemonProc {
	w.t.Helper()
	w.runs++
	logPath := filepath.Join(w.dir, fmt.Sprintf("run-%03d.log", w.runs))
	f, err := os.Create(logPath)
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(supportdBin, "--config", w.cfgPath, "run")
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		w.t.Fatalf("start supportd run: %v", err)
	}
	p := &daemonProc{cmd: cmd, done: make(chan struct{}), log: logPath, started: time.Now()}
	go func() {
		p.err = cmd.Wait()
		p.ended = time.Now()
		f.Close()
		close(p.done)
	}()
	w.logs = append(w.logs, logPath)
	if len(w.logs) > 8 {
		w.logs = w.logs[len(w.logs)-8:]
	}
	w.procs = append(w.procs, p)
	w.mu.Lock()
	w.procList = append(w.procList, p)
	w.mu.Unlock()
	return p
}

func (p *daemonProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the process (if it still runs) and waits for it.
func (p *daemonProc) kill() {
	p.killNow()
	<-p.done
}

// killNow sends SIGKILL without waiting (safe to call from a proxy goroutine).
func (p *daemonProc) killNow() {
	if !p.exited() {
		p.killed.Store(true)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// term sends SIGTERM and waits for a clean exit (status 0) within timeout.
func (p *daemonProc) term(t testing.TB, timeout time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		t.Fatalf("supportd did not stop within %v of SIGTERM", timeout)
	}
	if p.err != nil {
		t.Fatalf("supportd run exited with %v after SIGTERM (log %s)", p.err, p.log)
	}
}

// kind is what a test message must turn into.
type kind int

const (
	kindReply      kind = iota // exactly one automatic reply
	kindAutoReply              // Auto-Submitted: auto-replied → suppressed
	kindList                   // List-Id → suppressed
	kindBulk                   // Precedence: bulk → suppressed
	kindFollowUp               // references an earlier message → follow_up, no reply
	kindNoisy                  // the shared noisy sender: limit replies, rest rate_limit
	kindReplyToEnd             // a plain message that must be answered (the last of a wave)
)

func (k kind) wantsReply() bool { return k == kindReply || k == kindReplyToEnd }

// item is one delivered test message.
type item struct {
	n    int
	id   string // Message-ID without angle brackets
	from string
	kind kind
	uid  uint32
}

var domains = []string{"acme.test", "globex.test", "initech.test", "umbrella.test", "hooli.test", "newcorp.test"}
var builds = []string{"9653", "9640", "8801", "7941", ""}

// compose builds message n of the given kind; prev is the message a
// follow-up answers (it comes from the same sender: a ticket is bound to its
// customer).
func compose(n int, k kind, prev item) (item, []byte) {
	it := item{n: n, kind: k, id: fmt.Sprintf("torture-%05d@%s", n, domains[n%len(domains)])}
	it.from = fmt.Sprintf("user%05d@%s", n, domains[n%len(domains)])
	var extra []string
	subject := fmt.Sprintf("Problem number %d", n)
	switch k {
	case kindAutoReply:
		extra = append(extra, "Auto-Submitted: auto-replied")
		subject = "Automatic reply: out of office"
	case kindList:
		extra = append(extra, "List-Id: <users.lists.example.test>")
	case kindBulk:
		extra = append(extra, "Precedence: bulk")
	case kindFollowUp:
		extra = append(extra, "In-Reply-To: <"+prev.id+">", "References: <"+prev.id+">")
		subject = "Re: more detail"
		it.from = prev.from
	case kindNoisy:
		it.from = "noisy@globex.test"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: User %d <%s>\r\nTo: support@vendor.test\r\nSubject: %s\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\nMessage-ID: <%s>\r\n", n, it.from, subject, it.id)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	if bd := builds[n%len(builds)]; bd != "" {
		fmt.Fprintf(&b, "Build Number: %s\r\nServer OS: Windows Server 2019\r\n", bd)
	}
	fmt.Fprintf(&b, "Message %d of the torture backlog.\r\nThe page fails with an error for every user since yesterday.\r\n", n)
	return it, []byte(b.String())
}

// kindOf spreads the special kinds over the backlog; the last message of every
// wave is a plain one, so all replies having arrived means the wave is done.
func kindOf(n int, last bool) kind {
	switch {
	case last:
		return kindReplyToEnd
	case n%20 == 7:
		return kindAutoReply
	case n%20 == 13:
		return kindList
	case n%20 == 17:
		return kindBulk
	case n%25 == 24 && n > 0:
		return kindFollowUp
	case n%10 == 9:
		return kindNoisy
	}
	return kindReply
}

// deliver appends count new messages to the Dovecot INBOX in one session.
func (w *world) deliver(count int) {
	w.t.Helper()
	c := w.dovecot.Client(w.t)
	defer func() { _ = c.Logout().Wait() }()
	for i := 0; i < count; i++ {
		n := len(w.items)
		// A follow-up answers the latest message that opened a ticket.
		var prev item
		for j := n - 1; j >= 0; j-- {
			if w.items[j].kind == kindReply {
				prev = w.items[j]
				break
			}
		}
		it, raw := compose(n, kindOf(n, i == count-1), prev)
		cmd := c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Time: received})
		if _, err := cmd.Write(raw); err != nil {
			w.t.Fatalf("append: %v", err)
		}
		if err := cmd.Close(); err != nil {
			w.t.Fatalf("append: %v", err)
		}
		data, err := cmd.Wait()
		if err != nil {
			w.t.Fatalf("append: %v", err)
		}
		it.uid = uint32(data.UID)
		w.items = append(w.items, it)
	}
}

// wantReplies is how many replies the delivered messages must produce.
func (w *world) wantReplies(perDay int) int {
	n, noisy := 0, 0
	for _, it := range w.items {
		if it.kind.wantsReply() {
			n++
		}
		if it.kind == kindNoisy {
			noisy++
		}
	}
	return n + min(noisy, perDay)
}

// distinctReplied counts the messages with at least one reply at Mailpit.
func (w *world) distinctReplied() int {
	seen := map[string]bool{}
	for _, r := range w.replies() {
		seen[r.inReplyTo] = true
	}
	return len(seen)
}

type reply struct {
	messageID, inReplyTo, to string
	created                  time.Time // when Mailpit accepted it
}

// replies reads every message at Mailpit with its In-Reply-To.
func (w *world) replies() []reply {
	w.t.Helper()
	var out []reply
	for _, m := range w.mailpit.Messages(w.t) {
		raw := w.mailpit.Raw(w.t, m.ID)
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			w.t.Fatalf("mailpit message %s: %v", m.ID, err)
		}
		if msg.Header.Get("X-Support-Ticket") != "" {
			continue // internal mail (the sales brief beside a lapsed notice), not a reply to a customer
		}
		out = append(out, reply{
			messageID: strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>"),
			inReplyTo: strings.Trim(strings.TrimSpace(msg.Header.Get("In-Reply-To")), "<>"),
			to:        msg.Header.Get("To"),
			created:   m.Created,
		})
	}
	return out
}

// waitReplies waits until n distinct messages have replies or timeout passes.
func (w *world) waitReplies(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if len(w.mailpit.Messages(w.t)) >= n && w.distinctReplied() >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// summary is the outcome of a run, checked against the delivered messages.
type summary struct {
	messages   int
	kills      int
	replies    int // messages answered exactly once (RFC 1047 copies aside)
	recorded   int // messages recorded without a reply (suppressed, follow-up)
	lost       int // messages without their reply or without a ledger entry
	duplicates int // extra replies with a different Message-ID, or to a message that must get none
	rfc1047    int // extra copies of a reply with the same Message-ID
	// resentMaxConn is the most copies resent after one kill that one SMTP
	// connection had delivered (the RFC 1047 window: at most 1);
	// resentMaxKill the most resent after one kill.
	resentMaxConn, resentMaxKill int
	unmarked                     int // messages without the $SupportdProcessed keyword in Dovecot
	outboxLeft                   int // outbox entries still pending
	problems                     []string
	killsByPoint                 map[string]int
}

func (s summary) String() string {
	var pts []string
	for p, n := range s.killsByPoint {
		pts = append(pts, fmt.Sprintf("%s=%d", p, n))
	}
	sort.Strings(pts)
	perKill := 0.0
	if s.kills > 0 {
		perKill = float64(s.rfc1047) / float64(s.kills)
	}
	return fmt.Sprintf("messages=%d kills=%d replies=%d suppressions=%d lost=%d duplicates=%d rfc1047_dups=%d resends_per_kill=%.2f max_resends_one_kill=%d max_resends_one_conn=%d unmarked=%d outbox_pending=%d kill_points=[%s]",
		s.messages, s.kills, s.replies, s.recorded, s.lost, s.duplicates, s.rfc1047, perKill, s.resentMaxKill, s.resentMaxConn, s.unmarked, s.outboxLeft, strings.Join(pts, " "))
}

func (s *summary) problem(format string, args ...any) {
	if len(s.problems) < 30 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

// check compares Mailpit, the store and Dovecot with what was delivered. The
// daemon must not be running (the store is opened read-only).
func (w *world) check(perDay int) summary {
	w.t.Helper()
	s := summary{messages: len(w.items)}
	byIRT := map[string][]string{}
	copies := map[string]int{}
	for _, r := range w.replies() {
		byIRT[r.inReplyTo] = append(byIRT[r.inReplyTo], r.messageID)
		copies[r.messageID]++
	}
	// A second copy of one reply is explainable only by the RFC 1047 window
	// (unexplainedCopies).
	s.resentMaxConn, s.resentMaxKill = w.resentMax()
	unexplained := w.unexplainedCopies(copies, &s)
	known := map[string]bool{}
	for _, it := range w.items {
		known[it.id] = true
	}
	for irt, ids := range byIRT {
		if !known[irt] {
			s.duplicates += len(ids)
			s.problem("%d message(s) at Mailpit answer unknown In-Reply-To %q", len(ids), irt)
		}
	}

	db, err := store.Open(w.dbPath, &store.Options{ReadOnly: true})
	if err != nil {
		w.t.Fatalf("open store read-only: %v", err)
	}
	defer db.Close()
	uv := w.dovecot.UIDValidity(w.t, "INBOX")
	flags := w.dovecot.FetchFlags(w.t, "INBOX")
	noisyReplied := 0
	err = db.View(func(tx *store.Tx) error {
		for _, it := range w.items {
			ids := byIRT[it.id]
			e, err := tx.SeenUID("INBOX", uv, it.uid)
			if err != nil {
				return err
			}
			if e == nil || !e.Done() {
				s.lost++
				s.problem("message %d (uid %d, %s) has no ledger entry", it.n, it.uid, it.id)
				continue
			}
			if !slices.Contains(flags[it.uid], "$SupportdProcessed") {
				s.unmarked++
			}
			distinct := len(uniq(ids))
			wants := it.kind.wantsReply() || (it.kind == kindNoisy && len(ids) > 0)
			if it.kind == kindNoisy && len(ids) > 0 {
				noisyReplied++
			}
			switch {
			case wants && len(ids) == 0:
				s.lost++
				s.problem("message %d (%s, kind %d, action %s %s) got no reply", it.n, it.id, it.kind, e.Action, e.SuppressReason)
			case wants:
				s.replies++
				for _, id := range uniq(ids) {
					extra := copies[id] - 1
					if unexplained[id] {
						s.duplicates += extra
					} else {
						s.rfc1047 += extra
					}
				}
				s.duplicates += distinct - 1
				if distinct > 1 {
					s.problem("message %d got %d replies with different Message-IDs %v", it.n, distinct, uniq(ids))
				}
				if e.Action == "suppress" || e.Action == "follow_up" {
					s.problem("message %d was answered but its ledger says %s", it.n, e.Action)
				}
			default:
				if len(ids) > 0 {
					s.duplicates += len(ids)
					s.problem("message %d (kind %d, ledger %s %s) must get no reply but got %d", it.n, it.kind, e.Action, e.SuppressReason, len(ids))
					continue
				}
				s.recorded++
				wantAction, wantReason := "suppress", ""
				switch it.kind {
				case kindAutoReply:
					wantReason = "auto_submitted"
				case kindList:
					wantReason = "list"
				case kindBulk:
					wantReason = "precedence"
				case kindNoisy:
					wantReason = "rate_limit"
				case kindFollowUp:
					wantAction = "follow_up"
				}
				if e.Action != wantAction || (wantReason != "" && e.SuppressReason != wantReason) {
					s.problem("message %d (kind %d): ledger action %s/%s, want %s/%s", it.n, it.kind, e.Action, e.SuppressReason, wantAction, wantReason)
				}
			}
		}
		pending, _, err := tx.OutboxStats()
		s.outboxLeft = pending
		return err
	})
	if err != nil {
		w.t.Fatalf("read store: %v", err)
	}
	noisy := 0
	for _, it := range w.items {
		if it.kind == kindNoisy {
			noisy++
		}
	}
	if want := min(noisy, perDay); noisyReplied != want {
		s.problem("the noisy sender got %d replies for %d messages, want %d (limit %d a day)", noisyReplied, noisy, want, perDay)
	}
	for _, f := range w.raceReports() {
		s.problem("the daemon reported a data race in %s", f)
	}
	s.killsByPoint = map[string]int{}
	for _, p := range allPoints {
		if n := w.trig.fired(p); n > 0 {
			s.killsByPoint[p] = n
		}
	}
	return s
}

// resentMax is the most copies that one SMTP connection, and one daemon run,
// delivered and then had resent after a kill (every copy but the last of a
// Message-ID was resent).
func (w *world) resentMax() (perConn, perRun int) {
	w.mu.Lock()
	accepted := maps.Clone(w.accepted)
	deliveries := maps.Clone(w.deliveries)
	w.mu.Unlock()
	byConn, byRun := map[int]int{}, map[int]int{}
	for id, conns := range deliveries {
		for i := 0; i+1 < len(conns); i++ {
			byConn[conns[i]]++
			byRun[accepted[id][i]]++
		}
	}
	for _, n := range byConn {
		perConn = max(perConn, n)
	}
	for _, n := range byRun {
		perRun = max(perRun, n)
	}
	return perConn, perRun
}

// unexplainedCopies returns the Message-IDs of which Mailpit holds more copies
// (copies: Message-ID → count) than the RFC 1047 window explains: a second copy
// is explained only when the run that delivered the earlier one (its final "."
// reached the server) was SIGKILLed before recording it as sent. Copies
// delivered within one run, or by a run that stopped cleanly, are ordinary
// duplicates. The SMTP proxy tells runs apart: the run alive when the
// connection was opened. Each problem is noted in s.
func (w *world) unexplainedCopies(copies map[string]int, s *summary) map[string]bool {
	w.mu.Lock()
	accepted := maps.Clone(w.accepted)
	procs := slices.Clone(w.procList)
	w.mu.Unlock()
	unexplained := map[string]bool{}
	for id, n := range copies {
		runs := slices.Clone(accepted[id])
		if len(runs) < n {
			s.problem("message %s: Mailpit holds %d copies, the SMTP proxy delivered %d", id, n, len(runs))
		}
		if n < 2 {
			continue
		}
		slices.Sort(runs)
		for i := 0; i+1 < len(runs); i++ {
			if runs[i] < 0 || runs[i] == runs[i+1] || !procs[runs[i]].killed.Load() {
				unexplained[id] = true
				s.problem("message %s delivered again without a kill in between (runs %v)", id, runs[:min(len(runs), 10)])
				break
			}
		}
	}
	return unexplained
}

func uniq(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// raceReports returns the daemon logs that report a data race.
func (w *world) raceReports() []string {
	var bad []string
	files, _ := filepath.Glob(filepath.Join(w.dir, "run-*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("WARNING: DATA RACE")) {
			bad = append(bad, f)
		}
	}
	return bad
}
