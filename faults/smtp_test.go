package faults_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"

	"supportd/daemon"
	"supportd/internal/memserver"
	"supportd/store"
)

// smtpSink is an in-process go-smtp server whose answer to DATA the test decides,
// recording every attempt (accepted or not) with its time.
type smtpSink struct {
	*memserver.SMTP
	mu       sync.Mutex
	attempts []attempt
	decide   func(n int, to []string) error // n: attempts so far for these recipients
}

type attempt struct {
	to  []string
	at  time.Time
	err error
}

func newSMTPSink(t testing.TB, decide func(n int, to []string) error) *smtpSink {
	t.Helper()
	srv, err := memserver.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s := &smtpSink{SMTP: srv, decide: decide}
	srv.Fail = func(from string, to []string) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		n := 0
		for _, a := range s.attempts {
			if slices.Equal(a.to, to) {
				n++
			}
		}
		err := s.decide(n, to)
		s.attempts = append(s.attempts, attempt{to: append([]string(nil), to...), at: time.Now(), err: err})
		return err
	}
	return s
}

// attemptsTo returns the attempts whose recipients include addr.
func (s *smtpSink) attemptsTo(addr string) []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []attempt
	for _, a := range s.attempts {
		if slices.Contains(a.to, addr) {
			out = append(out, a)
		}
	}
	return out
}

// counter reads a counter of the daemon's registry by name and labels (0 when the
// series does not exist yet).
func counter(t testing.TB, m *daemon.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			if hasLabels(mt, labels) {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// 421 (service not available) and 451 (local error) are temporary: the reply is
// retried with a growing backoff and delivered, once, after the server recovers.
func TestSMTPTemporaryFailuresRetried(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code int
		ec   smtp.EnhancedCode
		text string
	}{
		{421, smtp.EnhancedCode{4, 3, 2}, "Service not available, closing transmission channel"},
		{451, smtp.EnhancedCode{4, 3, 0}, "Requested action aborted: local error in processing"},
	} {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			const failures = 2
			sink := newSMTPSink(t, func(n int, to []string) error {
				if n < failures {
					return &smtp.SMTPError{Code: c.code, EnhancedCode: c.ec, Message: c.text}
				}
				return nil
			})
			backoff := func(n int) time.Duration { return time.Duration(n) * 400 * time.Millisecond }
			r := e.start(runOpts{smtpAddr: sink.Addr(), idle: true, retry: backoff})
			defer r.stop(t)

			e.deliver(msg("Alice <alice@acme.test>", "Report export fails", "tmp@acme.test", "Build Number: 9653\n"))
			_, err := sink.Wait(1, 40*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
			time.Sleep(300 * time.Millisecond)
			got := sink.Messages()
			if len(got) != 1 {
				t.Fatalf("server accepted %d messages, want exactly the 1 reply", len(got))
			}
			if !slices.Equal(got[0].To, []string{"alice@acme.test"}) || !strings.Contains(got[0].Header("Subject"), "Report export fails") {
				t.Errorf("accepted %v %q, want the reply to alice@acme.test", got[0].To, got[0].Header("Subject"))
			}
			at := sink.attemptsTo("alice@acme.test")
			if len(at) != failures+1 {
				t.Fatalf("%d attempts, want %d refused + 1 accepted", len(at), failures)
			}
			for i := 1; i < len(at); i++ {
				gap, want := at[i].at.Sub(at[i-1].at), backoff(i)
				t.Logf("retry %d after %v (backoff %v)", i, gap.Round(time.Millisecond), want)
				if gap < want-50*time.Millisecond {
					t.Errorf("retry %d came %v after attempt %d, before its backoff %v", i, gap, i, want)
				}
			}
			if v := counter(t, r.metrics, "supportd_replies_failed_total", map[string]string{"kind": "reply", "class": "temporary"}); v != failures {
				t.Errorf("supportd_replies_failed_total{class=temporary} = %v, want %d", v, failures)
			}
			if v := counter(t, r.metrics, "supportd_replies_failed_total", map[string]string{"class": "permanent"}); v != 0 {
				t.Errorf("supportd_replies_failed_total{class=permanent} = %v, want 0", v)
			}
			if v := counter(t, r.metrics, "supportd_replies_sent_total", map[string]string{"kind": "reply"}); v != 1 {
				t.Errorf("supportd_replies_sent_total{kind=reply} = %v, want 1", v)
			}
			if n := strings.Count(e.logs.String(), "delivery failed, will retry"); n != failures {
				t.Errorf("log has %d 'delivery failed, will retry' lines, want %d", n, failures)
			}
			if !strings.Contains(e.logs.String(), fmt.Sprint(c.code)) {
				t.Errorf("log does not show the server's %d reply", c.code)
			}
		})
	}
}

