package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"supportd/entitlement"
	"supportd/poller"
	"supportd/store"
	"supportd/triage"
)

// Metrics are the Prometheus metrics of `supportd run`, on their own registry (no
// global state), served on metrics.listen at /metrics.
type Metrics struct {
	Registry     *prometheus.Registry
	Messages     *prometheus.CounterVec // by action, status and mailbox
	Quarantined  *prometheus.CounterVec // by mailbox
	RepliesSent  *prometheus.CounterVec // by kind (reply, staff)
	RepliesFail  *prometheus.CounterVec // by kind and class (temporary, permanent)
	OutboxDepth  prometheus.Gauge
	OutboxOldest prometheus.Gauge // age in seconds of the oldest pending entry
	Unprocessed  prometheus.Gauge // age in seconds of the oldest message not yet processed
	// inboxes are the mailboxes whose poller counters are exported with a
	// mailbox label (supportd_imap_reconnects_total, supportd_imap_connected).
	inboxes      []*inboxStat
	StoreErrors  prometheus.Counter
	Latency      prometheus.Histogram // receipt (INTERNALDATE) → committed decision
	SendLatency  prometheus.Histogram // receipt → SMTP accepted
	BatchSeconds prometheus.Histogram
	TokenExpiry  prometheus.Gauge // seconds until the IMAP OAuth2 token expires
	// SMTPConfigFaults counts rounds the SMTP server refused for our sender
	// (a configuration fault); SMTPConfigFault is 1 while it lasts.
	SMTPConfigFaults prometheus.Counter
	SMTPConfigFault  prometheus.Gauge
	// SLAEvents counts SLA warnings and breaches by kind and status;
	// FirstResponse observes the first-response time of tickets by status;
	// Tickets are the tickets by state and priority (refreshed periodically).
	SLAEvents     *prometheus.CounterVec
	FirstResponse *prometheus.HistogramVec
	Tickets       *prometheus.GaugeVec
}

// WatchAuthFailures registers supportd_auth_failures_total{service} (imap,
// smtp), read from count: logins the server refused.
func (m *Metrics) WatchAuthFailures(service string, count func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "supportd_auth_failures_total",
		Help:        "Logins the IMAP or SMTP server refused (wrong or expired credentials).",
		ConstLabels: prometheus.Labels{"service": service}}, count))
}

// WatchKeywordsDropped registers supportd_imap_keywords_dropped_total, read
// from count: keywords the mailbox could not store (PERMANENTFLAGS without \*).
func (m *Metrics) WatchKeywordsDropped(count func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "supportd_imap_keywords_dropped_total",
		Help: "IMAP keywords (tags) not stored because the mailbox cannot store keywords (PERMANENTFLAGS without \\*): staff rely on folders or the staff queue."}, count))
}

