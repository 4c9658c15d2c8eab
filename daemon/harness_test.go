package daemon_test

import (
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

func (e *env) deliver(raw string) uint32 { e.t.Helper(); return e.w.Deliver(raw) }

func crlf(s string) []byte { return harness.CRLF(s) }

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, timeout, what, cond)
}

func msg(from, subject, messageID, body string, extra ...string) string {
	return harness.Msg(from, subject, messageID, body, extra...)
}
