package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

const testCustomers = `id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module
C100,Acme Pty Ltd,it@acme.test;bob@gmail.com,acme.test,enterprise,2027-06-30,,false,false,true
C200,Globex Corporation,,globex.test,global,2027-01-31,,false,true,true
C300,Initech,,initech.test,cal,2025-03-31,2027-12-10,false,false,false
C400,Umbrella Small Biz,,umbrella.test,cal,,,true,false,false
C500,Hooli Ltd,,hooli.test,enterprise,2026-08-31,,false,false,false
`

// newEngine builds the decision engine with the product defaults (SPEC §9).
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
	loc, _ := time.LoadLocation("Australia/Adelaide")
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	return &daemon.Engine{
		Policy:   entitlement.Policy{Location: loc, TrustedAuthservIDs: []string{"mx.vendor.test"}, PublicDomains: []string{"gmail.com", "outlook.com"}},
		Calendar: cal,
		Majors: []versions.Major{
			{Major: 9, FirstBuild: 9000, LastBuild: 9999, Released: day("2021-02-15")},
			{Major: 8, FirstBuild: 8000, LastBuild: 8999, Released: day("2017-06-01")},
			{Major: 7, FirstBuild: 7000, LastBuild: 7999, Released: day("2015-01-01")},
		},
		Triage:       triage.Config{OwnAddresses: []string{"support@vendor.test"}, SalesAddress: "sales@vendor.test", RepliesPerDay: 3},
		Renderer:     r,
		FromName:     "Support",
		FromAddr:     "support@vendor.test",
		SupportHours: "Monday to Friday 06:00–18:00 Adelaide time",
	}
}

// env is one test's world: a real Dovecot, a real Mailpit, a store with customers.
type env struct {
	t       *testing.T
	dovecot *testenv.DovecotServer
	mailpit *testenv.MailpitServer
	dbPath  string
	spool   string
	logs    *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dovecot: testenv.Dovecot(t), mailpit: testenv.Mailpit(t), logs: &syncBuffer{}}
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
			t.Logf("daemon log:\n%s", e.logs.String())
		}
	})
	return e
}

type runOpts struct {
	idle         bool
	pollInterval time.Duration
	staffQueue   string
	engine       func(*daemon.Engine)
	cfg          func(*daemon.Config)
	retry        time.Duration
}

// running is a daemon started by start; stop cancels it and waits.
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
	if o.pollInterval == 0 {
		o.pollInterval = 2 * time.Second
	}
	if o.retry == 0 {
		o.retry = 200 * time.Millisecond
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := store.Open(e.dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(poller.Config{
		Address: e.dovecot.Addr(), TLS: "none", Username: e.dovecot.User(), Password: e.dovecot.Password(),
		Mailbox: "INBOX", Idle: o.idle, PollInterval: o.pollInterval, SpoolDir: e.spool,
		BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, Logger: log.With("component", "imap"),
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mailer.New(mailer.Config{Address: e.mailpit.SMTPAddr(), TLS: "none", Logger: log.With("component", "smtp"), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t)
	eng.Triage.StaffQueue = o.staffQueue
	if o.engine != nil {
		o.engine(eng)
	}
	cfg := daemon.Config{Mailbox: "INBOX", StaffQueue: o.staffQueue, QuarantineFolder: "Quarantine",
		RetryBackoff: func(int) time.Duration { return o.retry }, DrainTimeout: 5 * time.Second}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	metrics := daemon.NewMetrics(func() float64 { return float64(p.Stats().Reconnects) })
	d := daemon.New(cfg, eng, db, p, m, log, metrics)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), db: db, metrics: metrics, poller: p}
	go func() { r.done <- d.Run(ctx); m.Close() }()
	return r
}

// received is the INTERNALDATE of test messages: Wednesday 25 November 2026,
// 10:00 in Adelaide (ACDT, +10:30), inside support hours.
var received = time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)

// deliver appends a message to the Dovecot INBOX, received at `received`.
func (e *env) deliver(raw string) uint32 {
	e.t.Helper()
	return e.dovecot.AppendAt(e.t, "INBOX", crlf(raw), received)
}

func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ledger returns the store's entry of a UID (opening the store read-only is not
// possible while the daemon holds it, so it reads through the running daemon's DB).
func (r *running) ledger(t testing.TB, uv, uid uint32) *store.LedgerEntry {
	var e *store.LedgerEntry
	if err := r.db.View(func(tx *store.Tx) error {
		var err error
		e, err = tx.SeenUID("INBOX", uv, uid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (r *running) ticket(t testing.TB, id string) *store.Ticket {
	var tk *store.Ticket
	if err := r.db.View(func(tx *store.Tx) error {
		var err error
		tk, err = tx.Ticket(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return tk
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
