package torture

import (
	"testing"
	"time"
)

// The acceptance test: a backlog of 60 messages; `supportd run` stopped
// with SIGTERM after the first replies went out, restarted, SIGKILLed in the
// middle of the rest, restarted, left to finish. Every message that must be
// answered has exactly one reply; the others are recorded suppressions or
// follow-ups; every message has a ledger entry; a duplicate is possible only
// after the SIGKILL and only as a second copy with the same Message-ID.
func TestRestartMidBacklog(t *testing.T) {
	const perDay = 3
	w := newWorld(t, worldOpts{batchSize: 5, repliesPerDay: perDay})
	// Each FETCH (two per batch of 5) takes 100 ms and each SMTP DATA 40 ms at
	// least: the backlog takes seconds, so the signals land in its middle.
	w.slowIMAP.Store(int64(100 * time.Millisecond))
	w.slow.Store(int64(40 * time.Millisecond))
	w.deliver(60)
	want := w.wantReplies(perDay)

	p := w.start()
	w.waitAtLeast(t, p, 3, 30*time.Second)
	p.term(t, 30*time.Second)
	afterTerm := w.replies()
	n1 := countDistinct(afterTerm)
	t.Logf("SIGTERM after %d of %d replies", n1, want)
	if n1 >= want {
		t.Fatalf("the backlog was finished (%d replies) before SIGTERM: not a mid-backlog test", n1)
	}
	if len(afterTerm) != n1 {
		t.Fatalf("after SIGTERM Mailpit holds %d messages for %d answered messages: a graceful stop must never duplicate", len(afterTerm), n1)
	}

	p = w.start()
	w.waitAtLeast(t, p, n1+5, 30*time.Second)
	p.kill()
	n2 := w.distinctReplied()
	t.Logf("SIGKILL after %d of %d replies", n2, want)
	if n2 >= want {
		t.Fatalf("the backlog was finished (%d replies) before SIGKILL: not a mid-backlog test", n2)
	}

	w.slow.Store(0)
	w.slowIMAP.Store(0)
	p = w.start()
	if !w.waitReplies(want, 60*time.Second) {
		t.Errorf("only %d of %d messages answered within 60s of the last restart", w.distinctReplied(), want)
	}
	time.Sleep(time.Second) // let a wrong extra reply show up
	p.term(t, 30*time.Second)

	s := w.check(perDay)
	s.kills = 1
	t.Logf("restart: %s", s)
	s.assertClean(t)
	if s.replies+s.recorded != len(w.items) {
		t.Errorf("%d replies + %d recorded != %d messages", s.replies, s.recorded, len(w.items))
	}
}

// waitAtLeast waits until n messages have replies at Mailpit, failing if the
// daemon exits or timeout passes.
func (w *world) waitAtLeast(t *testing.T, p *daemonProc, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(w.mailpit.Messages(t)) < n {
		if p.exited() {
			t.Fatalf("supportd run exited on its own: %v (log %s)", p.err, p.log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d replies within %v", n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countDistinct(rs []reply) int {
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.inReplyTo] = true
	}
	return len(seen)
}

// assertClean fails t on any lost message, ordinary duplicate, pending outbox
// entry, missing IMAP mark, data race or recorded problem.
func (s summary) assertClean(t *testing.T) {
	t.Helper()
	for _, p := range s.problems {
		t.Error(p)
	}
	if s.lost != 0 {
		t.Errorf("%d message(s) lost", s.lost)
	}
	if s.duplicates != 0 {
		t.Errorf("%d ordinary duplicate(s) (not explained by the RFC 1047 window)", s.duplicates)
	}
	if s.outboxLeft != 0 {
		t.Errorf("%d outbox entries still pending after a clean stop", s.outboxLeft)
	}
	if s.unmarked != 0 {
		t.Errorf("%d message(s) lack the $SupportdProcessed keyword in Dovecot", s.unmarked)
	}
	if s.resentMaxConn > 1 {
		t.Errorf("one SMTP connection had %d replies resent after a kill, want at most 1 (the RFC 1047 window)", s.resentMaxConn)
	}
}
