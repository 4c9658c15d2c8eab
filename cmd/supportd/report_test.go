package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/entitlement"
	"supportd/internal/config"
	"supportd/sla"
	"supportd/store"
)

// slaHistory scripts tickets the way the daemon keeps them: deadlines from
// the policy's calendar (sla.Calendar.Compute, elapsed clock), a first
// response met when it comes by the first deadline, a breach when a response
// due passes (the SLA loop) or a response comes late.
type slaHistory struct {
	t       *testing.T
	cal     *sla.Calendar
	tickets []*store.Ticket
}

// local parses an Australia/Adelaide wall-clock time "2006-01-02 15:04".
func (h *slaHistory) local(s string) time.Time {
	h.t.Helper()
	at, err := time.ParseInLocation("2006-01-02 15:04", s, h.cal.Location())
	if err != nil {
		h.t.Fatal(err)
	}
	return at
}

// open is a new ticket of status received at local time s; active tickets
// get the §5 deadline.
func (h *slaHistory) open(status entitlement.Status, s string) *store.Ticket {
	at := h.local(s)
	tk := &store.Ticket{ID: fmt.Sprintf("CS-M%05d", len(h.tickets)+1), Status: status, Priority: 3, State: store.StateOpen,
		Subject: "ticket " + s, From: "customer@example.test", Created: at, Updated: at}
	if status == entitlement.Active {
		tk.Deadline = h.cal.Compute(at).Deadline
		tk.ResponseDue = tk.Deadline
	}
	h.tickets = append(h.tickets, tk)
	return tk
}

// respond is a staff response at local time s (daemon's respond rule).
func (h *slaHistory) respond(tk *store.Ticket, s string) {
	at := h.local(s)
	if tk.FirstResponseAt.IsZero() {
		tk.FirstResponseAt = at
		tk.FirstResponseMet = !tk.Deadline.IsZero() && !at.After(tk.Deadline)
	}
	if !tk.ResponseDue.IsZero() && at.After(tk.ResponseDue) && !tk.Breached {
		tk.Breaches++
	}
	tk.State, tk.ResponseDue, tk.Breached = store.StateAnswered, time.Time{}, false
}

// breach is the SLA loop's breach notice once the response due has passed.
func (h *slaHistory) breach(tk *store.Ticket) {
	if tk.ResponseDue.IsZero() {
		h.t.Fatalf("%s: breach without a response due", tk.ID)
	}
	tk.Breached, tk.Warned = true, true
	tk.Breaches++
}

// customerAgain is a customer message at at on an answered ticket: open
// again, the next response due by §5 from that message.
func (h *slaHistory) customerAgain(tk *store.Ticket, at time.Time) {
	tk.State, tk.Breached, tk.Warned = store.StateOpen, false, false
	tk.ResponseDue = h.cal.Compute(at).Deadline
}

func (h *slaHistory) close(tk *store.Ticket, s string) {
	tk.State, tk.ClosedAt, tk.ResponseDue = store.StateClosed, h.local(s), time.Time{}
}

