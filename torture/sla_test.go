package torture

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/harness"
	"supportd/store"
)

// SLA notices against the real binary (issue 9): warnings and breaches are
// scheduled from the store and sent through the outbox, so each goes out
// exactly once also when `supportd run` is SIGKILLed between the warning and
// the breach, or is down across the deadline. The SLA runs in seconds
// (sla.* accepts any positive duration) on the real clock: the messages are
// dated now.

// slaQueue receives the staff copies and, as the default escalation
// address, the SLA notices.
const slaQueue = "staff-queue@vendor.test"

// slaWorld is a world whose SLA makes every response due after due, with the
// warning warn before it.
func slaWorld(t *testing.T, due, warn time.Duration) *world {
	t.Helper()
	return newWorld(t, worldOpts{batchSize: 5, staffQueue: slaQueue, extraConfig: fmt.Sprintf(
		"sla:\n  in_hours: %s\n  out_of_hours: %s\n  out_of_hours_target: %s\n  warn_before: %s\n", due, due, due/2, warn)})
}

// slaMsg is a customer message opening a ticket, received (INTERNALDATE) at.
type slaMsg struct {
	from string
	uid  uint32
	at   time.Time
}

// deliverNow appends a new problem report from an Acme contact (an active
// customer: the SLA applies) to INBOX, received now.
func (w *world) deliverNow(n int) slaMsg {
	w.t.Helper()
	return w.deliverAt(n, time.Now())
}

// deliverAt appends message n with INTERNALDATE at (whole seconds).
func (w *world) deliverAt(n int, at time.Time) slaMsg {
	w.t.Helper()
	m := slaMsg{from: fmt.Sprintf("user%d@acme.test", n), at: at.Truncate(time.Second)}
	raw := fmt.Sprintf("From: User %d <%s>\r\nTo: support@vendor.test\r\nSubject: SLA problem %d\r\nDate: %s\r\nMessage-ID: <sla-%d-%d@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBuild Number: 9653\r\nThe export fails for every user.\r\n",
		n, m.from, n, m.at.Format(time.RFC1123Z), n, m.at.UnixNano())
	m.uid = w.dovecot.AppendAt(w.t, "INBOX", []byte(raw), m.at)
	return m
}

var (
	ticketInSubject = regexp.MustCompile(`^\[(CS-M\d{5})\] `)
	slaSubject      = regexp.MustCompile(`^\[(CS-M\d{5})\] SLA (warning|breached): `)
)

// ticketOf is the ticket of the customer from, read from the subject of the
// acknowledgement Mailpit holds for it ("" before it is there).
func (w *world) ticketOf(from string) string {
	for _, m := range w.mailpit.Messages(w.t) {
		for _, to := range m.To {
			if strings.EqualFold(to.Address, from) {
				if s := ticketInSubject.FindStringSubmatch(m.Subject); s != nil {
					return s[1]
				}
			}
		}
	}
	return ""
}

// slaNotice is one SLA notice at Mailpit.
type slaNotice struct {
	kind, subject, messageID string
}

// slaNotices returns the SLA notices Mailpit holds for each ticket, every
// copy; notices to anyone but the escalation address are a problem.
func (w *world) slaNotices(t *testing.T) map[string][]slaNotice {
	t.Helper()
	out := map[string][]slaNotice{}
	for _, m := range w.mailpit.Messages(t) {
		s := slaSubject.FindStringSubmatch(m.Subject)
		if s == nil {
			continue
		}
		if len(m.To) != 1 || m.To[0].Address != slaQueue {
			t.Errorf("SLA notice %q addressed to %v, want %s", m.Subject, m.To, slaQueue)
		}
		out[s[1]] = append(out[s[1]], slaNotice{kind: s[2], subject: m.Subject, messageID: m.MessageID})
	}
	return out
}

// count is how many distinct notices of kind a ticket has (copies of one
// Message-ID count once).
func count(ns []slaNotice, kind string) int {
	ids := map[string]bool{}
	for _, n := range ns {
		if n.kind == kind {
			ids[n.messageID] = true
		}
	}
	return len(ids)
}

