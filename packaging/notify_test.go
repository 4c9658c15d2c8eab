package packaging

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"supportd/internal/testenv"
)

// `supportd run` under Type=notify, as systemd starts it: READY=1 on
// $NOTIFY_SOCKET once started, WATCHDOG=1 more often than $WATCHDOG_USEC while
// it answers mail (real Dovecot and Mailpit), STOPPING=1 on SIGTERM.
func TestRunNotifiesTheServiceManager(t *testing.T) {
	bin := supportdBinary(t)
	dovecot, mailpit := testenv.Dovecot(t), testenv.Mailpit(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var mu sync.Mutex
	var got []string
	var at []time.Time
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			mu.Lock()
			for _, s := range strings.Split(strings.TrimSpace(string(buf[:n])), "\n") {
				got, at = append(got, s), append(at, time.Now())
			}
			mu.Unlock()
		}
	}()
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		c := 0
		for _, x := range got {
			if x == s {
				c++
			}
		}
		return c
	}

	cfg := filepath.Join(dir, "supportd.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`support: {addresses: [support@vendor.test], sales_address: sales@vendor.test}
store: {path: %q}
imap: {address: %q, tls: none, username: %q, password: %q, idle: true}
smtp: {address: %q, tls: none, from: "Support <support@vendor.test>"}
metrics: {listen: "127.0.0.1:0"}
`, filepath.Join(dir, "supportd.db"), dovecot.Addr(), dovecot.User(), dovecot.Password(), mailpit.SMTPAddr())), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := supportd(bin, "--config", cfg, "run")
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=1000000")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("supportd run log:\n%s", b)
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("timed out waiting for %s; notifications %q", what, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("READY=1", func() bool { return count("READY=1") == 1 })
	mu.Lock()
	if got[0] != "READY=1" {
		t.Errorf("first notification %q, want READY=1", got[0])
	}
	mu.Unlock()

	dovecot.Append(t, "INBOX", []byte("From: it@acme.test\r\nTo: support@vendor.test\r\nSubject: Error adding list\r\n"+
		"Message-ID: <notify-1@acme.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +1030\r\n\r\nBuild 9120 on Windows Server 2019.\r\n"))
	mailpit.WaitMessages(t, 1, 20*time.Second)
	wait("watchdog pings", func() bool { return count("WATCHDOG=1") >= 4 })
	mu.Lock()
	var gaps []time.Duration
	for i := 1; i < len(got); i++ {
		if got[i] == "WATCHDOG=1" && got[i-1] == "WATCHDOG=1" {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
	}
	mu.Unlock()
	for _, g := range gaps {
		if g >= time.Second {
			t.Errorf("watchdog ping %v after the previous one, WATCHDOG_USEC is 1 s", g)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("supportd run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("supportd run did not stop within 30 s of SIGTERM")
	}
	if count("STOPPING=1") != 1 {
		t.Errorf("STOPPING=1 sent %d times, want once", count("STOPPING=1"))
	}
}
