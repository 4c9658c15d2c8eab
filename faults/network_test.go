package faults_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"supportd/internal/testenv"
	"supportd/poller"
)

// A TCP reset in the middle of a large UID FETCH: the poller reconnects, fetches
// again from the checkpoint, and every message of the backlog is answered exactly
// once (the batch committed before the reset is not fetched or answered again).
func TestResetMidFetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mp := testenv.Mailpit(t)
	const n, size = 150, 10_000
	uids := e.backlog(n, size)

	px := newProxy(t, "imap", e.dovecot.Addr())
	// 250 KB/s: the 1.5 MB backlog takes about 6 s, a batch of 50 about 2 s, so
	// the reset below lands inside a FETCH response.
	px.add(t, "slow", "bandwidth", "downstream", 1, `{"rate":250}`)
	// Present from the start with toxicity 0 so toxiproxy sets SO_LINGER 0 on every
	// link: raising the toxicity then closes the link with a real RST.
	px.add(t, "rst", "reset_peer", "downstream", 0, `{"timeout":0}`)

	r := e.start(runOpts{imapAddr: px.Addr(), smtpAddr: mp.SMTPAddr(), idle: true, batchSize: 50})
	defer r.stop(t)

	// Batch 2 is fetched while batch 1 is handled (the poller fetches ahead), and
	// the poller counts batch 1 as delivered only once that FETCH is complete. So
	// batch 1 committed (in the ledger), not yet counted as delivered, and spool
	// files present means batch 2's bodies are streaming in: reset then (at 250
	// KB/s the rest of batch 2 takes up to 2 s more to arrive).
	uv := e.dovecot.UIDValidity(t, "INBOX")
	waitFor(t, 30*time.Second, "bodies of the second batch streaming in", func() bool {
		if found, _ := r.ledgerCount(t, uv, uids[:50]); found < 50 {
			return false
		}
		return r.Poller.Stats().Delivered < 50 && spooled(t, e.spool) >= 5
	})
	before := r.Poller.Stats()
	if before.Delivered >= n {
		t.Fatalf("the whole backlog (%d) was fetched before the reset; the test did not reset mid-FETCH", before.Delivered)
	}
	px.setToxicity(t, "rst", 1, `{"timeout":0}`)
	waitFor(t, 10*time.Second, "the poller to see the reset", func() bool { return r.Poller.Stats().LastError != nil })
	px.setToxicity(t, "rst", 0, `{"timeout":0}`)
	t.Logf("reset after %d of %d messages were handled; poller error: %v", before.Delivered, n, r.Poller.Stats().LastError)

	checkExactlyOnce(t, e, r, mp, n, uids)
	if got := r.Poller.Stats().Reconnects; got < 1 {
		t.Errorf("poller reports %d reconnects after the reset, want ≥ 1", got)
	}
	logs := e.logs.String()
	failedFetch := false
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "imap session failed") && (strings.Contains(line, "body.peek") || strings.Contains(line, "spool uid")) {
			failedFetch = true
			break
		}
	}
	if !failedFetch {
		t.Errorf("no 'imap session failed' during a UID FETCH of bodies in the log: the reset did not hit the FETCH")
	}
	if left := spooled(t, e.spool); left != 0 {
		t.Errorf("%d spool files left behind after the reset and the catch-up, want 0", left)
	}
}

