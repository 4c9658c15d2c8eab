package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"supportd/store"
)

// supportd_tickets counts the store's tickets by state and priority; a
// recount after changes follows them, and a class that emptied reads 0.
func TestRefreshTicketMetrics(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(tks ...store.Ticket) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error {
			for i := range tks {
				if err := tx.PutTicket(&tks[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(store.Ticket{ID: "CS-M00001", State: store.StateOpen, Priority: 1},
		store.Ticket{ID: "CS-M00002", State: store.StateOpen, Priority: 1},
		store.Ticket{ID: "CS-M00003", State: store.StateOpen, Priority: 3},
		store.Ticket{ID: "CS-M00004", State: store.StateAnswered, Priority: 2},
		store.Ticket{ID: "CS-M00005", State: store.StateClosed, Priority: 4})
	m := NewMetrics(nil)
	d := New(Config{}, nil, db, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	check := func(want map[[2]string]float64) {
		t.Helper()
		for _, st := range []string{"open", "answered", "closed"} {
			for _, p := range []string{"1", "2", "3", "4"} {
				if got := GaugeValue(m.Tickets.WithLabelValues(st, p)); got != want[[2]string{st, p}] {
					t.Errorf("supportd_tickets{state=%q,priority=%q} = %v, want %v", st, p, got, want[[2]string{st, p}])
				}
			}
		}
		ch := make(chan prometheus.Metric, 100)
		m.Tickets.Collect(ch)
		if n := len(ch); n != 12 {
			t.Errorf("supportd_tickets has %d series, want 12 (3 states × 4 priorities)", n)
		}
	}
	d.refreshTicketMetrics()
	check(map[[2]string]float64{{"open", "1"}: 2, {"open", "3"}: 1, {"answered", "2"}: 1, {"closed", "4"}: 1})
	// Answer the P3 ticket and close one P1: open P3 empties to 0.
	put(store.Ticket{ID: "CS-M00003", State: store.StateAnswered, Priority: 3},
		store.Ticket{ID: "CS-M00001", State: store.StateClosed, Priority: 1})
	d.refreshTicketMetrics()
	check(map[[2]string]float64{{"open", "1"}: 1, {"answered", "3"}: 1, {"answered", "2"}: 1, {"closed", "1"}: 1, {"closed", "4"}: 1})
}

// GaugeValue reads a gauge; the external daemon_test package uses it too.
func GaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

// Every metric the operations guide's SLA alert rules name is one the daemon
// exports (a renamed metric would silently disable an alert).
func TestSLAAlertRulesNameRealMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "\n## SLA alerts\n")
	if start < 0 {
		t.Fatal(`docs/operations.md has no "## SLA alerts" section`)
	}
	sec := doc[start+1:]
	if end := strings.Index(sec[3:], "\n## "); end >= 0 {
		sec = sec[:end+3]
	}
	m := NewMetrics(nil)
	m.InitMailbox("INBOX")
	m.WatchAuthFailures("imap", func() float64 { return 0 })
	m.Tickets.WithLabelValues("open", "1")
	m.FirstResponse.WithLabelValues("active")
	m.SLAEvents.WithLabelValues("breach", "active")
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	names := regexp.MustCompile(`supportd_[a-z0-9_]+`).FindAllString(sec, -1)
	for _, want := range []string{"supportd_sla_events_total", "supportd_outbox_oldest_age_seconds", "supportd_auth_failures_total", "supportd_messages_quarantined_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("the SLA alerts section does not mention %s", want)
		}
	}
	for _, n := range names {
		if !exported[n] {
			t.Errorf("the SLA alerts section names %s, which the daemon does not export", n)
		}
	}
}
