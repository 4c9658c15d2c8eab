package security_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/harness"
	"supportd/internal/memserver"
	"supportd/internal/testenv"
)

// testCustomers is what the CLI tests import (the in-process daemon's store
// holds harness.Customers).
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

// received is the INTERNALDATE of test messages (the harness's, inside
// support hours).
var received = harness.Received

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

// --- in-process daemon: the one wiring path (config.Build) via internal/harness ---

// world is a Dovecot, a Mailpit and the daemon running in-process between them.
type world struct {
	dovecot *testenv.DovecotServer
	mailpit *testenv.MailpitServer
}

// startWorld starts the servers and the daemon, configured as the shared test
// world (internal/harness) except that the hourly caps on replies to unknown
// senders are the product defaults, which these tests prove; staffQueue ""
// sends no staff copies; engine adjusts the decision engine.
func startWorld(t *testing.T, staffQueue string, engine func(*daemon.Engine)) *world {
	t.Helper()
	hw := harness.NewWorld(t, true)
	r := hw.Start(harness.Options{Idle: true, StaffQueue: staffQueue, Engine: engine, Settings: func(c *config.Config) {
		def := config.Default().Limits
		c.Limits.UnknownRepliesPerDomain, c.Limits.UnknownRepliesPerHour = def.UnknownRepliesPerDomain, def.UnknownRepliesPerHour
	}})
	t.Cleanup(func() { r.Stop(t) })
	return &world{dovecot: hw.Dovecot, mailpit: hw.Mailpit}
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
