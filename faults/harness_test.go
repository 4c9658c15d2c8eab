package faults_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"supportd/daemon"
	"supportd/entitlement"
	"supportd/internal/testenv"
	"supportd/mailer"
	"supportd/poller"
	"supportd/sla"
	"supportd/store"
	"supportd/templates"
	"supportd/triage"
	"supportd/versions"
)

// The harness follows daemon/harness_test.go (copied, not shared: that file is the
// daemon package's), with the knobs fault tests need: the IMAP and SMTP addresses
// (a toxiproxy in between), the poller's watchdog, batch size and dialer.

const testCustomers = `id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module
C100,Acme Pty Ltd,it@acme.test;bob@gmail.com,acme.test,enterprise,2027-06-30,,false,false,true
C500,Hooli Ltd,,hooli.test,enterprise,2026-08-31,,false,false,false
`

func newEngine(t testing.TB) *daemon.Engine {
	t.Helper()
	cal, err := sla.New(sla.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	r, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	return &daemon.Engine{
		Policy:   entitlement.Policy{Location: loc, TrustedAuthservIDs: []string{"mx.vendor.test"}, PublicDomains: []string{"gmail.com"}},
		Calendar: cal,
		Majors: []versions.Major{
			{Major: 9, FirstBuild: 9000, LastBuild: 9999, Released: day("2021-02-15")},
			{Major: 8, FirstBuild: 8000, LastBuild: 8999, Released: day("2017-06-01")},
		},
		Triage:       triage.Config{OwnAddresses: []string{"support@vendor.test"}, SalesAddress: "sales@vendor.test", RepliesPerDay: 3},
		Renderer:     r,
		FromName:     "Support",
		FromAddr:     "support@vendor.test",
		SupportHours: "Monday to Friday 06:00–18:00 Adelaide time",
	}
}

// env is one test's world: a real Dovecot and a store with customers. The SMTP
// side is chosen per test (Mailpit or an in-process go-smtp server).
type env struct {
	t       *testing.T
	dovecot *testenv.DovecotServer
	dbPath  string
	spool   string
	logs    *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dovecot: testenv.Dovecot(t), logs: &syncBuffer{}}
	dir := t.TempDir()
	e.dbPath = filepath.Join(dir, "supportd.db")
	e.spool = filepath.Join(dir, "spool")
	if err := os.MkdirAll(e.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(e.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (last 64 KiB):\n%s", tailString(e.logs.String(), 64<<10))
		}
	})
	return e
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

type runOpts struct {
	imapAddr, smtpAddr string // required smtpAddr; imapAddr defaults to Dovecot
	idle               bool
	pollInterval       time.Duration
	watchdog           time.Duration
	dialTimeout        time.Duration
	batchSize          int
	imapDial           func(ctx context.Context, network, addr string) (net.Conn, error)
	staffQueue         string
	retry              func(n int) time.Duration
	smtpTimeouts       time.Duration // mailer dial/command timeout (default 5s)
}

type running struct {
	cancel  context.CancelFunc
	done    chan error
	db      *store.DB
	metrics *daemon.Metrics
	poller  *poller.Poller
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("daemon Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s")
	}
	r.db.Close()
}

