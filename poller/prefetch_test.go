package poller

import (
	"os"
	"slices"
	"testing"
	"time"
)

// The batch fetched ahead while the handler works is dropped when the handler
// fails (no spool file left behind) and delivered, in order, after the retry.
func TestPrefetchDroppedWhenHandlerFails(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 4; i++ {
		ts.appendMsg("INBOX", testMessage(i))
	}
	cfg := ts.config(t)
	cfg.BatchSize = 1
	cfg.BackoffMin, cfg.BackoffMax = 50*time.Millisecond, 100*time.Millisecond
	h := newRecHandler()
	h.failNext = 1
	h.delay = 100 * time.Millisecond // the next batch arrives while Handle sleeps
	runPoller(t, cfg, h)
	got := h.wait(t, 4, 10*time.Second)
	for i, f := range got {
		if f.UID != uint32(i+1) {
			t.Fatalf("message %d: UID %d, want %d (in order)", i, f.UID, i+1)
		}
		if h.body(f.UID) != testMessage(i+1) {
			t.Errorf("uid %d: body %q", f.UID, h.body(f.UID))
		}
	}
	waitFor(t, 2*time.Second, "empty spool directory", func() bool {
		entries, err := os.ReadDir(cfg.SpoolDir)
		return err == nil && len(entries) == 0
	})
}

// A slow handler with a batch fetched ahead keeps the connection: the read
// timeout is off once the prefetch has arrived, back on afterwards.
func TestPrefetchSlowHandlerKeepsConnection(t *testing.T) {
	ts := newTestServer(t)
	for i := 1; i <= 3; i++ {
		ts.appendMsg("INBOX", testMessage(i))
	}
	cfg := ts.config(t)
	cfg.BatchSize = 1
	cfg.WatchdogInterval = 300 * time.Millisecond
	cfg.ReadTimeout = 700 * time.Millisecond
	h := newRecHandler()
	h.delay = 1500 * time.Millisecond
	h.marks = func(f Fetched) Mark { return Mark{UID: f.UID, Keywords: []string{"P3"}} }
	p := runPoller(t, cfg, h)
	h.wait(t, 3, 10*time.Second)
	waitFor(t, 3*time.Second, "keywords on all three", func() bool {
		fl := ts.flagsOf("INBOX")
		return slices.Equal(fl[1], []string{"p3"}) && slices.Equal(fl[2], []string{"p3"}) && slices.Equal(fl[3], []string{"p3"})
	})
	if st := p.Stats(); st.Reconnects != 0 || st.LastError != nil || !st.Connected {
		t.Errorf("stats %+v, want the first connection still up", st)
	}
}