// NewMetrics registers the metrics. Its argument is no longer read: IMAP
// reconnections are counted per mailbox (supportd_imap_reconnects_total
// {mailbox}) from the pollers the daemon reads (Daemon.AddInbox).
func NewMetrics(_ func() float64) *Metrics {
	buckets := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "supportd_messages_total",
			Help: "Messages processed, by action, entitlement status and mailbox."}, []string{"action", "status", "mailbox"}),
		Quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "supportd_messages_quarantined_total",
			Help: "Messages that could not be processed and were quarantined, by mailbox."}, []string{"mailbox"}),
		RepliesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "supportd_replies_sent_total",
			Help: "Outgoing messages accepted by the SMTP server, by kind."}, []string{"kind"}),
		RepliesFail: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "supportd_replies_failed_total",
			Help: "Outgoing delivery attempts that failed, by kind and class (temporary, permanent)."}, []string{"kind", "class"}),
		OutboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "supportd_outbox_depth",
			Help: "Outgoing messages waiting to be sent."}),
		OutboxOldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "supportd_outbox_oldest_age_seconds",
			Help: "Age of the oldest outgoing message still waiting."}),
		Unprocessed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "supportd_oldest_unprocessed_age_seconds",
			Help: "Age of the oldest fetched message not yet committed (0 when none)."}),
		StoreErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "supportd_store_errors_total",
			Help: "Failed store commits (nothing was sent or marked for them)."}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "supportd_processing_latency_seconds",
			Help: "From receipt (INTERNALDATE) to the committed decision.", Buckets: buckets}),
		SendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "supportd_reply_latency_seconds",
			Help: "From queueing to SMTP acceptance of automatic replies.", Buckets: buckets}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "supportd_batch_seconds",
			Help: "Time to parse, decide and commit one fetched batch.", Buckets: buckets}),
		TokenExpiry: prometheus.NewGauge(prometheus.GaugeOpts{Name: "supportd_oauth2_token_expiry_seconds",
			Help: "Seconds until the current OAuth2 access token expires (negative: expired)."}),
		SMTPConfigFaults: prometheus.NewCounter(prometheus.CounterOpts{Name: "supportd_smtp_config_faults_total",
			Help: "Rounds of outgoing mail the SMTP server refused for our sender or login (smtp.from, smtp.username): kept queued."}),
		SMTPConfigFault: prometheus.NewGauge(prometheus.GaugeOpts{Name: "supportd_smtp_config_fault",
			Help: "1 while the SMTP server refuses our sender or login by policy (outgoing mail stays queued), else 0."}),
		SLAEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "supportd_sla_events_total",
			Help: "SLA warnings and breaches queued, by kind (warning, breach) and entitlement status."}, []string{"kind", "status"}),
		FirstResponse: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "supportd_first_response_seconds",
			Help:    "From a ticket's creation to its first staff response, by entitlement status.",
			Buckets: []float64{300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600, 24 * 3600, 48 * 3600}}, []string{"status"}),
		Tickets: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "supportd_tickets",
			Help: "Tickets by state (open, answered, closed) and priority."}, []string{"state", "priority"}),
	}
	m.Registry.MustRegister(m.SMTPConfigFaults, m.SMTPConfigFault)
	m.Registry.MustRegister(m.Messages, m.Quarantined, m.RepliesSent, m.RepliesFail, m.OutboxDepth, m.OutboxOldest,
		m.Unprocessed, m.StoreErrors, m.Latency, m.SendLatency, m.BatchSeconds, m.TokenExpiry,
		m.SLAEvents, m.FirstResponse, m.Tickets,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(&inboxCollector{
		reconnects: prometheus.NewDesc("supportd_imap_reconnects_total", "IMAP reconnections, by mailbox.", []string{"mailbox"}, nil),
		connected:  prometheus.NewDesc("supportd_imap_connected", "1 while the mailbox's IMAP connection is up, else 0, by mailbox.", []string{"mailbox"}, nil),
		inboxes:    func() []*inboxStat { return m.inboxes },
	})
	for _, k := range []string{store.KindReply, store.KindStaff, store.KindForward} {
		m.RepliesSent.WithLabelValues(k)
		m.RepliesFail.WithLabelValues(k, "temporary")
		m.RepliesFail.WithLabelValues(k, "permanent")
	}
	return m
}

// InitMailbox creates the per-mailbox series of mailbox (a store key,
// MailboxKey) at 0: every known series exists from the start, so rate() and
// alerts see the first event instead of a series appearing from nothing.
func (m *Metrics) InitMailbox(mailbox string) {
	for _, a := range []triage.Action{triage.Acknowledge, triage.LapsedNotice, triage.UnsupportedVersion, triage.FollowUp, triage.Suppress} {
		for _, st := range []entitlement.Status{entitlement.Active, entitlement.Trial, entitlement.Free, entitlement.Lapsed, entitlement.Unknown} {
			m.Messages.WithLabelValues(string(a), string(st), mailboxLabel(mailbox))
		}
	}
	m.Quarantined.WithLabelValues(mailboxLabel(mailbox))
}

// watchInbox exports the counters of the poller reading mailbox.
func (m *Metrics) watchInbox(mailbox string, p *poller.Poller) {
	m.InitMailbox(mailbox)
	m.inboxes = append(m.inboxes, &inboxStat{key: mailboxLabel(mailbox), poll: p})
}
