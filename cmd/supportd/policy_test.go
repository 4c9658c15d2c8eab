package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/harness"
	"supportd/internal/memserver"
	"supportd/internal/testenv"
	"supportd/poller"
	"supportd/store"
)

// Issue 14 item 3: a submission server that refuses our sender (Postfix
// reject_sender_login_mismatch: "553 5.7.1 <support@vendor.test>: Sender
// address rejected: not owned by user") is a configuration fault: the reply,
// the staff copy and everything else stay queued, the log says so at error
// level naming smtp.from and smtp.username, /healthz is unhealthy, a metric
// counts it; once the server accepts our sender, each goes out exactly once.
func TestSenderRefusedKeepsMailQueued(t *testing.T) {
	dv := testenv.Dovecot(t)
	sink, err := memserver.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sink.Username, sink.Password = "mailer@vendor.test", "smtp-pw"
	var refusing atomic.Bool
	refusing.Store(true)
	sink.Fail = func(from string, to []string) error {
		if refusing.Load() {
			return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: "<" + from + ">: Sender address rejected: not owned by user mailer@vendor.test"}
		}
		return nil
	}

	dir := t.TempDir()
	c := config.Default()
	c.Store.Path = filepath.Join(dir, "s.db")
	c.IMAP.Address, c.IMAP.TLS, c.IMAP.Username, c.IMAP.Password = dv.Addr(), "none", dv.User(), dv.Password()
	c.SMTP.Address, c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = sink.Addr(), "none", sink.Username, sink.Password
	c.Support.StaffQueue = "staff@vendor.test"
	c.IMAP.StartAt = "all"
	c.Metrics.Listen = "127.0.0.1:0"
	logs := &harness.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	k, err := c.Build(context.Background(), config.Options{Logger: log,
		Poller: func(pc *poller.Config) { pc.BackoffMin, pc.BackoffMax = 100*time.Millisecond, 500*time.Millisecond },
		Daemon: func(dc *daemon.Config) {
			dc.RetryBackoff = func(int) time.Duration { return 200 * time.Millisecond }
			start := time.Now() // the test mail's deadlines lie ahead, as in production
			dc.Now = func() time.Time { return harness.Received.Add(time.Since(start)) }
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.Store.ImportCustomers(strings.NewReader(harness.Customers), nil); err != nil {
		t.Fatal(err)
	}
	srv, addr, err := serveMetrics(c.Metrics.Listen, k.Metrics, healthOf(k.Poller, k.Mailer), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Daemon.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", harness.Tail(logs.String(), 16<<10))
		}
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	metric := func(name string) int {
		_, body := get("/metrics")
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics has no %s", name)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	pending := func() (n int) {
		k.Store.View(func(tx *store.Tx) error { n, _, _ = tx.OutboxStats(); return nil })
		return n
	}

	for i, from := range []string{"Alice <alice@acme.test>", "Peter <peter@initech.test>"} {
		dv.AppendAt(t, "INBOX", harness.CRLF(harness.Msg(from, "help", "pol"+strconv.Itoa(i)+"@x.test", "Build 9653, it fails.\n")), harness.Received)
	}
	// Two replies and two staff copies, all refused, again and again.
	errLine := regexp.MustCompile(`level=ERROR msg="smtp configuration fault: outgoing mail kept queued" smtp.from=support@vendor.test smtp.username=mailer@vendor.test`)
	harness.WaitFor(t, 20*time.Second, "two refused rounds", func() bool { return len(errLine.FindAllString(logs.String(), -1)) >= 2 })
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "smtp.from") || !strings.Contains(body, "smtp.username") {
		t.Errorf("/healthz while the server refuses our sender: %d %q", code, body)
	}
	if n := metric("supportd_smtp_config_faults_total"); n < 2 {
		t.Errorf("supportd_smtp_config_faults_total = %d, want ≥ 2", n)
	}
	if metric("supportd_smtp_config_fault") != 1 {
		t.Error("supportd_smtp_config_fault is not 1 during the fault")
	}
	if n := pending(); n != 4 {
		t.Fatalf("%d outbox entries pending during the fault, want all 4 (2 replies, 2 staff copies) kept", n)
	}
	if strings.Contains(logs.String(), "delivery failed permanently") {
		t.Fatal("a refused message was failed permanently")
	}

	// The server's sender map is fixed: everything goes out, once.
	refusing.Store(false)
	if _, err := sink.Wait(4, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	harness.WaitFor(t, 10*time.Second, "healthy again", func() bool { code, _ := get("/healthz"); return code == http.StatusOK })
	time.Sleep(time.Second) // a wrong extra copy would show now
	ids := map[string]int{}
	for _, m := range sink.Messages() {
		id := regexp.MustCompile(`(?mi)^Message-Id: *(<[^>]+>)`).FindSubmatch(m.Data)
		if id == nil {
			t.Fatalf("message without Message-ID: %q", m.Data)
		}
		ids[string(id[1])]++
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct messages delivered, want 4: %v", len(ids), ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if metric("supportd_smtp_config_fault") != 0 || pending() != 0 {
		t.Error("fault gauge or outbox not cleared after delivery")
	}
}
