package daemon_test

import (
	"bytes"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/harness"
	"supportd/internal/testenv"
	"supportd/poller"
	"supportd/store"
)

// The world of these tests is internal/harness (shared with faults/); this file
// only gives it the short names the daemon tests use.

const testCustomers = harness.Customers

var received = harness.Received

func newEngine(t testing.TB) *daemon.Engine {
	t.Helper()
	e, err := harness.Engine()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type env struct {
	t       *testing.T
	w       *harness.World
	dovecot *testenv.DovecotServer
	mailpit *testenv.MailpitServer
	dbPath  string
	spool   string
	logs    *harness.SyncBuffer
	mx      *testenv.PostfixServer // set by throughPostfix: deliver sends through it
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w := harness.NewWorld(t, true)
	return &env{t: t, w: w, dovecot: w.Dovecot, mailpit: w.Mailpit, dbPath: w.DBPath, spool: w.Spool, logs: w.Logs}
}

type runOpts struct {
	idle         bool
	pollInterval time.Duration
	staffQueue   string
	engine       func(*daemon.Engine)
	cfg          func(*daemon.Config)
	retry        time.Duration
	settings     func(*config.Config) // configuration keys, through the one wiring path
}

type running struct {
	*harness.Running
	db      *store.DB
	metrics *daemon.Metrics
}

func (e *env) start(o runOpts) *running {
	e.t.Helper()
	return e.startWith(o, nil)
}

func (e *env) startWith(o runOpts, pcfg func(*poller.Config)) *running {
	e.t.Helper()
	e.w.DBPath, e.w.Spool = e.dbPath, e.spool // a test may move the store (storefail)
	ho := harness.Options{Idle: o.idle, PollInterval: o.pollInterval, StaffQueue: o.staffQueue, Engine: o.engine, Config: o.cfg, Poller: pcfg, Settings: o.settings}
	if o.retry > 0 {
		ho.Retry = func(int) time.Duration { return o.retry }
	}
	r := e.w.Start(ho)
	return &running{Running: r, db: r.DB, metrics: r.Metrics}
}

func (r *running) stop(t testing.TB) { t.Helper(); r.Stop(t) }
func (r *running) ledger(t testing.TB, uv, uid uint32) *store.LedgerEntry {
	return r.Ledger(t, uv, uid)
}
func (r *running) ticket(t testing.TB, id string) *store.Ticket { return r.Ticket(t, id) }
func (r *running) outboxPending(t testing.TB) int               { return r.OutboxPending(t) }

// deliver puts a customer's message into INBOX: through the Postfix MX after
// throughPostfix, else appended with INTERNALDATE Received.
func (e *env) deliver(raw string) uint32 {
	e.t.Helper()
	if e.mx != nil {
		return e.mx.Deliver(e.t, crlf(raw))
	}
	return e.w.Deliver(raw)
}

// throughPostfix replaces the env's Dovecot by one started with opts plus
// LMTP, behind a Postfix MX: customer mail then enters as in production, with
// the Return-Path, Delivered-To and Received headers real mail carries, and
// INTERNALDATE the delivery time.
func (e *env) throughPostfix(opts testenv.DovecotOptions) {
	e.t.Helper()
	opts.LMTP = true
	e.dovecot = testenv.StartDovecot(e.t, &opts)
	e.w.Dovecot = e.dovecot
	e.mx = testenv.StartPostfix(e.t, e.dovecot, nil)
}

// viaPostfix fails t unless m came in through the MX: a Return-Path, the
// Delivered-To Dovecot adds, and Postfix's Received line.
func viaPostfix(t testing.TB, m testenv.IMAPMessage) {
	t.Helper()
	for _, h := range []string{"Return-Path: <", "Delivered-To: " + testenv.DefaultIMAPUser, "by mx.vendor.test (Postfix)"} {
		if !bytes.Contains(m.Raw, []byte(h)) {
			t.Fatalf("message %d lacks %q: not delivered through Postfix:\n%s", m.UID, h, m.Raw)
		}
	}
}

func crlf(s string) []byte { return harness.CRLF(s) }

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, timeout, what, cond)
}

func msg(from, subject, messageID, body string, extra ...string) string {
	return harness.Msg(from, subject, messageID, body, extra...)
}