// sleepUntil sleeps until at.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// wantSLA is what a ticket must have had in the end.
type wantSLA struct {
	msg     slaMsg
	warning bool // a warning (else the daemon was down across the warning time: none)
}

// checkSLA compares Mailpit, the store and Dovecot with want, the daemon
// stopped: the ticket's response was due exactly due after receipt; the
// notices are exactly one breach and (when wanted) one warning, with the
// exact subjects; a second copy of one is only the RFC 1047 window (same
// Message-ID, the delivering run SIGKILLed before recording it sent); the
// ticket counts one breach; its message carries Overdue in Dovecot. It
// returns how many such second copies Mailpit holds.
func (w *world) checkSLA(t *testing.T, due time.Duration, want []wantSLA) (rfc1047 int) {
	t.Helper()
	notices := w.slaNotices(t)
	copies := map[string]int{}
	for _, ns := range notices {
		for _, n := range ns {
			copies[n.messageID]++
			if copies[n.messageID] > 1 {
				rfc1047++
			}
		}
	}
	var s summary
	w.unexplainedCopies(copies, &s)
	for _, p := range s.problems {
		t.Error(p)
	}
	adelaide, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		t.Fatal(err)
	}
	uv := w.dovecot.UIDValidity(t, "INBOX")
	flags := w.dovecot.FetchFlags(t, "INBOX")
	w.viewStore(t, func(tx *store.Tx) {
		for _, c := range want {
			e, err := tx.SeenUID("INBOX", uv, c.msg.uid)
			if err != nil || e == nil || e.Ticket == "" {
				t.Errorf("message from %s (uid %d): no ledger entry with a ticket (%v)", c.msg.from, c.msg.uid, err)
				continue
			}
			tk, err := tx.Ticket(e.Ticket)
			if err != nil || tk == nil {
				t.Errorf("ticket %s: %v", e.Ticket, err)
				continue
			}
			if wantDue := c.msg.at.Add(due); !tk.ResponseDue.Equal(wantDue) {
				t.Errorf("%s: response_due %v, want %v (received %v + %v)", tk.ID, tk.ResponseDue, wantDue, c.msg.at, due)
			}
			when := tk.ResponseDue.In(adelaide).Format("2006-01-02 15:04 MST (-07:00)")
			want := []string{fmt.Sprintf("[%s] SLA breached: response was due %s", tk.ID, when)}
			if c.warning {
				want = append(want, fmt.Sprintf("[%s] SLA warning: response due %s", tk.ID, when))
			}
			var got []string
			for _, n := range notices[tk.ID] {
				got = append(got, n.subject)
			}
			got = uniq(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: SLA notices (distinct subjects) %q, want exactly %q", tk.ID, got, want)
			}
			if w, b := count(notices[tk.ID], "warning"), count(notices[tk.ID], "breached"); b != 1 || (w == 1) != c.warning || w > 1 {
				t.Errorf("%s: %d warnings and %d breaches (distinct Message-IDs), want %v warning and 1 breach", tk.ID, w, b, c.warning)
			}
			if tk.Breaches != 1 || !tk.Breached || tk.State != store.StateOpen {
				t.Errorf("%s: state %s breached %v breaches %d, want open, breached once", tk.ID, tk.State, tk.Breached, tk.Breaches)
			}
			if !slices.Contains(flags[c.msg.uid], daemon.OverdueKeyword) {
				t.Errorf("%s: uid %d has keywords %v, no %s", tk.ID, c.msg.uid, flags[c.msg.uid], daemon.OverdueKeyword)
			}
		}
	})
	return rfc1047
}

