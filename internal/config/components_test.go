package config_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/memserver"
	"supportd/mailer"
	"supportd/poller"
)

// Build turns a configuration file into running components: the settings of the
// file reach the poller, the mailer (timeouts included), the daemon and the
// engine, and the daemon answers a customer end to end over IMAP and SMTP.
func TestBuildFromConfigFileRunsTheFlow(t *testing.T) {
	imapSrv, err := memserver.StartIMAP("support@vendor.test", "pw-from-file")
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	smtpSrv, err := memserver.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Close()

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "imap.pw")
	if err := os.WriteFile(pwFile, []byte("pw-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `
support:
  staff_queue: staff@vendor.test
limits:
  max_message_bytes: 3MiB
  staff_copy_max_bytes: 1MiB
  max_attempts: 5
store:
  path: ` + filepath.Join(dir, "s.db") + `
  raw_retention: 48h
imap:
  address: ` + imapSrv.Addr() + `
  tls: none
  username: support@vendor.test
  password_file: ` + pwFile + `
  batch_size: 7
  start_at: all
smtp:
  address: ` + smtpSrv.Addr() + `
  tls: none
  from: Helpdesk <support@vendor.test>
  timeout: 40s
  max_conns: 3
metrics:
  listen: ""
`
	p := filepath.Join(dir, "supportd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pc poller.Config
	var mc mailer.Config
	var dc daemon.Config
	k, err := c.Build(context.Background(), config.Options{
		Poller: func(x *poller.Config) { pc = *x },
		Mailer: func(x *mailer.Config) { mc = *x },
		Daemon: func(x *daemon.Config) { dc = *x },
	})
	if err != nil {
		t.Fatal(err)
	}
	if pc.Password != "pw-from-file" || pc.BatchSize != 7 || pc.MaxMessageBytes != 3<<20 || pc.SpoolDir != filepath.Join(dir, ".supportd-spool") {
		t.Errorf("poller settings not from the file: password %q batch %d max %d spool %q", pc.Password, pc.BatchSize, pc.MaxMessageBytes, pc.SpoolDir)
	}
	if mc.DialTimeout != 10*time.Second || mc.CommandTimeout != 10*time.Second || mc.DataTimeout != 40*time.Second || mc.MaxConns != 3 {
		t.Errorf("mailer timeouts/conns not from smtp.timeout/max_conns: dial %v command %v data %v conns %d", mc.DialTimeout, mc.CommandTimeout, mc.DataTimeout, mc.MaxConns)
	}
	if dc.MaxAttempts != 5 || dc.RawRetention != 48*time.Hour || dc.StaffCopyMaxBytes != 1<<20 || dc.StaffQueue != "staff@vendor.test" || dc.Parser == nil {
		t.Errorf("daemon settings not from the file: %+v", dc)
	}
	if k.Engine.FromName != "Helpdesk" || k.Engine.Triage.StaffQueue != "staff@vendor.test" {
		t.Errorf("engine: from name %q, staff queue %q", k.Engine.FromName, k.Engine.Triage.StaffQueue)
	}

	raw := "From: Bob <it@acme.test>\r\nTo: support@vendor.test\r\nSubject: site down\r\nMessage-ID: <b1@acme.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\n\r\nThe site is down.\r\n"
	if _, err := imapSrv.Append("INBOX", []byte(raw), time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Daemon.Run(ctx) }()
	got, err := smtpSrv.Wait(2, 20*time.Second) // the reply and the staff copy
	cancel()
	if rerr := <-done; rerr != nil {
		t.Errorf("daemon: %v", rerr)
	}
	if err := k.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var reply, staff bool
	for _, r := range got {
		to := strings.Join(r.To, ",")
		reply = reply || to == "it@acme.test"
		staff = staff || to == "staff@vendor.test"
	}
	if !reply || !staff {
		t.Errorf("want a reply to the customer and a copy to staff, got %d messages: %v", len(got), got)
	}
}

// A secret file that cannot be read stops Build with the key named, before
// anything is opened.
func TestBuildNamesUnreadableSecret(t *testing.T) {
	c := config.Default()
	c.Store.Path = filepath.Join(t.TempDir(), "s.db")
	c.SMTP.PasswordFile = filepath.Join(t.TempDir(), "absent")
	_, err := c.Build(context.Background(), config.Options{})
	if err == nil || !strings.Contains(err.Error(), "smtp.password_file") {
		t.Fatalf("want an error naming smtp.password_file, got %v", err)
	}
	if _, serr := os.Stat(c.Store.Path); !os.IsNotExist(serr) {
		t.Errorf("store created although Build failed: %v", serr)
	}
}

// imap.sent_mailbox reaches Build: the Sent folder's poller exists by
// default (the \Sent folder), for a named folder, and not for "".
func TestBuildWatchesSentUnlessDisabled(t *testing.T) {
	for _, tc := range []struct {
		sent string
		want bool
	}{{config.SentSpecialUse, true}, {"Sent Items", true}, {"", false}} {
		c := config.Default()
		c.Store.Path = filepath.Join(t.TempDir(), "s.db")
		c.IMAP.Address, c.IMAP.TLS = "127.0.0.1:1143", "none"
		c.SMTP.Address, c.SMTP.TLS = "127.0.0.1:1025", "none"
		c.IMAP.SentMailbox = tc.sent
		k, err := c.Build(context.Background(), config.Options{SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatalf("sent_mailbox %q: %v", tc.sent, err)
		}
		if got := k.Sent != nil; got != tc.want {
			t.Errorf("sent_mailbox %q: Sent poller built = %v, want %v", tc.sent, got, tc.want)
		}
		k.Close()
	}
}

// What the poller and the mailer refuse, config check refuses too (it runs
// run's checks), and Build returns it as an error naming the key, never a
// panic.
func TestCheckRefusesWhatBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		edit      func(c *config.Config)
	}{
		{"negative smtp.max_conns", "smtp.max_conns", func(c *config.Config) { c.SMTP.MaxConns = -1 }},
		{"negative imap.batch_size", "imap.batch_size", func(c *config.Config) { c.IMAP.BatchSize = -1 }},
	} {
		c := config.Default()
		c.Store.Path = filepath.Join(t.TempDir(), "s.db")
		c.IMAP.Address, c.IMAP.TLS = "127.0.0.1:1143", "none"
		c.SMTP.Address, c.SMTP.TLS = "127.0.0.1:1025", "none"
		tc.edit(&c)
		if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: config check says %v, want an error naming %s", tc.name, err, tc.key)
		}
		if _, err := c.Build(context.Background(), config.Options{SpoolDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Build says %v, want an error naming %s", tc.name, err, tc.key)
		}
	}
}

// The token refresh sends the client secret and the refresh token: the
// token_url must be https, or http on loopback; config check says so.
func TestCheckRefusesPlainTextTokenURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://login.example/token", true},
		{"http://127.0.0.1:9/token", true},
		{"http://login.example/token", false},
		{"not a url", false},
		{"ftp://login.example/token", false},
	} {
		c := config.Default()
		c.Store.Path = filepath.Join(t.TempDir(), "s.db")
		c.IMAP.OAuth2 = config.OAuth2Config{TokenURL: tc.url, ClientID: "supportd", RefreshToken: "r"}
		err := c.Check(context.Background())
		if tc.ok && err != nil {
			t.Errorf("token_url %q: %v", tc.url, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "imap.oauth2.token_url")) {
			t.Errorf("token_url %q: config check says %v, want an error naming imap.oauth2.token_url", tc.url, err)
		}
	}
}

// An oauth2 section with client settings but no token would be ignored
// (the password used instead): config check says so.
func TestCheckRefusesHalfAnOAuth2Section(t *testing.T) {
	c := config.Default()
	c.Store.Path = filepath.Join(t.TempDir(), "s.db")
	c.SMTP.OAuth2 = config.OAuth2Config{ClientID: "supportd"}
	if err := c.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "smtp.oauth2") {
		t.Errorf("client_id alone: config check says %v, want an error naming smtp.oauth2", err)
	}
}
