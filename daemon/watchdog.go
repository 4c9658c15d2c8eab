package daemon

import (
	"context"
	"sync/atomic"
	"time"
)

// The service manager's watchdog (systemd Type=notify, WatchdogSec=). Run
// tells the manager READY=1 once the daemon's loops are started and STOPPING=1
// when shutdown begins. While running it pings WATCHDOG=1 every
// WatchdogInterval, but only when the loops that do the work show progress:
//
//   - the outbox loop goes round at least every outboxIdle (5 s) when idle and
//     records the outcomes of a round as they come in: it beats on each pass
//     and each recorded group of outcomes;
//   - a fetched batch is parsed, decided and committed inside Handle: a batch
//     that stays there longer than StallAfter is a hang (a store commit that
//     never returns, a parse that escaped its limits).
//
// A loop stalled for StallAfter stops the pings, and systemd restarts the
// service WatchdogSec later (the batch is fetched again from the checkpoint,
// the outbox resends what was not recorded as sent). A side goroutine pinging
// unconditionally would keep a hung daemon alive forever.

// DefaultStallAfter is Config.StallAfter when it is 0.
const DefaultStallAfter = 3 * time.Minute

// liveness holds when the working loops last showed progress, as offsets on
// the monotonic clock from base (a wall-clock step changes nothing); 0: never.
type liveness struct {
	base       time.Time
	outbox     atomic.Int64 // last pass of the outbox loop or recorded outcome
	batchSince atomic.Int64 // when the batch in Handle entered it; 0: none
}

func (l *liveness) now() int64 { return int64(time.Since(l.base)) + 1 }

func (d *Daemon) beatOutbox() { d.live.outbox.Store(d.live.now()) }

// enterBatch marks a batch entering Handle; the returned func marks it leaving.
func (d *Daemon) enterBatch() func() {
	d.live.batchSince.Store(d.live.now())
	return func() { d.live.batchSince.Store(0) }
}

// stalled names the loop that has shown no progress for StallAfter, or returns
// "" when every loop is alive.
func (d *Daemon) stalled() (string, time.Duration) {
	now := d.live.now()
	if since := d.live.batchSince.Load(); since != 0 {
		if age := time.Duration(now - since); age > d.cfg.StallAfter {
			return "batch handler", age
		}
	}
	if last := d.live.outbox.Load(); last != 0 {
		if age := time.Duration(now - last); age > d.cfg.StallAfter {
			return "outbox loop", age
		}
	}
	return "", 0
}

func (d *Daemon) notify(state string) {
	if d.cfg.Notify != nil {
		d.cfg.Notify(state)
	}
}

// superviseUntil is Run's own loop while the daemon runs: it pings the watchdog
// while the working loops are alive, and returns when ctx is done.
func (d *Daemon) superviseUntil(ctx context.Context) {
	d.notify("READY=1")
	if d.cfg.WatchdogInterval <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(d.cfg.WatchdogInterval)
	defer t.Stop()
	reported := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		loop, age := d.stalled()
		if loop == "" {
			if reported != "" {
				d.log.Info("watchdog: the daemon's loops are making progress again; pinging the service manager")
				reported = ""
			}
			d.notify("WATCHDOG=1")
			continue
		}
		if loop != reported {
			d.log.Error("watchdog: no progress: not pinging the service manager, which will restart supportd",
				"loop", loop, "stalled_for", age.Round(time.Millisecond).String(), "stall_after", d.cfg.StallAfter.String())
			reported = loop
		}
	}
}