// The acceptance test on the real binary: the warning goes out, the
// daemon is SIGKILLed and restarted at once, the breach goes out once (and no
// second warning). Then a second ticket: its warning, a SIGKILL, a third
// ticket arriving while the daemon is down, and the daemon kept down across
// both deadlines: on restart both breaches go out, the second ticket has its
// one warning and the third none (a warning for a deadline already missed
// would be stale).
func TestSLAKillBetweenWarningAndBreach(t *testing.T) {
	const due, warn = 6 * time.Second, 3 * time.Second
	w := slaWorld(t, due, warn)
	p := w.start()

	a := w.deliverNow(1)
	var ta string
	harness.WaitFor(t, 10*time.Second, "acknowledgement of the first ticket", func() bool { ta = w.ticketOf(a.from); return ta != "" })
	harness.WaitFor(t, due+5*time.Second, "SLA warning of "+ta, func() bool { return count(w.slaNotices(t)[ta], "warning") > 0 })
	p.kill()
	if time.Now().After(a.at.Add(due)) {
		t.Fatalf("the warning of %s was seen after its deadline: the kill is not between warning and breach", ta)
	}
	if b := count(w.slaNotices(t)[ta], "breached"); b != 0 {
		t.Fatalf("%s: breach before its deadline", ta)
	}
	p = w.start()
	harness.WaitFor(t, due+10*time.Second, "SLA breach of "+ta+" after the restart", func() bool { return count(w.slaNotices(t)[ta], "breached") > 0 })

	b := w.deliverNow(2)
	var tb string
	harness.WaitFor(t, 10*time.Second, "acknowledgement of the second ticket", func() bool { tb = w.ticketOf(b.from); return tb != "" })
	harness.WaitFor(t, due+5*time.Second, "SLA warning of "+tb, func() bool { return count(w.slaNotices(t)[tb], "warning") > 0 })
	p.kill()
	c := w.deliverNow(3) // arrives while supportd is down
	sleepUntil(c.at.Add(due + time.Second))
	if got := w.slaNotices(t); count(got[tb], "breached") != 0 {
		t.Fatalf("%s: breach sent while supportd was down", tb)
	}
	p = w.start()
	var tc string
	harness.WaitFor(t, 15*time.Second, "acknowledgement of the third ticket", func() bool { tc = w.ticketOf(c.from); return tc != "" })
	harness.WaitFor(t, 15*time.Second, "SLA breaches after the restart", func() bool {
		got := w.slaNotices(t)
		return count(got[tb], "breached") > 0 && count(got[tc], "breached") > 0
	})
	time.Sleep(2 * time.Second) // a wrong extra notice or a late Overdue mark would show now
	p.term(t, 30*time.Second)
	w.checkSLA(t, due, []wantSLA{{a, true}, {b, true}, {c, false}})
}

// Kill modes of TestSLAKillTorture besides the proxy points.
const (
	// killTimer: SIGKILL at a random moment within 300 ms of a warning or
	// breach time.
	killTimer = "timer-around-due"
	// killQueued: SIGKILL as soon as the daemon logs an SLA notice: the
	// notice is committed to the ticket and the outbox, not yet sent (SMTP
	// DATA is slowed down to keep it in flight).
	killQueued = "after-queued"
)

