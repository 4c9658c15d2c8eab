package daemon

import (
	"slices"
	"time"

	"supportd/entitlement"
	"supportd/sla"
	"supportd/store"
)

// ReportStatuses are the rows of the SLA report, in order: every status has
// a row, with zeros when it had no tickets.
var ReportStatuses = []entitlement.Status{entitlement.Active, entitlement.Trial, entitlement.Free, entitlement.Lapsed, entitlement.Unknown}

// SLAReport is `supportd report sla --json` (docs/design.md §10; field names are a
// contract): the tickets created from From to To (dates in
// support.timezone, both inclusive), one row per status.
type SLAReport struct {
	From string         `json:"from"`
	To   string         `json:"to"`
	Rows []SLAReportRow `json:"rows"`
}

// SLAReportRow counts one status's tickets of the report's range: Tickets
// created; Responded, those with a first response; Met, those whose first
// response came by their first deadline (first_response_due); Breached,
// those with at least one breach; OpenOverdue, those open now and past their
// response_due. The first-response percentiles are nearest-rank (the
// smallest time at least p% of the responded tickets' times are at or below:
// rank ceil(p/100·n) of the n times sorted), in seconds, null when no ticket
// was responded to. With sla.clock business a first-response time counts
// support hours only (sla.Calendar.BusinessBetween), otherwise elapsed time.
type SLAReportRow struct {
	Status      string   `json:"status"`
	Tickets     int      `json:"tickets"`
	Responded   int      `json:"responded"`
	Met         int      `json:"met"`
	Breached    int      `json:"breached"`
	OpenOverdue int      `json:"open_overdue"`
	P50Seconds  *float64 `json:"first_response_p50_seconds"`
	P90Seconds  *float64 `json:"first_response_p90_seconds"`
}

// SLAReporter accumulates the SLA report over tickets, one at a time, so a
// large store is read without holding every ticket.
type SLAReporter struct {
	cal      *sla.Calendar
	business bool
	loc      *time.Location
	now      time.Time
	from, to time.Time // [from, to) as instants; from zero: no lower bound
	toDate   string
	first    time.Time // earliest creation counted (for an open --from)
	rows     map[entitlement.Status]*SLAReportRow
	times    map[entitlement.Status][]time.Duration
}

// NewSLAReporter reports the tickets created on the dates from through to
// (inclusive, in cal's location) as they stand at now. A zero from has no
// lower bound: the report's from is then the date of the earliest ticket.
func NewSLAReporter(cal *sla.Calendar, from, to, now time.Time) *SLAReporter {
	loc := cal.Location()
	r := &SLAReporter{cal: cal, business: cal.Config().Clock == sla.Business, loc: loc, now: now,
		rows: map[entitlement.Status]*SLAReportRow{}, times: map[entitlement.Status][]time.Duration{}}
	if !from.IsZero() {
		y, m, d := from.Date()
		r.from = time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
	y, m, d := to.Date()
	r.to = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	r.toDate = time.Date(y, m, d, 12, 0, 0, 0, loc).Format(time.DateOnly)
	for _, st := range ReportStatuses {
		r.rows[st] = &SLAReportRow{Status: string(st)}
	}
	return r
}

// Add counts t if it was created in the report's range.
func (r *SLAReporter) Add(t *store.Ticket) {
	if t.Created.Before(r.from) || !t.Created.Before(r.to) {
		return
	}
	if r.first.IsZero() || t.Created.Before(r.first) {
		r.first = t.Created
	}
	st := t.Status
	row, ok := r.rows[st]
	if !ok {
		st = entitlement.Unknown
		row = r.rows[st]
	}
	row.Tickets++
	if !t.FirstResponseAt.IsZero() {
		row.Responded++
		took := t.FirstResponseAt.Sub(t.Created)
		if r.business {
			took = r.cal.BusinessBetween(t.Created, t.FirstResponseAt)
		}
		r.times[st] = append(r.times[st], max(took, 0))
		if t.FirstResponseMet {
			row.Met++
		}
	}
	if t.Breaches > 0 {
		row.Breached++
	}
	if t.Overdue(r.now) {
		row.OpenOverdue++
	}
}

// Report is the report of the tickets added so far.
func (r *SLAReporter) Report() SLAReport {
	rep := SLAReport{To: r.toDate, Rows: []SLAReportRow{}}
	switch {
	case !r.from.IsZero():
		rep.From = r.from.Format(time.DateOnly)
	case !r.first.IsZero():
		rep.From = r.first.In(r.loc).Format(time.DateOnly)
	default:
		rep.From = r.toDate
	}
	for _, st := range ReportStatuses {
		row := *r.rows[st]
		ts := slices.Clone(r.times[st])
		slices.Sort(ts)
		row.P50Seconds, row.P90Seconds = percentile(ts, 50), percentile(ts, 90)
		rep.Rows = append(rep.Rows, row)
	}
	return rep
}

// percentile is the nearest-rank p-th percentile of the sorted ts in
// seconds, nil when ts is empty.
func percentile(ts []time.Duration, p int) *float64 {
	if len(ts) == 0 {
		return nil
	}
	rank := (p*len(ts) + 99) / 100 // ceil(p/100 · n), at least 1 for p > 0
	s := ts[max(rank, 1)-1].Seconds()
	return &s
}

// ReportSLA reads every ticket of tx into the SLA report of the dates from
// through to at now (see NewSLAReporter).
func ReportSLA(tx *store.Tx, cal *sla.Calendar, from, to, now time.Time) (SLAReport, error) {
	r := NewSLAReporter(cal, from, to, now)
	err := tx.ForEachTicket(false, func(t store.Ticket) error {
		r.Add(&t)
		return nil
	})
	return r.Report(), err
}
