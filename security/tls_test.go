package security_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/testenv"
	"supportd/mailer"
	"supportd/poller"
)

func isCertError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	return errors.As(err, &cv) || errors.As(err, &ua)
}

// The poller refuses Dovecot's self-signed certificate (STARTTLS and implicit TLS)
// unless its CA is configured, and cannot be told to skip verification.
func TestTLSPollerVerifiesCertificate(t *testing.T) {
	t.Parallel()
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{TLS: true})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(dv.CertPEM()) {
		t.Fatal("Dovecot's certificate does not parse")
	}
	for _, c := range []struct{ mode, addr string }{{poller.TLSStartTLS, dv.Addr()}, {poller.TLSImplicit, dv.TLSAddr()}} {
		t.Run(c.mode, func(t *testing.T) {
			cfg := poller.Config{Address: c.addr, TLS: c.mode, Username: dv.User(), Password: dv.Password(), DialTimeout: 10 * time.Second}
			ctx := context.Background()
			connect := func(cfg poller.Config) (*poller.Conn, error) {
				p, err := poller.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return p.Connect(ctx)
			}
			conn, err := connect(cfg)
			if err == nil {
				conn.Close()
				t.Fatal("connected to a self-signed server without its CA")
			}
			if !isCertError(err) {
				t.Errorf("refused, but not for the certificate: %v", err)
			}

			cfg.TLSConfig = &tls.Config{RootCAs: pool}
			conn, err = connect(cfg)
			if err != nil {
				t.Fatalf("with the CA (imap.ca_file): %v", err)
			}
			conn.Close()

			cfg.TLSConfig = &tls.Config{InsecureSkipVerify: true}
			if _, err := poller.New(cfg); err == nil || !strings.Contains(err.Error(), "imap.tls") {
				t.Errorf("poller.New with InsecureSkipVerify: %v, want an imap.tls error", err)
			}
		})
	}
	if _, err := poller.New(poller.Config{Address: "192.0.2.10:143", TLS: poller.TLSNone, Username: "u"}); err == nil {
		t.Error("poller accepts tls none towards a non-loopback address")
	}
}