// SIGKILLs at random points around the warning and breach moments of several
// tickets — on a timer near each moment, right after a notice is queued,
// during its SMTP DATA, right after the server's 250 before "sent" is
// committed — each followed by an immediate restart; then a clean run. Every
// ticket has exactly one warning and one breach (distinct Message-IDs, exact
// subjects), a second copy only from the RFC 1047 window, and Overdue set.
// TORTURE_SEED=n repeats a run.
func TestSLAKillTorture(t *testing.T) {
	seed := tortureSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x51a))
	// Four tickets received 6, 4, 2 and 0 s ago: a warning or a breach
	// falls due every 2 s from 2 s to 16 s from now.
	const due, warn, tickets, spacing = 16 * time.Second, 8 * time.Second, 4, 2 * time.Second
	w := slaWorld(t, due, warn)
	w.slow.Store(int64(150 * time.Millisecond))
	p := w.start()
	var msgs []slaMsg
	var moments []time.Time // every warning and breach time
	base := time.Now().Truncate(time.Second)
	for i := range tickets {
		m := w.deliverAt(10+i, base.Add(-time.Duration(tickets-1-i)*spacing))
		msgs = append(msgs, m)
		moments = append(moments, m.at.Add(due-warn), m.at.Add(due))
	}
	slices.SortFunc(moments, func(a, b time.Time) int { return a.Compare(b) })
	end := moments[len(moments)-1].Add(time.Second)
	// The kills start once every ticket is open (intake under a rain of
	// kills is TestCrashTorture's subject): a warning is owed for each.
	harness.WaitFor(t, 15*time.Second, "the acknowledgements", func() bool {
		for _, m := range msgs {
			if w.ticketOf(m.from) == "" {
				return false
			}
		}
		return true
	})
	if first := msgs[0].at.Add(due); time.Now().After(first) {
		t.Fatalf("the tickets were opened after the first deadline (%v): no warning is owed", first)
	}

	modes := []string{killQueued, pointDataEnd, pointAfter250, killTimer}
	hits := map[string]int{}
	kills := 0
	// The modes in a new random order every round of four, so each is tried
	// two or three times while notices fall due (one every 1.5 s).
	var order []int
	for i := 0; time.Now().Before(end); i++ {
		if i%len(modes) == 0 {
			order = rng.Perm(len(modes))
		}
		mode := modes[order[i%len(modes)]]
		switch mode {
		case killTimer:
			next := time.Time{}
			for _, m := range moments {
				if time.Until(m) > 300*time.Millisecond {
					next = m
					break
				}
			}
			if next.IsZero() {
				next = time.Now().Add(300 * time.Millisecond)
			}
			sleepUntil(next.Add(time.Duration(rng.IntN(601)-300) * time.Millisecond))
			hits[mode]++
		case killQueued:
			if waitLog(p, `"msg":"SLA `, 4*time.Second) {
				hits[mode]++
			}
		default:
			w.trig.arm(mode, 0, p.killNow)
			select {
			case <-p.done:
			case <-time.After(3 * time.Second):
			}
			w.trig.disarm()
		}
		p.kill()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("supportd run ended on its own (%v) instead of by SIGKILL; log %s", p.err, p.log)
		}
		kills++
		p = w.start()
	}
	hits[pointDataEnd], hits[pointAfter250] = w.trig.fired(pointDataEnd), w.trig.fired(pointAfter250)
	w.slow.Store(0)
	missing := func() []string {
		var out []string
		got := w.slaNotices(t)
		for _, m := range msgs {
			id := w.ticketOf(m.from)
			if count(got[id], "warning") == 0 {
				out = append(out, id+" warning")
			}
			if count(got[id], "breached") == 0 {
				out = append(out, id+" breach")
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("missing after the kills: %v", m)
	}
	time.Sleep(2 * time.Second) // a wrong extra notice or a late Overdue mark would show now
	p.term(t, 30*time.Second)
	var want []wantSLA
	for _, m := range msgs {
		want = append(want, wantSLA{m, true})
	}
	rfc1047 := w.checkSLA(t, due, want)
	perConn, perRun := w.resentMax()
	line := fmt.Sprintf("SLA TORTURE seed=%d tickets=%d kills=%d kills_by_mode=%v rfc1047_copies=%d max_resends_one_conn=%d max_resends_one_kill=%d",
		seed, tickets, kills, hits, rfc1047, perConn, perRun)
	t.Log(line)
	fmt.Println(line)
	if perConn > 1 {
		t.Errorf("one SMTP connection had %d notices resent after a kill, want at most 1 (the RFC 1047 window)", perConn)
	}
	for _, m := range modes {
		if hits[m] == 0 {
			t.Errorf("no kill landed at %s", m)
		}
	}
	for _, f := range w.raceReports() {
		t.Errorf("the daemon reported a data race in %s", f)
	}
}

// waitLog waits until p's log holds substr; false when p exits or timeout
// passes first.
func waitLog(p *daemonProc, substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && !p.exited() {
		if b, err := os.ReadFile(p.log); err == nil && bytes.Contains(b, []byte(substr)) {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}
