package security_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"supportd/internal/config"
	"supportd/internal/harness"
	"supportd/internal/memserver"

	"supportd/daemon"
	"supportd/entitlement"
	"supportd/internal/testenv"
	"supportd/mailer"
	"supportd/poller"
	"supportd/sla"
	"supportd/store"
	"supportd/templates"
	"supportd/triage"
	"supportd/versions"
)

const testCustomers = `id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module
C100,Acme Pty Ltd,it@acme.test,acme.test,enterprise,2027-06-30,,false,false,true
C500,Hooli Ltd,,hooli.test,enterprise,2026-08-31,,false,false,false
`

// binPath is the supportd binary built by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "supportd-security-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "supportd")
	build := exec.Command("go", "build", "-o", binPath, "supportd/cmd/supportd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "security tests: building supportd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test's environment without SUPPORTD_* variables (the CLI
// refuses unknown ones, and the test environment sets e.g. SUPPORTD_DOVECOT).
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUPPORTD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// cli runs the binary to completion (umask 000, so any file it creates with loose
// permissions shows) and returns stdout, stderr and the exit code.
func cli(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `umask 000; exec "$0" "$@"`, binPath}, args...)...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("supportd %v: %v", args, err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("supportd %v did not finish within 60s", args)
	}
	return out.String(), errb.String(), code
}

// daemonProc is `supportd run` in the background.
type daemonProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
}

func startDaemon(t testing.TB, env []string, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `umask 000; exec "$0" "$@"`, binPath}, args...)...)
	cmd.Env = env
	d := &daemonProc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = d.stdout, d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return d
}

// stop sends SIGTERM and waits for the exit (the daemon drains gracefully).
func (d *daemonProc) stop(t testing.TB) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Fatalf("supportd run did not stop within 30s of SIGTERM; stderr:\n%s", d.stderr.String())
	}
}

// output is everything the process wrote.
func (d *daemonProc) output() string { return d.stdout.String() + d.stderr.String() }

// writeConfig writes a YAML configuration file and returns its path.
func writeConfig(t testing.TB, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "supportd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// selfSigned generates a self-signed certificate for 127.0.0.1 and localhost and
// writes its PEM to dir/name.pem; it returns the server certificate and the PEM path.
func selfSigned(t testing.TB, dir, name string) (tls.Certificate, string) {
	t.Helper()
	c := testenv.SelfSigned(t, "supportd security test "+name)
	path := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(path, c.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return c.TLS, path
}

func poolOf(t testing.TB, pemPath string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(pemPath)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", pemPath)
	}
	return p
}

// startTLSSMTP starts the recording SMTP server with cert (implicit TLS or
// STARTTLS).
func startTLSSMTP(t testing.TB, cert tls.Certificate, implicit bool) *memserver.SMTP {
	t.Helper()
	s, err := memserver.StartSMTPWith(memserver.SMTPOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Implicit: implicit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// syncBuffer is the shared harness's concurrency-safe log sink.
type syncBuffer = harness.SyncBuffer

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, timeout, what, cond)
}

// received is the INTERNALDATE of test messages: Wednesday 25 November 2026,
// 10:00 in Adelaide, inside support hours.
var received = time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)

func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// rawMsg builds a message from header lines (as written) and a body.
func rawMsg(headers []string, body string) []byte {
	var b strings.Builder
	for _, h := range headers {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
	b.WriteString(body)
	return crlf(b.String())
}

// --- in-process daemon (as daemon/harness_test.go) ---

func newEngine(t testing.TB) *daemon.Engine {
	t.Helper()
	sc, err := config.Default().SLAConfig()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := sla.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	return &daemon.Engine{
		Policy:   entitlement.Policy{Location: loc, TrustedAuthservIDs: []string{"mx.vendor.test"}, PublicDomains: []string{"gmail.com"}},
		Calendar: cal,
		Majors: []versions.Major{
			{Major: 9, FirstBuild: 9000, LastBuild: 9999, Released: day("2021-02-15")},
			{Major: 8, FirstBuild: 8000, LastBuild: 8999, Released: day("2017-06-01")},
		},
		Triage:       triage.Config{OwnAddresses: []string{"support@vendor.test"}, SalesAddress: "sales@vendor.test", RepliesPerDay: 3},
		Renderer:     r,
		FromName:     "Support",
		FromAddr:     "support@vendor.test",
		SupportHours: "Monday to Friday 06:00–18:00 Adelaide time",
	}
}

// world is a Dovecot, a Mailpit and a daemon running in-process between them.
type world struct {
	dovecot *testenv.DovecotServer
	mailpit *testenv.MailpitServer
	logs    *syncBuffer
}

// startWorld starts the servers and the daemon; staffQueue "" sends no staff
// copies; engine adjusts the decision engine.
func startWorld(t *testing.T, staffQueue string, engine func(*daemon.Engine)) *world {
	t.Helper()
	w := &world{dovecot: testenv.Dovecot(t), mailpit: testenv.Mailpit(t), logs: &syncBuffer{}}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "supportd.db")
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := poller.New(poller.Config{
		Address: w.dovecot.Addr(), TLS: "none", Username: w.dovecot.User(), Password: w.dovecot.Password(),
		Mailbox: "INBOX", Idle: true, PollInterval: 2 * time.Second, SpoolDir: spool,
		BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, Logger: log.With("component", "imap"),
		StartAt: poller.StartAt{Mode: poller.StartAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mailer.New(mailer.Config{Address: w.mailpit.SMTPAddr(), TLS: "none", Logger: log.With("component", "smtp"), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t)
	eng.Triage.StaffQueue = staffQueue
	if engine != nil {
		engine(eng)
	}
	start := time.Now() // the clock runs from the test mail's date, so its deadlines lie ahead
	d := daemon.New(daemon.Config{Mailbox: "INBOX", StaffQueue: staffQueue, QuarantineFolder: "Quarantine",
		RetryBackoff: func(int) time.Duration { return 200 * time.Millisecond }, DrainTimeout: 5 * time.Second,
		Now: func() time.Time { return received.Add(time.Since(start)) }},
		eng, db, p, m, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx); m.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s")
		}
		db.Close()
		if t.Failed() {
			t.Logf("daemon log:\n%s", w.logs.String())
		}
	})
	return w
}

func (w *world) deliver(t testing.TB, raw []byte) uint32 {
	t.Helper()
	return w.dovecot.AppendAt(t, "INBOX", raw, received)
}

// settle waits for n messages at Mailpit, then a little longer for any extra one.
func (w *world) settle(t testing.TB, n int) []testenv.MailpitMessage {
	t.Helper()
	w.mailpit.WaitMessages(t, n, 30*time.Second)
	time.Sleep(700 * time.Millisecond)
	msgs := w.mailpit.Messages(t)
	if len(msgs) != n {
		var subj []string
		for _, m := range msgs {
			subj = append(subj, fmt.Sprintf("%q to %v", m.Subject, m.To))
		}
		t.Fatalf("Mailpit holds %d messages, want exactly %d:\n%s", len(msgs), n, strings.Join(subj, "\n"))
	}
	return msgs
}
