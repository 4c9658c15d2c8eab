package daemon_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/sla"
	"supportd/store"
)

// fastSLA makes every deadline due seconds after receipt (§10: sla durations
// accept any positive duration), with the warning warn before it.
func fastSLA(due, warn time.Duration) func(*daemon.Engine) {
	return func(e *daemon.Engine) {
		c, err := config.Default().SLAConfig()
		if err != nil {
			panic(err)
		}
		c.InHours, c.OutOfHours, c.OutOfHoursTarget = due, due, due/2
		cal, err := sla.New(c)
		if err != nil {
			panic(err)
		}
		e.Calendar, e.WarnBefore = cal, warn
	}
}

// realClock runs the daemon on the real clock: the SLA tests deliver at the
// real time (the harness's clock starts at the test mail's fixed date).
func realClock(c *daemon.Config) { c.Now = time.Now }

var (
	warnSubject   = regexp.MustCompile(`^\[(CS-M\d{5})\] SLA warning: response due \d{4}-\d\d-\d\d \d\d:\d\d`)
	breachSubject = regexp.MustCompile(`^\[(CS-M\d{5})\] SLA breached: response was due \d{4}-\d\d-\d\d \d\d:\d\d`)
)

// slaNotices counts the warnings and breaches of ticket at the queue.
func slaNotices(t *testing.T, e *env, ticket string) (warnings, breaches int) {
	t.Helper()
	for _, m := range e.mailpit.Messages(t) {
		if !addressedTo(m, queue) {
			continue
		}
		if s := warnSubject.FindStringSubmatch(m.Subject); s != nil && s[1] == ticket {
			warnings++
		}
		if s := breachSubject.FindStringSubmatch(m.Subject); s != nil && s[1] == ticket {
			breaches++
		}
	}
	return warnings, breaches
}

func TestSLAWarningThenBreachOnce(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue, engine: fastSLA(8*time.Second, 4*time.Second), cfg: realClock})
	defer r.stop(t)
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Login broken", "c1@acme.test", "Login broken. Build Number: 9653\n")
	uid := uint32(1)

	waitFor(t, 20*time.Second, "the SLA warning", func() bool { w, _ := slaNotices(t, e, ticket); return w > 0 })
	if _, b := slaNotices(t, e, ticket); b != 0 {
		t.Fatal("breach before the deadline")
	}
	waitFor(t, 20*time.Second, "the SLA breach", func() bool { _, b := slaNotices(t, e, ticket); return b > 0 })
	waitFor(t, 15*time.Second, "the Overdue keyword", func() bool {
		return slices.Contains(e.dovecot.Keywords(t, "INBOX", uid), daemon.OverdueKeyword)
	})
	time.Sleep(3 * time.Second)
	if w, b := slaNotices(t, e, ticket); w != 1 || b != 1 {
		t.Errorf("warnings %d breaches %d, want exactly one of each", w, b)
	}
	tk := r.ticket(t, ticket)
	if tk.Breaches != 1 || !tk.Breached || tk.State != store.StateOpen {
		t.Errorf("ticket after the breach: %+v", tk)
	}
	// A late response records no second breach and no "met".
	if tk.FirstResponseMet {
		t.Error("first response met before any response")
	}
}

func TestSLAResponseBeforeWarningCancelsBoth(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue, engine: fastSLA(12*time.Second, 5*time.Second), cfg: realClock})
	defer r.stop(t)
	ticket, copy := openTicket(t, e, "Alice <alice@acme.test>", "Export fails", "c1@acme.test", "Export fails. Build Number: 9653\n")
	signed := strings.Trim(copy.Header("Reply-To"), "<> ")
	e.deliverNow(staffReply(engineer, signed, copy, "s1@staff.vendor.test", "Fixed in the next build; restart the service meanwhile."))
	waitFor(t, 10*time.Second, "the response", func() bool { return !r.ticket(t, ticket).FirstResponseAt.IsZero() })
	time.Sleep(14 * time.Second) // past the warning and the deadline
	if w, b := slaNotices(t, e, ticket); w != 0 || b != 0 {
		t.Errorf("warnings %d breaches %d after a response before the warning time", w, b)
	}
	tk := r.ticket(t, ticket)
	if !tk.FirstResponseMet || tk.Breaches != 0 || tk.State != store.StateAnswered || !tk.ResponseDue.IsZero() {
		t.Errorf("ticket: met %v breaches %d state %s response_due %v", tk.FirstResponseMet, tk.Breaches, tk.State, tk.ResponseDue)
	}
}

