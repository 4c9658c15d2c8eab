// Package harness runs the real daemon in-process against a real Dovecot (and,
// when asked, a real Mailpit) for the test suites of daemon/, faults/ and others:
// one place for the world a test builds (servers, a store with customers, the
// product-default decision engine) instead of a copy per package.
package harness

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/testenv"
	"supportd/poller"
	"supportd/store"
)

// Customers are the test customers: one of every status at Received.
const Customers = `id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module
C100,Acme Pty Ltd,it@acme.test;bob@gmail.com,acme.test,enterprise,2027-06-30,,false,false,true
C200,Globex Corporation,,globex.test,global,2027-01-31,,false,true,true
C300,Initech,,initech.test,cal,2025-03-31,2027-12-10,false,false,false
C400,Umbrella Small Biz,,umbrella.test,cal,,,true,false,false
C500,Hooli Ltd,,hooli.test,enterprise,2026-08-31,,false,false,false
C600,Pied Piper,richard@piedpiper.test,piedpiper.test,cal,,,false,false,false
`

// Received is the INTERNALDATE of test messages: Wednesday 25 November 2026,
// 10:00 in Adelaide (ACDT, +10:30), inside support hours.
var Received = time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)

// Config is the configuration of the test world: the product defaults
// (config.Default), whose addresses are the test domain's, with two limits
// changed: 3 automatic replies per sender a day (the loop tests count them),
// and no practical cap on replies to unknown senders (the suites deliver
// hundreds of their messages within one hour; security/ proves the caps),
// and staff addresses for the staff loop.
func Config() config.Config {
	c := config.Default()
	c.Limits.AutoRepliesPerSenderPerDay = 3
	c.Limits.UnknownRepliesPerDomain, c.Limits.UnknownRepliesPerHour = store.MaxRepliesCounted, store.MaxRepliesCounted
	c.Support.Staff = []string{"@staff.vendor.test", "lead@vendor.test"}
	return c
}

// Engine is the decision engine of Config.
func Engine() (*daemon.Engine, error) { return Config().Engine() }

// World is one test's world: a real Dovecot, optionally a real Mailpit, and a
// store file with Customers imported.
type World struct {
	T       testing.TB
	Dovecot *testenv.DovecotServer
	Mailpit *testenv.MailpitServer // nil unless NewWorld was asked for it
	DBPath  string
	Spool   string
	Logs    *SyncBuffer // the daemon's debug log, printed (tail) when the test fails
}

// NewWorld starts the servers and prepares the store.
func NewWorld(t testing.TB, withMailpit bool) *World {
	t.Helper()
	return newWorld(t, withMailpit, nil)
}

// NewWorldWith is NewWorld (with Mailpit) on a Dovecot started with opts
// (further logins: several accounts).
func NewWorldWith(t testing.TB, opts *testenv.DovecotOptions) *World {
	t.Helper()
	return newWorld(t, true, opts)
}

func newWorld(t testing.TB, withMailpit bool, opts *testenv.DovecotOptions) *World {
	t.Helper()
	w := &World{T: t, Dovecot: testenv.StartDovecot(t, opts), Logs: &SyncBuffer{}}
	if withMailpit {
		w.Mailpit = testenv.Mailpit(t)
	}
	dir := t.TempDir()
	w.DBPath = filepath.Join(dir, "supportd.db")
	w.Spool = filepath.Join(dir, "spool")
	if err := os.MkdirAll(w.Spool, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(w.DBPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportCustomers(strings.NewReader(Customers), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log (last 64 KiB):\n%s", Tail(w.Logs.String(), 64<<10))
		}
	})
	return w
}

// Options of one daemon run; zero values are test-friendly defaults.
type Options struct {
	IMAPAddr     string // default: the world's Dovecot
	SMTPAddr     string // default: the world's Mailpit
	Idle         bool
	PollInterval time.Duration // default 2s
	Watchdog     time.Duration // poller default when 0
	DialTimeout  time.Duration
	BatchSize    int
	IMAPDial     func(ctx context.Context, network, addr string) (net.Conn, error)
	StaffQueue   string
	Retry        func(n int) time.Duration // default 200ms for every retry
	SMTPTimeouts time.Duration             // mailer dial/command timeout (default 5s; DATA 4×)
	Settings     func(*config.Config)      // adjust the configuration (after Config and the fields above)
	Engine       func(*daemon.Engine)      // adjust the engine
	Config       func(*daemon.Config)      // adjust the daemon configuration
	Poller       func(*poller.Config)      // adjust the poller configuration (every mailbox's)
}

// Running is a daemon started by Start.
type Running struct {
	DB      *store.DB
	Metrics *daemon.Metrics
	Poller  *poller.Poller
	Daemon  *daemon.Daemon
	cancel  context.CancelFunc
	done    chan error
}

