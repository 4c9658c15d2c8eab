package daemon_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/mailparse"
)

// notes records the states the daemon sends its service manager.
type notes struct {
	mu  sync.Mutex
	all []string
}

func (n *notes) add(s string) { n.mu.Lock(); n.all = append(n.all, s); n.mu.Unlock() }
func (n *notes) count(s string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, x := range n.all {
		if x == s {
			c++
		}
	}
	return c
}
func (n *notes) first() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.all) == 0 {
		return ""
	}
	return n.all[0]
}

// The watchdog: READY=1 first, WATCHDOG=1 while the loops work, no ping while
// a batch hangs in the handler (so systemd would restart the daemon), pings
// again once it moves, STOPPING=1 at shutdown.
func TestWatchdogPingsOnlyWhileTheLoopsProgress(t *testing.T) {
	e := newEnv(t)
	var n notes
	release := make(chan struct{})
	var hang sync.Once
	hung := make(chan struct{})
	r := e.start(runOpts{idle: true, cfg: func(c *daemon.Config) {
		c.Notify = n.add
		c.WatchdogInterval = 20 * time.Millisecond
		c.StallAfter = 300 * time.Millisecond
		c.TestHook = func(m *mailparse.Message) {
			if strings.Contains(m.Subject, "hang here") {
				hang.Do(func() { close(hung) })
				<-release
			}
		}
	}})
	stopped := false
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
		if !stopped {
			r.stop(t)
		}
	}()
	waitFor(t, 10*time.Second, "READY=1 and watchdog pings", func() bool { return n.count("WATCHDOG=1") >= 5 })
	if f := n.first(); f != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", f)
	}

	e.deliver(msg("it@acme.test", "hang here", "hang@acme.test", "Build 9120, the server stops."))
	select {
	case <-hung:
	case <-time.After(15 * time.Second):
		t.Fatal("the message never reached the handler")
	}
	// While the batch is stuck the pings stop once StallAfter has passed.
	time.Sleep(400 * time.Millisecond)
	before := n.count("WATCHDOG=1")
	time.Sleep(500 * time.Millisecond)
	if after := n.count("WATCHDOG=1"); after != before {
		t.Fatalf("%d watchdog pings while a batch hung in the handler for over StallAfter", after-before)
	}
	if !strings.Contains(e.logs.String(), "watchdog: no progress") {
		t.Error("the stall was not logged")
	}

	close(release)
	waitFor(t, 10*time.Second, "pings after the batch moved on", func() bool { return n.count("WATCHDOG=1") >= before+5 })
	r.stop(t)
	stopped = true
	if n.count("STOPPING=1") != 1 {
		t.Errorf("STOPPING=1 sent %d times, want once", n.count("STOPPING=1"))
	}
}
