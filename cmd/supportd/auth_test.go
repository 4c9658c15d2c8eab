package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/harness"
	"supportd/internal/memserver"
	"supportd/internal/testenv"
	"supportd/poller"
)

// While the IMAP or SMTP server refuses our login (AUTHENTICATIONFAILED, 535),
// run logs it at error level naming the account and the key, /healthz is
// unhealthy with the reason, supportd_auth_failures_total counts it, and the
// retries go on: rotating the password file is enough, no restart.
func TestAuthFailureReportedAndRetried(t *testing.T) {
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{Password: "imap-right"})
	sink, err := memserver.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	sink.Username, sink.Password = "mailer@vendor.test", "smtp-right"

	dir := t.TempDir()
	imapFile, smtpFile := filepath.Join(dir, "imap.pw"), filepath.Join(dir, "smtp.pw")
	write := func(p, v string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(imapFile, "imap-wrong")
	write(smtpFile, "smtp-wrong")
	c := config.Default()
	c.Store.Path = filepath.Join(dir, "s.db")
	c.IMAP.Address, c.IMAP.TLS, c.IMAP.Username, c.IMAP.PasswordFile = dv.Addr(), "none", dv.User(), imapFile
	c.SMTP.Address, c.SMTP.TLS, c.SMTP.Username, c.SMTP.PasswordFile = sink.Addr(), "none", sink.Username, smtpFile
	c.Metrics.Listen = "127.0.0.1:0"
	if err := c.Check(context.Background()); err != nil {
		t.Fatal(err)
	}

	logs := &harness.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	k, err := c.Build(context.Background(), config.Options{Logger: log,
		// Shorter waits than production (1s..2m reconnects, 1m..1h resends), same code.
		Poller: func(pc *poller.Config) { pc.BackoffMin, pc.BackoffMax = 100*time.Millisecond, 500*time.Millisecond },
		Daemon: func(dc *daemon.Config) { dc.RetryBackoff = func(int) time.Duration { return 200 * time.Millisecond } },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
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
	failures := func(service string) int {
		_, body := get("/metrics")
		m := regexp.MustCompile(`supportd_auth_failures_total\{service="` + service + `"\} (\d+)`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics has no supportd_auth_failures_total for %s", service)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}

	// IMAP refuses the login: logged, unhealthy, counted, retried.
	imapLine := regexp.MustCompile(`level=ERROR msg="imap authentication failed" .*account=default .*user=` + regexp.QuoteMeta(dv.User()) + ` key=imap.password_file `)
	harness.WaitFor(t, 20*time.Second, "two refused IMAP logins in the log", func() bool {
		return len(imapLine.FindAllString(logs.String(), -1)) >= 2
	})
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "imap: authentication failed") ||
		!strings.Contains(body, dv.User()) || !strings.Contains(body, "imap.password_file") {
		t.Errorf("/healthz while IMAP refuses the login: %d %q", code, body)
	}
	if n := failures("imap"); n < 2 {
		t.Errorf("supportd_auth_failures_total{service=imap} = %d, want ≥ 2", n)
	}
	if strings.Contains(logs.String(), "imap-wrong") {
		t.Error("the password is in the log")
	}

	// The password file is rotated: the next retry logs in, without a restart.
	write(imapFile, "imap-right")
	harness.WaitFor(t, 20*time.Second, "IMAP connected after the rotation", func() bool { return k.Poller.Stats().Connected })

	// A message to answer: SMTP refuses our login, the reply stays queued.
	dv.AppendAt(t, "INBOX", harness.CRLF(harness.Msg("Bob <it@acme.test>", "site down", "auth1@acme.test", "It is down.\n")), harness.Received)
	smtpLine := regexp.MustCompile(`level=ERROR msg="smtp authentication failed" .*account=default .*user=mailer@vendor.test key=smtp.password_file `)
	harness.WaitFor(t, 20*time.Second, "a refused SMTP login in the log", func() bool { return smtpLine.MatchString(logs.String()) })
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "smtp: authentication failed") ||
		!strings.Contains(body, "smtp.password_file") || strings.Contains(body, "imap:") {
		t.Errorf("/healthz while SMTP refuses the login: %d %q", code, body)
	}
	if n := failures("smtp"); n < 1 {
		t.Errorf("supportd_auth_failures_total{service=smtp} = %d, want ≥ 1", n)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("a message went out although SMTP refused the login")
	}

	write(smtpFile, "smtp-right")
	if _, err := sink.Wait(1, 20*time.Second); err != nil {
		t.Fatalf("no reply after the SMTP password was rotated: %v", err)
	}
	harness.WaitFor(t, 10*time.Second, "healthy again", func() bool { code, _ := get("/healthz"); return code == http.StatusOK })
}