func spooled(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// halfOpenBound is the worst case for noticing a connection that silently stopped
// passing data while idle, for a watchdog interval w and the default read timeout
// (poller.Config.ReadTimeout: 2×WatchdogInterval + 5s). During IDLE the poller
// stops IDLE every w and waits at most w for the answer (2w); if the blackhole
// starts while it waits for IDLE's continuation, the read timeout fires.
func halfOpenBound(w time.Duration) time.Duration {
	return 2*w + 5*time.Second
}

// With the shipped defaults a half-open connection is detected within a minute.
func TestHalfOpenDefaultBound(t *testing.T) {
	w := poller.DefaultWatchdogInterval
	if b := halfOpenBound(w); b > time.Minute {
		t.Fatalf("default watchdog %v gives a half-open detection bound of %v, want ≤ 1m", w, b)
	} else {
		t.Logf("default watchdog %v: half-open connection detected within %v", w, b)
	}
}

// A connection that goes silent during IDLE (no FIN, nothing passes either way:
// a NAT or firewall dropped its state) is detected by the watchdog within the
// bound, the poller reconnects over a healthy path, and the message that arrived
// meanwhile is answered, once.
func TestHalfOpenDuringIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mp := testenv.Mailpit(t)
	px := newProxy(t, "imap", e.dovecot.Addr())

	// The first connection goes through the proxy (which will blackhole it); later
	// ones go straight to Dovecot, as after a NAT timeout new connections work.
	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if dials.Add(1) == 1 {
			return d.DialContext(ctx, network, px.Addr())
		}
		return d.DialContext(ctx, network, e.dovecot.Addr())
	}
	const w = time.Second
	r := e.start(runOpts{imapAddr: px.Addr(), smtpAddr: mp.SMTPAddr(), idle: true, pollInterval: time.Minute,
		watchdog: w, dialTimeout: 3 * time.Second, imapDial: dial})
	defer r.stop(t)

	e.deliver(msg("Alice <alice@acme.test>", "Before the blackhole", "before@acme.test", "Build Number: 9653\n"))
	mp.WaitMessages(t, 1, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // back in IDLE
	if st := r.Poller.Stats(); !st.Connected || st.Reconnects != 0 || dials.Load() != 1 {
		t.Fatalf("before the fault: connected=%v reconnects=%d dials=%d, want one healthy connection", st.Connected, st.Reconnects, dials.Load())
	}

	start := time.Now()
	px.add(t, "hole-down", "timeout", "downstream", 1, `{"timeout":0}`)
	px.add(t, "hole-up", "timeout", "upstream", 1, `{"timeout":0}`)
	e.deliver(msg("Bob <bob@acme.test>", "During the blackhole", "during@acme.test", "Build Number: 9653\n"))

	bound := halfOpenBound(w)
	waitFor(t, bound+2*time.Second, "the half-open connection detected", func() bool { return r.Poller.Stats().LastError != nil })
	st := r.Poller.Stats()
	detected := st.LastErrorAt.Sub(start)
	t.Logf("half-open connection detected after %v (bound %v): %v", detected.Round(time.Millisecond), bound, st.LastError)
	if detected > bound {
		t.Errorf("detected after %v, want ≤ %v (2 × watchdog %v + read timeout slack)", detected, bound, w)
	}
	waitFor(t, 20*time.Second, "reconnected", func() bool { st := r.Poller.Stats(); return st.Connected && st.Reconnects >= 1 })
	mp.WaitMessages(t, 2, 20*time.Second)
	recovered := time.Since(start)
	t.Logf("message sent during the blackhole answered %v after it began", recovered.Round(time.Millisecond))
	if recovered > time.Minute {
		t.Errorf("recovered after %v, want within a minute", recovered)
	}
	time.Sleep(300 * time.Millisecond)
	msgs := mp.Messages(t)
	if len(msgs) != 2 {
		t.Fatalf("Mailpit holds %d replies, want exactly 2 (before and during the blackhole)", len(msgs))
	}
	if !strings.Contains(msgs[1].Subject, "During the blackhole") {
		t.Errorf("second reply is %q, want the answer to the message sent during the blackhole", msgs[1].Subject)
	}
}

// 200 ms of latency each way and a 100 KB/s bandwidth cap on both the IMAP and the
// SMTP path: everything is still processed, correctly, exactly once.
func TestLatencyAndBandwidth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mp := testenv.Mailpit(t)
	const n, size = 12, 8_000
	uids := e.backlog(n, size)

	imapPx := newProxy(t, "imap", e.dovecot.Addr())
	smtpPx := newProxy(t, "smtp", mp.SMTPAddr())
	for _, px := range []*proxy{imapPx, smtpPx} {
		px.add(t, "lat-down", "latency", "downstream", 1, `{"latency":200,"jitter":20}`)
		px.add(t, "lat-up", "latency", "upstream", 1, `{"latency":200,"jitter":20}`)
	}
	imapPx.add(t, "bw", "bandwidth", "downstream", 1, `{"rate":100}`)
	smtpPx.add(t, "bw", "bandwidth", "upstream", 1, `{"rate":100}`)

	start := time.Now()
	r := e.start(runOpts{imapAddr: imapPx.Addr(), smtpAddr: smtpPx.Addr(), idle: true})
	defer r.stop(t)
	checkExactlyOnce(t, e, r, mp, n, uids)
	took := time.Since(start)
	// The bodies alone need n*size/100KB/s ≈ 1 s through the IMAP proxy, plus
	// 400 ms per round trip: a faster run means the proxies were not in the path.
	if minimum := time.Duration(n*size/100) * time.Millisecond; took < minimum {
		t.Errorf("backlog done in %v, faster than the %v the bandwidth cap allows: proxies not in the path?", took, minimum)
	}
	t.Logf("%d messages of %d bytes through 200ms/100KB/s proxies in %v", n, size, took.Round(time.Millisecond))

	// Correctly: each reply threads to its message and is complete.
	for _, m := range mp.Messages(t) {
		d := mp.Message(t, m.ID)
		item := m.Subject[strings.Index(m.Subject, "Backlog item ")+len("Backlog item "):]
		if want := "<backlog-" + item + "@acme.test>"; strings.TrimSpace(d.Header("In-Reply-To")) != want {
			t.Errorf("reply %q: In-Reply-To %q, want %s", m.Subject, d.Header("In-Reply-To"), want)
		}
		if !strings.Contains(d.Text, "Kind regards") || !strings.Contains(d.Text, "Acme Pty Ltd") {
			t.Errorf("reply %q is incomplete or wrong:\n%s", m.Subject, d.Text)
		}
	}
}