// The schedule lives in the store: a daemon stopped after the warning and
// down across the deadline sends the breach when it comes back, once, and no
// second warning.
func TestSLABreachAfterRestartAcrossDeadline(t *testing.T) {
	e := newEnv(t)
	opts := runOpts{idle: true, staffQueue: queue, engine: fastSLA(10*time.Second, 6*time.Second), cfg: realClock}
	r := e.start(opts)
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Sync stuck", "c1@acme.test", "Sync stuck. Build Number: 9653\n")
	waitFor(t, 20*time.Second, "the SLA warning", func() bool { w, _ := slaNotices(t, e, ticket); return w > 0 })
	r.stop(t)
	time.Sleep(8 * time.Second) // the deadline passes while supportd is down
	if _, b := slaNotices(t, e, ticket); b != 0 {
		t.Fatal("breach sent by a stopped daemon")
	}
	r = e.start(opts)
	defer r.stop(t)
	waitFor(t, 20*time.Second, "the breach after the restart", func() bool { _, b := slaNotices(t, e, ticket); return b > 0 })
	time.Sleep(3 * time.Second)
	if w, b := slaNotices(t, e, ticket); w != 1 || b != 1 {
		t.Errorf("warnings %d breaches %d, want one each across the restart", w, b)
	}
}

// A daemon down across both the warning and the deadline sends only the
// breach: a warning for a deadline already missed is noise.
func TestSLANoStaleWarning(t *testing.T) {
	e := newEnv(t)
	opts := runOpts{idle: true, staffQueue: queue, engine: fastSLA(8*time.Second, 4*time.Second), cfg: realClock}
	r := e.start(opts)
	ticket, _ := openTicket(t, e, "Alice <alice@acme.test>", "Reports empty", "c1@acme.test", "Reports empty. Build Number: 9653\n")
	r.stop(t)
	time.Sleep(10 * time.Second)
	r = e.start(opts)
	defer r.stop(t)
	waitFor(t, 20*time.Second, "the breach", func() bool { _, b := slaNotices(t, e, ticket); return b > 0 })
	time.Sleep(2 * time.Second)
	if w, b := slaNotices(t, e, ticket); w != 0 || b != 1 {
		t.Errorf("warnings %d breaches %d, want only the breach", w, b)
	}
}

// Trial, free and unknown tickets have no deadline and raise nothing.
func TestSLANoneForNonActive(t *testing.T) {
	e := newEnv(t)
	r := e.start(runOpts{idle: true, staffQueue: queue, engine: fastSLA(4*time.Second, 2*time.Second), cfg: realClock})
	defer r.stop(t)
	var tickets []string
	for i, from := range []string{"Pete <peter@initech.test>", "Ada <ada@umbrella.test>", "Sam <sam@newcorp.test>"} {
		id, _ := openTicket(t, e, from, "Question "+string(rune('A'+i)), "q"+string(rune('a'+i))+"@x.test", "Build Number: 9653\n")
		tickets = append(tickets, id)
	}
	time.Sleep(6 * time.Second)
	for _, id := range tickets {
		if w, b := slaNotices(t, e, id); w+b != 0 {
			t.Errorf("%s: %d warnings %d breaches for a ticket without SLA", id, w, b)
		}
		if tk := r.ticket(t, id); !tk.ResponseDue.IsZero() || !tk.Deadline.IsZero() {
			t.Errorf("%s (%s) has a deadline", id, tk.Status)
		}
	}
}