// Start runs the real daemon in-process until Stop.
func (w *World) Start(o Options) *Running {
	t := w.T
	t.Helper()
	if o.IMAPAddr == "" {
		o.IMAPAddr = w.Dovecot.Addr()
	}
	if o.SMTPAddr == "" {
		if w.Mailpit == nil {
			t.Fatal("harness: Options.SMTPAddr is required without Mailpit")
		}
		o.SMTPAddr = w.Mailpit.SMTPAddr()
	}
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Retry == nil {
		o.Retry = func(int) time.Duration { return 200 * time.Millisecond }
	}
	if o.SMTPTimeouts == 0 {
		o.SMTPTimeouts = 5 * time.Second
	}
	log := slog.New(slog.NewTextHandler(w.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := Config()
	c.Store.Path = w.DBPath
	c.IMAP.Address, c.IMAP.TLS, c.IMAP.Username, c.IMAP.Password = o.IMAPAddr, "none", w.Dovecot.User(), w.Dovecot.Password()
	c.IMAP.Idle = o.Idle
	c.SMTP.Address, c.SMTP.TLS, c.SMTP.Timeout = o.SMTPAddr, "none", 4*o.SMTPTimeouts
	c.Support.StaffQueue = o.StaffQueue
	if o.Settings != nil {
		o.Settings(&c)
	}
	k, err := c.Build(context.Background(), config.Options{
		Logger: log, SpoolDir: w.Spool, Engine: o.Engine,
		Poller: func(pc *poller.Config) {
			pc.PollInterval, pc.DialTimeout, pc.Dial = o.PollInterval, o.DialTimeout, o.IMAPDial
			pc.BackoffMin, pc.BackoffMax = 100*time.Millisecond, time.Second
			pc.StartAt = poller.StartAt{Mode: poller.StartAll} // tests deliver before they start the daemon
			if o.Watchdog > 0 {
				pc.WatchdogInterval = o.Watchdog
			}
			if o.BatchSize > 0 {
				pc.BatchSize = o.BatchSize
			}
			if o.Poller != nil {
				o.Poller(pc)
			}
		},
		Daemon: func(dc *daemon.Config) {
			dc.RetryBackoff, dc.DrainTimeout = o.Retry, 5*time.Second
			// The daemon's clock runs from Received, the INTERNALDATE of the
			// test mail: the deadlines of tickets opened by tests lie ahead,
			// as they would in production, instead of days in the past (the
			// SLA tests deliver at the real time and use the real clock).
			start := time.Now()
			dc.Now = func() time.Time { return Received.Add(time.Since(start)) }
			if o.Config != nil {
				o.Config(dc)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, p, metrics, d := k.Store, k.Poller, k.Metrics, k.Daemon
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan error, 1), DB: db, Metrics: metrics, Poller: p, Daemon: d}
	go func() {
		err := d.Run(ctx)
		for _, m := range k.Mailers {
			m.Close()
		}
		r.done <- err
	}()
	return r
}

// Stop cancels the daemon, waits for it (at most 30 s) and closes its store.
func (r *Running) Stop(t testing.TB) {
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
	r.DB.Close()
}

// Wait waits (at most timeout) for a daemon that stops on its own and returns
// Run's error; the store stays open.
func (r *Running) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(timeout):
		t.Fatalf("daemon did not stop on its own within %v", timeout)
		return nil
	}
}

// Ledger returns the store's entry of INBOX uid under uv (nil if none), read
// through the running daemon's store.
func (r *Running) Ledger(t testing.TB, uv, uid uint32) *store.LedgerEntry {
	t.Helper()
	var e *store.LedgerEntry
	if err := r.DB.View(func(tx *store.Tx) error {
		var err error
		e, err = tx.SeenUID("INBOX", uv, uid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// Ticket returns a ticket (nil if none).
func (r *Running) Ticket(t testing.TB, id string) *store.Ticket {
	t.Helper()
	var tk *store.Ticket
	if err := r.DB.View(func(tx *store.Tx) error {
		var err error
		tk, err = tx.Ticket(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return tk
}

// OutboxPending is the number of outbox entries still to send.
func (r *Running) OutboxPending(t testing.TB) int {
	t.Helper()
	var n int
	if err := r.DB.View(func(tx *store.Tx) error {
		var err error
		n, _, err = tx.OutboxStats()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Deliver appends a message to the Dovecot INBOX, received at Received.
func (w *World) Deliver(raw string) uint32 {
	w.T.Helper()
	return w.Dovecot.AppendAt(w.T, "INBOX", CRLF(raw), Received)
}

// CRLF normalises line ends to CRLF.
func CRLF(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Msg builds a plain-text test message.
func Msg(from, subject, messageID, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: support@vendor.test\nSubject: %s\nDate: Wed, 25 Nov 2026 10:00:00 +1030\nMessage-ID: <%s>\n", from, subject, messageID)
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
	b.WriteString(body)
	return b.String()
}

// SyncBuffer is a strings.Builder safe for concurrent writers (a log sink).
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
