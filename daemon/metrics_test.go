package daemon

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// CounterValue reads a counter; the external daemon_test package uses it too.
func CounterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// Every known series is exported at 0 before its first event, so a dashboard's
// rate() and an alert on failures work from the first scrape.
func TestMetricsSeriesExistAtZero(t *testing.T) {
	m := NewMetrics(nil)
	m.InitMailbox("INBOX") // what AddInbox does for each mailbox read
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range fams {
		series[f.GetName()] = len(f.GetMetric())
	}
	for name, want := range map[string]int{
		"supportd_messages_total":       25, // 5 actions × 5 statuses, of the one mailbox
		"supportd_replies_sent_total":   3,  // reply, staff, forward
		"supportd_replies_failed_total": 6,  // 3 kinds × temporary, permanent
	} {
		if series[name] != want {
			t.Errorf("%s has %d series at start, want %d", name, series[name], want)
		}
	}
	if v := CounterValue(m.RepliesFail.WithLabelValues("reply", "permanent")); v != 0 {
		t.Errorf("a fresh failure counter is %v", v)
	}
}
