package poller

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestCatchUpInBatches(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 7; i++ {
		var flags []imap.Flag
		if i == 2 {
			flags = []imap.Flag{imap.FlagSeen} // already read by a human: still processed
		}
		ts.appendMsg("INBOX", testMessage(i), flags...)
	}
	cc := &cmdCounter{}
	cfg := ts.config(t)
	cfg.BatchSize = 3
	cfg.Dial = cc.dial
	h := newRecHandler()
	p := runPoller(t, cfg, h)

	got := h.wait(t, 7, 5*time.Second)
	for i, f := range got {
		if f.UID != uint32(i+1) {
			t.Errorf("message %d: UID %d, want %d", i, f.UID, i+1)
		}
		if want := testMessage(i + 1); h.body(f.UID) != want {
			t.Errorf("uid %d: spooled body %q, want %q", f.UID, h.body(f.UID), want)
		}
		if f.Size != int64(len(testMessage(i+1))) || f.InternalDate.IsZero() || f.TooLarge {
			t.Errorf("uid %d: size %d date %v tooLarge %v", f.UID, f.Size, f.InternalDate, f.TooLarge)
		}
	}
	if !slices.Contains(got[1].Flags, string(imap.FlagSeen)) {
		t.Errorf("uid 2 flags %v, want \\Seen reported", got[1].Flags)
	}
	h.mu.Lock()
	var sizes []int
	for _, b := range h.batches {
		sizes = append(sizes, len(b))
	}
	h.mu.Unlock()
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("batch sizes %v, want [3 3 1]", sizes)
	}
	// Two UID FETCH per batch (metadata, then bodies), never one per message.
	if n := cc.count("UID FETCH"); n != 6 {
		t.Errorf("%d UID FETCH commands, want 6 (2 per batch of 3)", n)
	}
	if n := cc.count("FETCH"); n != 0 {
		t.Errorf("%d FETCH by sequence number, want 0", n)
	}
	// BODY.PEEK: nothing was marked \Seen by the poller.
	for uid, fl := range ts.flagsOf("INBOX") {
		if uid != 2 && slices.Contains(fl, string(imap.FlagSeen)) {
			t.Errorf("uid %d got \\Seen: %v", uid, fl)
		}
	}
	waitFor(t, 2*time.Second, "stats", func() bool { return p.Stats().Delivered == 7 })
	st := p.Stats()
	if !st.Connected || st.LastUID != 7 || st.Delivered != 7 || st.LastPoll.IsZero() || st.UIDValidity == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMarks(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps []imap.Cap
	}{
		{"move", []imap.Cap{imap.CapIMAP4rev1, imap.CapMove, imap.CapUIDPlus}},
		{"copy+uid expunge", []imap.Cap{imap.CapIMAP4rev1, imap.CapUIDPlus}},
		{"copy+expunge", []imap.Cap{imap.CapIMAP4rev1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, withCaps(tc.caps...))
			for i := 1; i <= 4; i++ {
				ts.appendMsg("INBOX", testMessage(i))
			}
			cc := &cmdCounter{}
			cfg := ts.config(t)
			cfg.Dial = cc.dial
			h := newRecHandler()
			h.marks = func(f Fetched) Mark {
				switch f.UID {
				case 1, 3:
					return Mark{UID: f.UID, Keywords: []string{"P1", "ASUP", "P1"}}
				case 2:
					return Mark{UID: f.UID, Keywords: []string{"P4", "Unknown", "bad word"}, MoveTo: "Support/Unverified"}
				default:
					return Mark{UID: f.UID, Keywords: []string{"Lapsed"}}
				}
			}
			runPoller(t, cfg, h)
			h.wait(t, 4, 5*time.Second)

			var inbox map[uint32][]string
			waitFor(t, 5*time.Second, "marks applied", func() bool {
				inbox = ts.flagsOf("INBOX")
				return len(inbox) == 3 && len(inbox[4]) == 1
			})
			want := map[uint32][]string{1: {"asup", "p1"}, 3: {"asup", "p1"}, 4: {"lapsed"}}
			for uid, fl := range want {
				if !slices.Equal(inbox[uid], fl) {
					t.Errorf("INBOX uid %d flags %v, want %v", uid, inbox[uid], fl)
				}
			}
			if _, ok := inbox[2]; ok {
				t.Errorf("uid 2 still in INBOX after move")
			}
			moved := ts.flagsOf("Support/Unverified")
			if len(moved) != 1 {
				t.Fatalf("folder holds %d messages, want 1", len(moved))
			}
			for _, fl := range moved {
				if !slices.Equal(fl, []string{"p4", "unknown"}) {
					t.Errorf("moved message flags %v, want [P4 Unknown] (invalid keyword skipped)", fl)
				}
			}
			// One STORE per distinct keyword set: {ASUP P1}, {P4 Unknown}, {Lapsed}
			// (+1 for \Deleted in the fallback).
			wantStores := 3
			if !slices.Contains(tc.caps, imap.CapMove) {
				wantStores++
			}
			if n := cc.count("UID STORE"); n != wantStores {
				t.Errorf("%d UID STORE commands, want %d", n, wantStores)
			}
		})
	}
}