func (e *env) start(o runOpts) *running {
	t := e.t
	t.Helper()
	if o.imapAddr == "" {
		o.imapAddr = e.dovecot.Addr()
	}
	if o.pollInterval == 0 {
		o.pollInterval = 2 * time.Second
	}
	if o.retry == nil {
		o.retry = func(int) time.Duration { return 200 * time.Millisecond }
	}
	if o.smtpTimeouts == 0 {
		o.smtpTimeouts = 5 * time.Second
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := store.Open(e.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(poller.Config{
		Address: o.imapAddr, TLS: "none", Username: e.dovecot.User(), Password: e.dovecot.Password(),
		Mailbox: "INBOX", Idle: o.idle, PollInterval: o.pollInterval, SpoolDir: e.spool,
		WatchdogInterval: o.watchdog, DialTimeout: o.dialTimeout, BatchSize: o.batchSize, Dial: o.imapDial,
		BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, Logger: log.With("component", "imap"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mailer.New(mailer.Config{Address: o.smtpAddr, TLS: "none", Logger: log.With("component", "smtp"),
		DialTimeout: o.smtpTimeouts, CommandTimeout: o.smtpTimeouts, DataTimeout: 4 * o.smtpTimeouts})
	if err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t)
	eng.Triage.StaffQueue = o.staffQueue
	cfg := daemon.Config{Mailbox: "INBOX", StaffQueue: o.staffQueue, QuarantineFolder: "Quarantine",
		RetryBackoff: o.retry, DrainTimeout: 5 * time.Second}
	metrics := daemon.NewMetrics(func() float64 { return float64(p.Stats().Reconnects) })
	d := daemon.New(cfg, eng, db, p, m, log, metrics)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), db: db, metrics: metrics, poller: p}
	go func() { r.done <- d.Run(ctx); m.Close() }()
	return r
}

// received is the INTERNALDATE of test messages: Wednesday 25 November 2026,
// 10:00 in Adelaide, inside support hours.
var received = time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)

func (e *env) deliver(raw string) uint32 {
	e.t.Helper()
	return e.dovecot.AppendAt(e.t, "INBOX", crlf(raw), received)
}

func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (r *running) outboxPending(t testing.TB) int {
	var n int
	if err := r.db.View(func(tx *store.Tx) error {
		var err error
		n, _, err = tx.OutboxStats()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// ledgerCount counts the ledger entries of INBOX under uv (and the duplicates
// among them).
func (r *running) ledgerCount(t testing.TB, uv uint32, uids []uint32) (found, dups int) {
	t.Helper()
	if err := r.db.View(func(tx *store.Tx) error {
		for _, uid := range uids {
			e, err := tx.SeenUID("INBOX", uv, uid)
			if err != nil {
				return err
			}
			if e != nil {
				found++
				if e.Duplicate {
					dups++
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found, dups
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func msg(from, subject, messageID, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: support@vendor.test\nSubject: %s\nDate: Wed, 25 Nov 2026 10:00:00 +1030\nMessage-ID: <%s>\n", from, subject, messageID)
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
	b.WriteString(body)
	return b.String()
}

// backlog delivers n messages of about size bytes each, from n different senders
// (so the per-sender reply limit never applies), subjects "Backlog item NNN".
func (e *env) backlog(n, size int) []uint32 {
	e.t.Helper()
	filler := strings.Repeat("The sync job logs a warning for every user in the Finance folder. ", size/66+1)[:size]
	uids := make([]uint32, 0, n)
	for i := range n {
		body := fmt.Sprintf("Build Number: 9653\nServer OS: Windows Server 2019\n\n%s\n", wrap(filler, 76))
		uids = append(uids, e.deliver(msg(fmt.Sprintf("User %03d <user%03d@acme.test>", i, i),
			fmt.Sprintf("Backlog item %03d", i), fmt.Sprintf("backlog-%03d@acme.test", i), body)))
	}
	return uids
}

func wrap(s string, width int) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width])
		b.WriteString("\n")
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}

// checkExactlyOnce asserts that Mailpit holds exactly one reply per backlog item
// (by subject and by distinct Message-ID), addressed to its sender, and that every
// message is tagged processed in Dovecot and recorded once in the ledger.
func checkExactlyOnce(t *testing.T, e *env, r *running, mp *testenv.MailpitServer, n int, uids []uint32) {
	t.Helper()
	msgs := mp.WaitMessages(t, n, 45*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate sent late would show now
	msgs = mp.Messages(t)
	perItem := map[string]int{}
	ids := map[string]int{}
	for _, m := range msgs {
		i := strings.Index(m.Subject, "Backlog item ")
		if i < 0 {
			t.Errorf("unexpected message at Mailpit: %q", m.Subject)
			continue
		}
		item := m.Subject[i+len("Backlog item "):]
		perItem[item]++
		ids[m.MessageID]++
		want := "user" + item + "@acme.test"
		if len(m.To) != 1 || !strings.EqualFold(m.To[0].Address, want) {
			t.Errorf("reply to item %s addressed to %v, want %s", item, m.To, want)
		}
	}
	for i := range n {
		item := fmt.Sprintf("%03d", i)
		if c := perItem[item]; c != 1 {
			t.Errorf("item %s got %d replies, want exactly 1", item, c)
		}
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("Message-ID %s delivered %d times", id, c)
		}
	}
	if len(msgs) != n {
		t.Errorf("Mailpit holds %d messages, want exactly %d", len(msgs), n)
	}
	uv := e.dovecot.UIDValidity(t, "INBOX")
	waitFor(t, 20*time.Second, "every message tagged $SupportdProcessed", func() bool {
		flags := e.dovecot.FetchFlags(t, "INBOX")
		for _, uid := range uids {
			if !slices.Contains(flags[uid], daemon.ProcessedKeyword) {
				return false
			}
		}
		return true
	})
	found, dups := r.ledgerCount(t, uv, uids)
	if found != len(uids) || dups != 0 {
		t.Errorf("ledger holds %d of %d messages (%d marked duplicate), want all, none duplicate", found, len(uids), dups)
	}
}

// proxy is an in-process toxiproxy on 127.0.0.1 in front of upstream.
type proxy struct {
	p *toxiproxy.Proxy
}

func newProxy(t testing.TB, name, upstream string) *proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	return &proxy{p: p}
}

// Addr is the proxy's listen address.
func (p *proxy) Addr() string { return p.p.Listen }

// add installs a toxic (type latency, bandwidth, timeout, reset_peer, …) on the
// "upstream" (client→server) or "downstream" (server→client) stream.
func (p *proxy) add(t testing.TB, name, typ, stream string, toxicity float64, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":%g,"attributes":%s}`, name, typ, stream, toxicity, attrs)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("toxiproxy %s: add %s: %v", p.p.Name, js, err)
	}
}

// setToxicity changes how likely a toxic applies (0 off, 1 always); live links
// restart it at once.
func (p *proxy) setToxicity(t testing.TB, name string, toxicity float64, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"toxicity":%g,"attributes":%s}`, toxicity, attrs)
	if _, err := p.p.Toxics.UpdateToxicJson(name, strings.NewReader(js)); err != nil {
		t.Fatalf("toxiproxy %s: update %s: %v", p.p.Name, name, err)
	}
}

func (p *proxy) remove(t testing.TB, name string) {
	t.Helper()
	if err := p.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("toxiproxy %s: remove %s: %v", p.p.Name, name, err)
	}
}