// 550 is permanent: the reply is tried once and never again, the failure is in the
// log (level ERROR, with the server's words), in
// supportd_replies_failed_total{class="permanent"} and in a notice to the staff
// queue; other mail keeps flowing.
func TestSMTPPermanentFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const staff = "staff@vendor.test"
	sink := newSMTPSink(t, func(n int, to []string) error {
		if slices.Contains(to, "alice@acme.test") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "alice@acme.test: user unknown"}
		}
		return nil
	})
	r := e.start(runOpts{smtpAddr: sink.Addr(), idle: true, staffQueue: staff,
		retry: func(int) time.Duration { return 50 * time.Millisecond }})
	defer r.stop(t)

	e.deliver(msg("Alice <alice@acme.test>", "Cannot log in", "perm@acme.test", "Build Number: 9653\n"))
	// The routed staff copy and the failure notice reach staff.
	var notice *memserver.Received
	waitFor(t, 30*time.Second, "the staff notice of the failed reply", func() bool {
		for _, m := range sink.Messages() {
			if strings.Contains(m.Header("Subject"), "automatic reply undeliverable") {
				notice = &m
				return true
			}
		}
		return false
	})
	if !slices.Equal(notice.To, []string{staff}) {
		t.Errorf("notice sent to %v, want %s", notice.To, staff)
	}
	body := string(notice.Data)
	if !strings.Contains(body, "550") || !strings.Contains(body, "user unknown") {
		t.Errorf("notice does not quote the server's answer:\n%s", body)
	}
	ticket := strings.Trim(strings.Fields(notice.Header("Subject"))[0], "[]")
	if !strings.HasPrefix(ticket, "CS-") {
		t.Errorf("notice subject %q does not name the ticket", notice.Header("Subject"))
	}

	// Another message goes through a full outbox round after the failure: had the
	// 550 been treated as temporary (retry due after 50 ms), it would be retried now.
	e.deliver(msg("Bob <bob@acme.test>", "Second question", "after@acme.test", "Build Number: 9653\n"))
	waitFor(t, 30*time.Second, "the reply to the second message", func() bool { return len(sink.attemptsTo("bob@acme.test")) == 1 })
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return r.outboxPending(t) == 0 })
	time.Sleep(300 * time.Millisecond)
	if at := sink.attemptsTo("alice@acme.test"); len(at) != 1 {
		t.Errorf("the 550'd reply was attempted %d times, want exactly 1 (never retried)", len(at))
	}
	var failed []store.OutboxEntry
	if err := r.db.View(func(tx *store.Tx) error {
		for id := uint64(1); id < 50; id++ {
			oe, err := tx.OutboxEntry(id)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			if oe.State == store.OutboxFailed {
				failed = append(failed, *oe)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !slices.Contains(failed[0].To, "alice@acme.test") || !strings.Contains(failed[0].LastError, "550") {
		t.Errorf("outbox entries in state failed: %+v, want the one reply to alice with its 550", failed)
	}

	if v := counter(t, r.metrics, "supportd_replies_failed_total", map[string]string{"kind": "reply", "class": "permanent"}); v != 1 {
		t.Errorf("supportd_replies_failed_total{kind=reply,class=permanent} = %v, want 1", v)
	}
	if v := counter(t, r.metrics, "supportd_replies_failed_total", map[string]string{"class": "temporary"}); v != 0 {
		t.Errorf("supportd_replies_failed_total{class=temporary} = %v, want 0", v)
	}
	logged := false
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "delivery failed permanently") &&
			strings.Contains(line, "550") && strings.Contains(line, ticket) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no ERROR log line for the permanent failure of %s with the 550", ticket)
	}
}