func TestKeywordsSkippedWithoutPermanentWildcard(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	c, err := connectOnce(context.Background(), ts.config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Mailbox.CanKeywords {
		t.Fatalf("memserver PERMANENTFLAGS %v should contain \\*", c.Mailbox.PermanentFlags)
	}
	c.Mailbox.CanKeywords = false
	c.Mailbox.PermanentFlags = []imap.Flag{imap.FlagSeen, "Known"}
	if err := c.ApplyMarks([]Mark{{UID: 1, Keywords: []string{"P1", "Known"}}}); err != nil {
		t.Fatal(err)
	}
	if got := ts.flagsOf("INBOX")[1]; !slices.Equal(got, []string{"known"}) {
		t.Errorf("flags %v, want [Known] only", got)
	}
}

func TestTooLarge(t *testing.T) {
	ts := newTestServer(t)
	small := testMessage(1)
	big := testMessage(2) + strings.Repeat("x", 500) + "\r\n"
	ts.appendMsg("INBOX", small)
	ts.appendMsg("INBOX", big)
	cfg := ts.config(t)
	cfg.MaxMessageBytes = 200
	h := newRecHandler()
	runPoller(t, cfg, h)
	got := h.wait(t, 2, 5*time.Second)
	if got[0].TooLarge || got[0].Path == "" || h.body(1) != small {
		t.Errorf("small message: %+v", got[0])
	}
	if !got[1].TooLarge || got[1].Path != "" || got[1].Size != int64(len(big)) {
		t.Errorf("big message: %+v, want TooLarge without a spool file", got[1])
	}
	entries, _ := os.ReadDir(cfg.SpoolDir)
	if len(entries) != 0 {
		t.Errorf("spool dir keeps %d files", len(entries))
	}
}

func TestIdleWakesPromptly(t *testing.T) {
	ts := newTestServer(t)
	cc := &cmdCounter{}
	cfg := ts.config(t)
	cfg.PollInterval = time.Minute
	cfg.WatchdogInterval = 30 * time.Second // the watchdog must not be what finds the mail
	cfg.Dial = cc.dial
	h := newRecHandler()
	runPoller(t, cfg, h)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return cc.count("IDLE") == 1 })
	time.Sleep(50 * time.Millisecond)

	other := ts.client()
	start := time.Now()
	msg := testMessage(1)
	if err := appendVia(other, "INBOX", msg); err != nil {
		t.Fatal(err)
	}
	h.wait(t, 1, 2*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("delivered after %v, want < 2s", d)
	}
	if h.body(1) != msg {
		t.Errorf("body %q", h.body(1))
	}
}