// The mailer refuses a self-signed SMTP server (implicit TLS and STARTTLS) unless
// its CA is configured; nothing is delivered to it; verification cannot be skipped.
func TestTLSMailerVerifiesCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, pemPath := selfSigned(t, dir, "smtp")
	for _, mode := range []string{mailer.TLSImplicit, mailer.TLSStartTLS} {
		t.Run(mode, func(t *testing.T) {
			sink := startTLSSMTP(t, cert, mode == mailer.TLSImplicit)
			env := mailer.Envelope{From: "support@vendor.test", To: []string{"alice@acme.test"}, MessageID: "<tls-test@vendor.test>",
				Data: crlf("From: support@vendor.test\nTo: alice@acme.test\nSubject: tls\nMessage-ID: <tls-test@vendor.test>\n\nhello\n")}
			m, err := mailer.New(mailer.Config{Address: sink.Addr(), TLS: mode, DialTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Send(context.Background(), env)
			m.Close()
			if err == nil {
				t.Fatal("sent to a self-signed server without its CA")
			}
			if !mailer.IsTLSVerification(err) {
				t.Errorf("refused, but not for the certificate: %v", err)
			}
			if n := len(sink.Messages()); n != 0 {
				t.Fatalf("the untrusted server received %d messages", n)
			}

			m, err = mailer.New(mailer.Config{Address: sink.Addr(), TLS: mode, TLSConfig: &tls.Config{RootCAs: poolOf(t, pemPath)},
				DialTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Send(context.Background(), env); err != nil {
				t.Fatalf("with the CA (smtp.ca_file): %v", err)
			}
			m.Close()
			if n := len(sink.Messages()); n != 1 {
				t.Fatalf("server received %d messages, want 1", n)
			}

			if _, err := mailer.New(mailer.Config{Address: sink.Addr(), TLS: mode, TLSConfig: &tls.Config{InsecureSkipVerify: true}}); err == nil {
				t.Error("mailer.New accepts InsecureSkipVerify")
			}
		})
	}
	if _, err := mailer.New(mailer.Config{Address: "192.0.2.25:25", TLS: mailer.TLSNone}); err == nil {
		t.Error("mailer accepts tls none towards a non-loopback address")
	}
}

// `supportd run` against a STARTTLS Dovecot and a STARTTLS SMTP server, both
// self-signed: without imap.ca_file nothing is read; with it the message is read
// but the reply is not handed to the untrusted SMTP server; with smtp.ca_file too
// it is delivered.
func TestTLSDaemonNeedsCAFiles(t *testing.T) {
	t.Parallel()
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{TLS: true})
	dir := t.TempDir()
	cert, smtpCA := selfSigned(t, dir, "smtp")
	sink := startTLSSMTP(t, cert, false)
	imapCA := filepath.Join(dir, "imap.pem")
	if err := os.WriteFile(imapCA, dv.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(csv, []byte(testCustomers), 0o600); err != nil {
		t.Fatal(err)
	}
	uid := dv.AppendAt(t, "INBOX", rawMsg([]string{"From: Alice <alice@acme.test>", "To: support@vendor.test",
		"Subject: TLS please", "Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <tls1@acme.test>"}, "Build Number: 9653\n"), received)
	env := cleanEnv("SUPPORTD_IMAP_PASSWORD=" + dv.Password())

	run := func(name, imapCAFile, smtpCAFile string) (*daemonProc, string) {
		sub := filepath.Join(dir, name)
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := writeConfig(t, sub, fmt.Sprintf(`
store: {path: %q}
imap: {address: %q, tls: starttls, username: %q, ca_file: %q, poll_interval: 1s, start_at: all}
smtp: {address: %q, tls: starttls, ca_file: %q}
metrics: {listen: ""}
log: {level: debug}
`, filepath.Join(sub, "supportd.db"), dv.Addr(), dv.User(), imapCAFile, sink.Addr(), smtpCAFile))
		if out, errOut, code := cli(t, env, "--config", cfg, "customers", "import", csv); code != 0 {
			t.Fatalf("customers import: %s%s", out, errOut)
		}
		return startDaemon(t, env, "--config", cfg, "run"), cfg
	}
	processed := func() bool { return slices.Contains(dv.Keywords(t, "INBOX", uid), daemon.ProcessedKeyword) }

	// No CA at all: the IMAP connection is refused.
	d, _ := run("none", "", "")
	waitFor(t, 20*time.Second, "the IMAP certificate error in the log", func() bool { return strings.Contains(d.output(), "certificate") })
	time.Sleep(time.Second)
	d.stop(t)
	if processed() {
		t.Fatal("the message was read over an unverified IMAP connection")
	}
	if !strings.Contains(d.output(), "imap session failed") {
		t.Errorf("no 'imap session failed' for the certificate:\n%s", d.output())
	}
	t.Logf("without imap.ca_file: %s", lineWith(d.output(), "certificate"))

	// imap.ca_file only: read and decided, but the SMTP server is not trusted.
	d, _ = run("imap", imapCA, "")
	waitFor(t, 20*time.Second, "the message processed with imap.ca_file", processed)
	waitFor(t, 20*time.Second, "the SMTP certificate error in the log", func() bool {
		out := d.output()
		return strings.Contains(out, "delivery failed") && strings.Contains(out, "certificate")
	})
	d.stop(t)
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("the untrusted SMTP server received %d messages", n)
	}
	t.Logf("without smtp.ca_file: %s", lineWith(d.output(), "delivery failed"))

	// Both CA files: delivered. (A fresh store: the first message, tagged
	// $SupportdProcessed by the run above, is not answered again; a new one is.)
	dv.AppendAt(t, "INBOX", rawMsg([]string{"From: Alice <alice@acme.test>", "To: support@vendor.test",
		"Subject: TLS again", "Date: Wed, 25 Nov 2026 10:05:00 +1030", "Message-ID: <tls2@acme.test>"}, "Build Number: 9653\n"), received)
	d, _ = run("both", imapCA, smtpCA)
	waitFor(t, 30*time.Second, "the reply delivered with smtp.ca_file", func() bool { return len(sink.Messages()) == 1 })
	d.stop(t)
	if got := sink.Messages()[0]; !slices.Equal(got.To, []string{"alice@acme.test"}) {
		t.Errorf("delivered to %v, want alice@acme.test", got.To)
	}
}

// `config check` refuses tls: none towards anything but loopback, names the key,
// and knows no switch to turn verification off.
func TestConfigCheckRefusesPlaintextToRemote(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := "SUPPORTD_STORE_PATH=" + filepath.Join(dir, "s.db")
	cases := []struct {
		name    string
		env     []string
		wantErr string // "" = accepted
	}{
		{"imap remote IP", []string{"SUPPORTD_IMAP_ADDRESS=192.0.2.10:143", "SUPPORTD_IMAP_TLS=none"}, "imap.tls"},
		{"imap remote name", []string{"SUPPORTD_IMAP_ADDRESS=imap.example.com:143", "SUPPORTD_IMAP_TLS=none"}, "imap.tls"},
		{"smtp remote IP", []string{"SUPPORTD_SMTP_ADDRESS=192.0.2.25:25", "SUPPORTD_SMTP_TLS=none"}, "smtp.tls"},
		{"smtp remote name", []string{"SUPPORTD_SMTP_ADDRESS=mail.example.com:587", "SUPPORTD_SMTP_TLS=none"}, "smtp.tls"},
		{"skip verify key", []string{"SUPPORTD_IMAP_INSECURE_SKIP_VERIFY=true"}, "SUPPORTD_IMAP_INSECURE_SKIP_VERIFY"},
		{"loopback", []string{"SUPPORTD_IMAP_ADDRESS=127.0.0.1:143", "SUPPORTD_IMAP_TLS=none", "SUPPORTD_SMTP_ADDRESS=localhost:25", "SUPPORTD_SMTP_TLS=none"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := cli(t, cleanEnv(append(c.env, store)...), "config", "check", "--defaults")
			if c.wantErr == "" {
				if code != 0 {
					t.Fatalf("refused a loopback tls none (exit %d): %s%s", code, out, errOut)
				}
				return
			}
			if code == 0 {
				t.Fatalf("accepted (exit 0): %s", out)
			}
			if !strings.Contains(errOut, c.wantErr) {
				t.Errorf("error does not name %s:\n%s", c.wantErr, errOut)
			}
		})
	}
	// The same through a file: an unknown verification switch is an error, not ignored.
	cfg := writeConfig(t, dir, "imap: {tls_skip_verify: true}\n")
	if _, errOut, code := cli(t, cleanEnv(store), "--config", cfg, "config", "check"); code == 0 || !strings.Contains(errOut, "imap.tls_skip_verify") {
		t.Errorf("imap.tls_skip_verify in the file: exit %d, %s", code, errOut)
	}
}

// lineWith returns the first line of s containing sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