// scriptedSLAHistory is 25 tickets, 23 of them created from 2026-03-01 to
// 2026-10-31 (Adelaide), spanning support hours (Mon–Fri 06:00–18:00), out
// of hours, South Australian public holidays (Adelaide Cup Day 9 March, Good
// Friday 3 April, King's Birthday 8 June, Labour Day 5 October) and both
// daylight-saving changes (DST ends Sunday 5 April 03:00 ACDT -> 02:00 ACST,
// starts Sunday 4 October 02:00 ACST -> 03:00 ACDT). It returns the ids of
// the tickets overdue now.
func scriptedSLAHistory(t *testing.T) (*slaHistory, []string) {
	sc, err := config.Default().SLAConfig() // the policy as shipped: Adelaide, Mon–Fri 06–18, SA holidays, 2 h / 24 h
	if err != nil {
		t.Fatal(err)
	}
	cal, err := sla.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	h := &slaHistory{t: t, cal: cal}
	A, T, F, L, U := entitlement.Active, entitlement.Trial, entitlement.Free, entitlement.Lapsed, entitlement.Unknown
	var overdue []string

	// X1 (out of range, the day before --from): Saturday 23:59 out of hours,
	// never answered, breached, open and overdue now: in `tickets list
	// --overdue` but in no row of the report.
	x1 := h.open(A, "2026-02-28 23:59")
	h.breach(x1)
	overdue = append(overdue, x1.ID)
	// A1: Thursday 10:00 in hours, due 12:00; answered 11:00 (3600 s): met.
	h.respond(h.open(A, "2026-03-05 10:00"), "2026-03-05 11:00")
	// A2: Thursday 14:00 in hours, due 16:00; breach notice at 16:00, answered
	// 17:30 (12600 s): not met, breached once.
	a2 := h.open(A, "2026-03-05 14:00")
	h.breach(a2)
	h.respond(a2, "2026-03-05 17:30")
	// A3: Saturday 10:00 out of hours, due Sunday 10:00; answered 20:00
	// (36000 s): met.
	h.respond(h.open(A, "2026-03-07 10:00"), "2026-03-07 20:00")
	// A4: Sunday 22:00 out of hours, due Monday 22:00 (Adelaide Cup Day);
	// answered Tuesday 06:30 (117000 s) with no breach notice before: late, so
	// the response counts the breach: not met, breached.
	h.respond(h.open(A, "2026-03-08 22:00"), "2026-03-10 06:30")
	// A5: Monday 10:00 on Adelaide Cup Day: out of hours (24 h, not 2 h), due
	// Tuesday 10:00; answered Tuesday 07:00 (75600 s): met.
	h.respond(h.open(A, "2026-03-09 10:00"), "2026-03-10 07:00")
	// T1: trial, Tuesday 10:00, answered 12:00 (7200 s): no deadline, never met.
	h.respond(h.open(T, "2026-03-10 10:00"), "2026-03-10 12:00")
	// A6: Thursday 20:00 ACDT out of hours, due Good Friday 20:00; answered
	// Good Friday 19:30 (84600 s): met.
	h.respond(h.open(A, "2026-04-02 20:00"), "2026-04-03 19:30")
	// A7: Easter Saturday 12:00 ACDT, due 24 h later across the end of DST:
	// Sunday 11:00 ACST; answered 11:30 ACST, 24.5 h = 88200 s after (the wall
	// clock says 23.5 h): not met, breached.
	h.respond(h.open(A, "2026-04-04 12:00"), "2026-04-05 11:30")
	// F1: free, Wednesday 09:00, closed without a response.
	f1 := h.open(F, "2026-05-13 09:00")
	h.close(f1, "2026-05-14 09:00")
	// T2: trial on King's Birthday, open, no response: no deadline, not overdue.
	h.open(T, "2026-06-08 10:00")
	// L1: lapsed, Wednesday 10:00; the lapsed notice is its answer (no staff
	// response): answered, not responded.
	l1 := h.open(L, "2026-07-01 10:00")
	l1.State = store.StateAnswered
	// L2: lapsed, Thursday 10:00, staff answered Friday 10:00 (86400 s).
	h.respond(h.open(L, "2026-07-02 10:00"), "2026-07-03 10:00")
	// U1: unknown, open, no response, no deadline: not overdue.
	h.open(U, "2026-08-10 11:00")
	// A8: Saturday 12:00 ACST, due 24 h later across the start of DST: Sunday
	// 13:00 ACDT; answered 12:30 ACDT, 23.5 h = 84600 s after (the wall clock
	// says 24.5 h): met.
	h.respond(h.open(A, "2026-10-03 12:00"), "2026-10-04 12:30")
	// T3: trial, Saturday 12:00 ACST, answered Sunday 12:00 ACDT: 23 h =
	// 82800 s.
	h.respond(h.open(T, "2026-10-03 12:00"), "2026-10-04 12:00")
	// U2: unknown, Sunday 01:30 ACST, answered 04:30 ACDT: 2 h = 7200 s.
	h.respond(h.open(U, "2026-10-04 01:30"), "2026-10-04 04:30")
	// A9: Labour Day 09:00: out of hours, due Tuesday 09:00; never answered:
	// breached, open and overdue.
	a9 := h.open(A, "2026-10-05 09:00")
	h.breach(a9)
	overdue = append(overdue, a9.ID)
	// A10: Tuesday 09:00 in hours, due 11:00; never answered: breached, open
	// and overdue.
	a10 := h.open(A, "2026-10-06 09:00")
	h.breach(a10)
	overdue = append(overdue, a10.ID)
	// A11: Wednesday 16:30 in hours, due 18:30; answered 16:45 (900 s): met.
	// The customer wrote again an hour ago: open, the response not yet due.
	a11 := h.open(A, "2026-10-07 16:30")
	h.respond(a11, "2026-10-07 16:45")
	h.customerAgain(a11, time.Now().Add(-time.Hour))
	// A12: Thursday 11:00 in hours, due 13:00; answered 12:59 (7140 s): met.
	// The customer wrote again Friday 10:00, due 12:00, nobody answered:
	// breached, open and overdue; met and breached both count.
	a12 := h.open(A, "2026-10-08 11:00")
	h.respond(a12, "2026-10-08 12:59")
	h.customerAgain(a12, h.local("2026-10-09 10:00"))
	h.breach(a12)
	overdue = append(overdue, a12.ID)
	// A13: Friday 17:00 in hours, closed 17:30 without a response (the
	// customer withdrew it): not responded, not breached.
	a13 := h.open(A, "2026-10-09 17:00")
	h.close(a13, "2026-10-09 17:30")
	// A14: Friday 17:59, the last support minute: in hours, due 19:59;
	// answered 19:59 exactly (7200 s): met (on the deadline is in time).
	h.respond(h.open(A, "2026-10-30 17:59"), "2026-10-30 19:59")
	// A15: Saturday 23:30, the last day of the range: out of hours, due
	// Sunday 23:30; answered Monday 08:00 (117000 s): not met, breached.
	h.respond(h.open(A, "2026-10-31 23:30"), "2026-11-02 08:00")
	// X2 (out of range, the first minute after --to): answered in 600 s.
	h.respond(h.open(A, "2026-11-01 00:00"), "2026-11-01 00:10")

	if len(h.tickets) < 20 {
		t.Fatalf("history of %d tickets", len(h.tickets))
	}
	return h, overdue
}

