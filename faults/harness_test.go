package faults_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"supportd/daemon"
	"supportd/internal/harness"
	"supportd/internal/testenv"
	"supportd/store"
)

// The world is internal/harness (shared with daemon/), with the knobs fault tests
// need: the IMAP and SMTP addresses (a toxiproxy in between), the poller's
// watchdog, batch size and dialer. This file only gives it short names.

// env is one test's world: a real Dovecot and a store with customers. The SMTP
// side is chosen per test (Mailpit or an in-process go-smtp server).
type env struct {
	t       *testing.T
	w       *harness.World
	dovecot *testenv.DovecotServer
	spool   string
	logs    *harness.SyncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	w := harness.NewWorld(t, false)
	return &env{t: t, w: w, dovecot: w.Dovecot, spool: w.Spool, logs: w.Logs}
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
	*harness.Running
	db      *store.DB
	metrics *daemon.Metrics
}

func (e *env) start(o runOpts) *running {
	e.t.Helper()
	r := e.w.Start(harness.Options{IMAPAddr: o.imapAddr, SMTPAddr: o.smtpAddr, Idle: o.idle, PollInterval: o.pollInterval,
		Watchdog: o.watchdog, DialTimeout: o.dialTimeout, BatchSize: o.batchSize, IMAPDial: o.imapDial,
		StaffQueue: o.staffQueue, Retry: o.retry, SMTPTimeouts: o.smtpTimeouts})
	return &running{Running: r, db: r.DB, metrics: r.Metrics}
}

func (r *running) stop(t testing.TB)              { t.Helper(); r.Stop(t) }
func (r *running) outboxPending(t testing.TB) int { return r.OutboxPending(t) }

func (e *env) deliver(raw string) uint32 { e.t.Helper(); return e.w.Deliver(raw) }

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, timeout, what, cond)
}

// ledgerCount counts the ledger entries of INBOX under uv (and the duplicates
// among them).
func (r *running) ledgerCount(t testing.TB, uv uint32, uids []uint32) (found, dups int) {
	t.Helper()
	for _, uid := range uids {
		if e := r.Ledger(t, uv, uid); e != nil {
			found++
			if e.Duplicate {
				dups++
			}
		}
	}
	return found, dups
}

func msg(from, subject, messageID, body string, extra ...string) string {
	return harness.Msg(from, subject, messageID, body, extra...)
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
	mp.WaitMessages(t, n, 45*time.Second)
	time.Sleep(300 * time.Millisecond) // a duplicate sent late would show now
	msgs := mp.Messages(t)
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