func TestPollingWithoutIdle(t *testing.T) {
	ts := newTestServer(t)
	cc := &cmdCounter{}
	cfg := ts.config(t)
	cfg.Idle = false
	cfg.PollInterval = 300 * time.Millisecond
	cfg.WatchdogInterval = 10 * time.Second
	cfg.Dial = cc.dial
	h := newRecHandler()
	runPoller(t, cfg, h)
	waitFor(t, 5*time.Second, "first search", func() bool { return cc.count("UID SEARCH") >= 1 })
	ts.appendMsg("INBOX", testMessage(1))
	h.wait(t, 1, 3*time.Second)
	ts.appendMsg("INBOX", testMessage(2))
	if got := h.wait(t, 1, 3*time.Second); got[0].UID != 2 {
		t.Errorf("second poll delivered uid %d", got[0].UID)
	}
	if n := cc.count("IDLE"); n != 0 {
		t.Errorf("%d IDLE commands in polling mode", n)
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	cfg := ts.config(t)
	h := newRecHandler()
	p := runPoller(t, cfg, h)
	h.wait(t, 1, 5*time.Second)

	ts.stop()
	waitFor(t, 5*time.Second, "disconnect noticed", func() bool { return !p.Stats().Connected })
	// Mail arriving during the outage.
	ts.appendMsg("INBOX", testMessage(2))
	ts.appendMsg("INBOX", testMessage(3))
	time.Sleep(100 * time.Millisecond) // let a reconnect attempt fail
	ts.start(ts.addr)

	got := h.wait(t, 2, 5*time.Second)
	if got[0].UID != 2 || got[1].UID != 3 {
		t.Errorf("after reconnect got uids %d, %d; want 2, 3", got[0].UID, got[1].UID)
	}
	st := p.Stats()
	if st.Reconnects != 1 || st.LastError == nil {
		t.Errorf("stats %+v, want 1 reconnect and the last error", st)
	}
	select {
	case f := <-h.delivered:
		t.Errorf("uid %d delivered twice", f.UID)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestHalfOpenConnectionDetected(t *testing.T) {
	ts := newTestServer(t)
	px := newFreezeProxy(t, ts.addr)
	cc := &cmdCounter{}
	cfg := ts.config(t)
	cfg.Address = px.addr()
	cfg.Dial = cc.dial
	cfg.WatchdogInterval = 300 * time.Millisecond
	cfg.ReadTimeout = 2 * time.Second
	h := newRecHandler()
	p := runPoller(t, cfg, h)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return cc.count("IDLE") >= 1 })

	if n := px.freeze(); n != 1 {
		t.Fatalf("froze %d connections, want 1", n)
	}
	frozeAt := time.Now()
	ts.appendMsg("INBOX", testMessage(1)) // the frozen connection cannot see it
	waitFor(t, 3*time.Second, "reconnect", func() bool { return p.Stats().Reconnects == 1 })
	// Detection: at most one watchdog gap plus one NOOP timeout (+ slack).
	if d := time.Since(frozeAt); d > 2*cfg.WatchdogInterval+500*time.Millisecond {
		t.Errorf("half-open connection noticed after %v, want <= %v", d, 2*cfg.WatchdogInterval)
	}
	h.wait(t, 1, 3*time.Second)
	if err := p.Stats().LastError; err == nil || !errors.Is(err, ErrTimeout) {
		t.Errorf("last error %v, want an ErrTimeout", err)
	}
}

// A half-open connection while a command (not IDLE) waits for its answer is
// caught by the read deadline.
func TestReadTimeoutOnSilentServer(t *testing.T) {
	ts := newTestServer(t)
	px := newFreezeProxy(t, ts.addr)
	cfg := ts.config(t)
	cfg.Address = px.addr()
	cfg.WatchdogInterval = time.Second
	cfg.ReadTimeout = 1500 * time.Millisecond
	c, err := connectOnce(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	px.freeze()
	start := time.Now()
	_, err = c.SearchNew(0) // no timeout of its own: only the read deadline ends it
	if err == nil {
		t.Fatal("search on a frozen connection succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("frozen search failed after %v, want about ReadTimeout (1.5s)", d)
	}
}

func TestHandlerErrorRetriesBatch(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	ts.appendMsg("INBOX", testMessage(2))
	cfg := ts.config(t)
	h := newRecHandler()
	h.failNext = 2
	p := runPoller(t, cfg, h)
	got := h.wait(t, 2, 5*time.Second)
	if got[0].UID != 1 || got[1].UID != 2 {
		t.Errorf("uids %d %d", got[0].UID, got[1].UID)
	}
	h.mu.Lock()
	fails, seen := h.fails, slices.Clone(h.spoolSeen)
	h.mu.Unlock()
	if fails != 2 {
		t.Errorf("handler failed %d times, want 2", fails)
	}
	if len(seen) != 6 {
		t.Errorf("spool paths handed over %d times, want 6 (3 attempts of 2)", len(seen))
	}
	for _, path := range seen {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("spool file %s left behind (err %v)", path, err)
		}
	}
	if st := p.Stats(); st.Reconnects != 0 || st.LastError == nil {
		t.Errorf("stats %+v: a handler error keeps the connection and is reported", st)
	}
}

func TestUIDValidityChangeRefetches(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	ts.appendMsg("INBOX", testMessage(2))
	cfg := ts.config(t)
	h := newRecHandler()
	p := runPoller(t, cfg, h)
	h.wait(t, 2, 5*time.Second)
	oldUV := p.Stats().UIDValidity

	ts.stop()
	// The mailbox is recreated: new UIDVALIDITY, UIDs start again at 1.
	if err := ts.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := ts.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	ts.appendMsg("INBOX", testMessage(3))
	ts.start(ts.addr)

	got := h.wait(t, 1, 5*time.Second)
	if got[0].UID != 1 || h.body(1) != testMessage(3) {
		t.Errorf("after UIDVALIDITY change got uid %d body %q", got[0].UID, h.body(1))
	}
	newUV := p.Stats().UIDValidity
	if newUV == oldUV {
		t.Fatalf("UIDVALIDITY did not change (%d)", newUV)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.checkpoints, newUV) {
		t.Errorf("Checkpoint never asked for the new UIDVALIDITY %d: %v", newUV, h.checkpoints)
	}
}

func TestSearchNewFiltersStar(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 3; i++ {
		ts.appendMsg("INBOX", testMessage(i))
	}
	c, err := connectOnce(context.Background(), ts.config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		after uint32
		want  []uint32
	}{
		{0, []uint32{1, 2, 3}},
		{1, []uint32{2, 3}},
		{3, nil}, // "4:*" matches UID 3 on the wire
		{10, nil},
	} {
		got, err := c.SearchNew(tc.after)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SearchNew(%d) = %v, want %v", tc.after, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, time.Second, 2 * time.Second},
		{3, 4 * time.Second, 8 * time.Second},
		{7, 60 * time.Second, 120 * time.Second},
		{100, 60 * time.Second, 120 * time.Second},
	} {
		for range 50 {
			d := backoff(time.Second, 2*time.Minute, tc.attempt)
			if d < tc.min || d > tc.max {
				t.Fatalf("backoff(attempt %d) = %v, want in [%v, %v]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ts := newTestServer(t)
	p, err := New(ts.config(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, newRecHandler()) }()
	waitFor(t, 5*time.Second, "connected", func() bool { return p.Stats().Connected })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// Marks lost with the connection (the server stops answering right after
// Handle) are applied after the reconnect; the batch is not handed over again.
func TestMarksSurviveReconnect(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	px := newFreezeProxy(t, ts.addr)
	cfg := ts.config(t)
	cfg.Address = px.addr()
	cfg.WatchdogInterval = 300 * time.Millisecond
	cfg.ReadTimeout = time.Second
	h := newRecHandler()
	h.marks = func(f Fetched) Mark {
		px.freeze() // the STORE that follows gets no answer
		return Mark{UID: f.UID, Keywords: []string{"P2", "Trial"}}
	}
	p := runPoller(t, cfg, h)
	h.wait(t, 1, 5*time.Second)
	waitFor(t, 5*time.Second, "reconnect", func() bool { return p.Stats().Reconnects == 1 })
	waitFor(t, 5*time.Second, "leftover marks applied", func() bool {
		return slices.Equal(ts.flagsOf("INBOX")[1], []string{"p2", "trial"})
	})
	select {
	case f := <-h.delivered:
		t.Errorf("uid %d handed over again after the reconnect", f.UID)
	case <-time.After(300 * time.Millisecond):
	}
}

// A handler slower than ReadTimeout does not cost the connection: the read
// timeout is off while it runs.
func TestSlowHandlerKeepsConnection(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	cfg := ts.config(t)
	cfg.WatchdogInterval = 300 * time.Millisecond
	cfg.ReadTimeout = 700 * time.Millisecond
	h := newRecHandler()
	h.delay = 2 * time.Second
	h.marks = func(f Fetched) Mark { return Mark{UID: f.UID, Keywords: []string{"P3"}} }
	p := runPoller(t, cfg, h)
	h.wait(t, 1, 5*time.Second)
	waitFor(t, 3*time.Second, "keyword", func() bool { return slices.Equal(ts.flagsOf("INBOX")[1], []string{"p3"}) })
	time.Sleep(time.Second) // a few watchdog rounds
	if st := p.Stats(); st.Reconnects != 0 || st.LastError != nil || !st.Connected {
		t.Errorf("stats %+v, want the first connection still up", st)
	}
}

// Cancelling Run while the handler works still applies that batch's marks
// (the handler committed it) before Run returns.
func TestShutdownAppliesMarksOfCommittedBatch(t *testing.T) {
	ts := newTestServer(t)
	ts.appendMsg("INBOX", testMessage(1))
	p, err := New(ts.config(t))
	if err != nil {
		t.Fatal(err)
	}
	h := newRecHandler()
	h.delay = 500 * time.Millisecond
	h.entered = make(chan struct{}, 1)
	h.marks = func(f Fetched) Mark { return Mark{UID: f.UID, Keywords: []string{"FollowUp"}} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, h) }()
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if len(h.delivered) != 1 {
		t.Fatalf("handler accepted %d messages, want 1", len(h.delivered))
	}
	if got := ts.flagsOf("INBOX")[1]; !slices.Equal(got, []string{"followup"}) {
		t.Errorf("flags after shutdown %v, want [followup]", got)
	}
}

// BatchBytes cuts a batch short when its messages are large: every message is
// still delivered once, in UID order, and a message above the budget goes alone.
func TestBatchBytesCapsLargeBatches(t *testing.T) {
	ts := newTestServer(t)
	big := func(i int) string {
		return testMessage(i) + strings.Repeat("x", 1000) + "\r\n"
	}
	sizes := []int{}
	for i := 1; i <= 8; i++ {
		body := big(i)
		if i == 5 {
			body = testMessage(i) + strings.Repeat("y", 5000) + "\r\n" // alone above the budget
		}
		sizes = append(sizes, len(body))
		ts.appendMsg("INBOX", body)
	}
	cfg := ts.config(t)
	cfg.BatchSize = 100
	cfg.BatchBytes = int64(3*sizes[0] + 10) // three of the usual messages
	h := newRecHandler()
	runPoller(t, cfg, h)
	got := h.wait(t, 8, 5*time.Second)
	for i, f := range got {
		if f.UID != uint32(i+1) {
			t.Fatalf("message %d: UID %d, want %d (each once, in order)", i, f.UID, i+1)
		}
	}
	h.mu.Lock()
	var batchSizes []int
	for _, b := range h.batches {
		batchSizes = append(batchSizes, len(b))
	}
	h.mu.Unlock()
	if !slices.Equal(batchSizes, []int{3, 1, 1, 3}) {
		t.Errorf("batch sizes %v, want [3 1 1 3] (uids 1-3, 4, 5 alone, 6-8)", batchSizes)
	}
}