func f64(v float64) *float64 { return &v }

// The SLA report over the scripted history equals the hand count, row by
// row, with the elapsed clock and (first-response times in support hours)
// the business clock; the range is inclusive in support.timezone.
func TestReportSLAHandCount(t *testing.T) {
	h, _ := scriptedSLAHistory(t)
	env := ticketStore(t, h.tickets...)
	report := func(env []string, args ...string) daemon.SLAReport {
		t.Helper()
		out, stderr, err := cli(t, env, append([]string{"report", "sla", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("report sla %v: %v %s", args, err, stderr)
		}
		var raw []map[string]any
		var rep struct {
			Rows *[]map[string]any `json:"rows"`
		}
		rep.Rows = &raw
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("report sla --json is not JSON: %v\n%s", err, out)
		}
		for _, r := range raw { // the contract's keys, null rather than absent
			for _, k := range []string{"status", "tickets", "responded", "met", "breached", "open_overdue",
				"first_response_p50_seconds", "first_response_p90_seconds"} {
				if _, ok := r[k]; !ok {
					t.Errorf("row %v lacks %q", r["status"], k)
				}
			}
		}
		var got daemon.SLAReport
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	row := func(st string, tickets, responded, met, breached, overdue int, p50, p90 *float64) daemon.SLAReportRow {
		return daemon.SLAReportRow{Status: st, Tickets: tickets, Responded: responded, Met: met, Breached: breached,
			OpenOverdue: overdue, P50Seconds: p50, P90Seconds: p90}
	}
	check := func(name string, got daemon.SLAReport, want daemon.SLAReport) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("%s:\n got  %s\n want %s", name, g, w)
		}
	}
	// Elapsed clock. active: A1–A15 (15); responded all but A9, A10, A13 (12);
	// met A1, A3, A5, A6, A8, A11, A12, A14 (8); breached A2, A4, A7, A9, A10,
	// A12, A15 (7); open and overdue A9, A10, A12 (3). Times sorted: 900,
	// 3600, 7140, 7200, 12600, 36000, 75600, 84600, 84600, 88200, 117000,
	// 117000: p50 is rank ceil(6) = 6 -> 36000, p90 rank ceil(10.8) = 11 ->
	// 117000. trial: T1 7200, T3 82800 (p50 rank 1, p90 rank 2). lapsed: L2
	// only. unknown: U2 only.
	check("elapsed", report(env, "--from", "2026-03-01", "--to", "2026-10-31"), daemon.SLAReport{From: "2026-03-01", To: "2026-10-31",
		Rows: []daemon.SLAReportRow{
			row("active", 15, 12, 8, 7, 3, f64(36000), f64(117000)),
			row("trial", 3, 2, 0, 0, 0, f64(7200), f64(82800)),
			row("free", 1, 0, 0, 0, 0, nil, nil),
			row("lapsed", 2, 1, 0, 0, 0, f64(86400), f64(86400)),
			row("unknown", 2, 1, 0, 0, 0, f64(7200), f64(7200)),
		}})
	// Business clock: only support hours count. active: A1 3600, A2 12600, A3
	// 0 (weekend), A4 1800 (Monday a holiday, Tuesday 06:00–06:30), A5 3600
	// (Tuesday 06:00–07:00), A6 0 (Good Friday), A7 0, A8 0 (weekend), A11
	// 900, A12 7140, A14 60 (17:59–18:00), A15 7200 (Monday 06:00–08:00).
	// Sorted 0, 0, 0, 0, 60, 900, 1800, 3600, 3600, 7140, 7200, 12600: p50
	// rank 6 -> 900, p90 rank 11 -> 7200. trial: T1 7200, T3 0. lapsed: L2
	// Thursday 10:00–18:00 + Friday 06:00–10:00 = 43200. unknown: U2 0
	// (Sunday).
	business := append(slices.Clone(env), "SUPPORTD_SLA_CLOCK=business")
	check("business", report(business, "--from", "2026-03-01", "--to", "2026-10-31"), daemon.SLAReport{From: "2026-03-01", To: "2026-10-31",
		Rows: []daemon.SLAReportRow{
			row("active", 15, 12, 8, 7, 3, f64(900), f64(7200)),
			row("trial", 3, 2, 0, 0, 0, f64(0), f64(7200)),
			row("free", 1, 0, 0, 0, 0, nil, nil),
			row("lapsed", 2, 1, 0, 0, 0, f64(43200), f64(43200)),
			row("unknown", 2, 1, 0, 0, 0, f64(0), f64(0)),
		}})
	// No range: from the oldest ticket's date, X1 and X2 included (active
	// 17, responded 13 with X2's 600 s, met 9, breached 8, overdue 4; sorted
	// times gain 600 at the front: rank 7 -> 36000, rank ceil(11.7) = 12 ->
	// 117000).
	all := report(env, "--to", "2026-11-30")
	check("all", daemon.SLAReport{From: all.From, To: all.To, Rows: all.Rows[:1]}, daemon.SLAReport{From: "2026-02-28", To: "2026-11-30",
		Rows: []daemon.SLAReportRow{row("active", 17, 13, 9, 8, 4, f64(36000), f64(117000))}})
	// One day: Labour Day 2026-10-05 holds A9 only.
	day := report(env, "--from", "2026-10-05", "--to", "2026-10-05")
	check("one day", daemon.SLAReport{From: day.From, To: day.To, Rows: day.Rows[:1]}, daemon.SLAReport{From: "2026-10-05", To: "2026-10-05",
		Rows: []daemon.SLAReportRow{row("active", 1, 0, 0, 1, 1, nil, nil)}})

	if _, _, err := cli(t, env, "report", "sla", "--from", "2026-10-05", "--to", "2026-10-04"); err == nil {
		t.Error("report sla with --to before --from succeeded")
	}
	if _, _, err := cli(t, env, "report", "sla", "--from", "5/10/2026"); err == nil {
		t.Error("report sla --from 5/10/2026 succeeded")
	}
	out, _, err := cli(t, env, "report", "sla", "--from", "2026-03-01", "--to", "2026-10-31")
	if err != nil || !regexp.MustCompile(`(?m)^\s*active\s+15\s+12\s+8\s+7\s+3\s+10h0m0s\s+32h30m0s\s*$`).MatchString(out) {
		t.Errorf("report sla table: %v\n%s", err, out)
	}
}

// `tickets list --overdue` lists exactly the open tickets past their
// response due in the scripted history, whatever their creation date.
func TestTicketsListOverdueScripted(t *testing.T) {
	h, overdue := scriptedSLAHistory(t)
	env := ticketStore(t, h.tickets...)
	out, stderr, err := cli(t, env, "tickets", "list", "--overdue", "--json")
	if err != nil {
		t.Fatalf("tickets list --overdue: %v %s", err, stderr)
	}
	var vs []store.TicketView
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.ID)
		if !v.Overdue || v.State != store.StateOpen {
			t.Errorf("%s listed as overdue: state %s overdue %v", v.ID, v.State, v.Overdue)
		}
	}
	if !slices.Equal(got, overdue) {
		t.Errorf("tickets list --overdue = %v, want %v", got, overdue)
	}
}
