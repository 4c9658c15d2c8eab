package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/harness"
	"supportd/internal/testenv"
)

// Issue 14's TLS acceptance: `supportd run`, configured by a file, against a
// real Dovecot with ssl = required presenting a root + intermediate chain
// (STARTTLS) and a real Mailpit with an auth file and required STARTTLS.
// testenv.NewPKI issues the chain and the wrong-CA and wrong-name
// certificates.

const tlsSMTPUser, tlsSMTPPass = "support@vendor.test", "smtp-right"

// tlsRig is one test's servers, CA file and store.
type tlsRig struct {
	t      *testing.T
	pki    *testenv.PKI
	dv     *testenv.DovecotServer
	mp     *testenv.MailpitServer
	caFile string // the root only
	dbPath string
}

func newTLSRig(t *testing.T, pki *testenv.PKI, imapCert, smtpCert *testenv.Cert) *tlsRig {
	t.Helper()
	dir := t.TempDir()
	return &tlsRig{
		t:      t,
		pki:    pki,
		dv:     testenv.StartDovecot(t, &testenv.DovecotOptions{Cert: imapCert, SSLRequired: true}),
		mp:     testenv.StartMailpit(t, &testenv.MailpitOptions{Username: tlsSMTPUser, Password: tlsSMTPPass, Cert: smtpCert}),
		caFile: pki.Leaf.WriteCAFile(t, dir, "root-ca.pem"),
		dbPath: filepath.Join(dir, "supportd.db"),
	}
}

// config is the file of one run; imapTLS is imap.tls (implicit: Dovecot's
// imaps port), imapExtra and smtpExtra are flow-map entries
// (", tls_server_name: …") appended to the sections.
func (r *tlsRig) config(imapTLS, imapExtra, smtpExtra string) string {
	r.t.Helper()
	addr := r.dv.Addr()
	if imapTLS == "implicit" {
		addr = r.dv.TLSAddr()
	}
	return writeConfig(r.t, fmt.Sprintf(`
store: {path: %q}
imap: {address: %q, tls: %s, username: %q, ca_file: %q, poll_interval: 1s, start_at: all%s}
smtp: {address: %q, tls: starttls, username: %q, ca_file: %q%s}
metrics: {listen: ""}
log: {level: debug}
`, r.dbPath, addr, imapTLS, r.dv.User(), r.caFile, imapExtra, r.mp.SMTPAddr(), tlsSMTPUser, r.caFile, smtpExtra))
}

// deliver puts a customer's message into the INBOX and returns its UID.
func (r *tlsRig) deliver(id string) uint32 {
	r.t.Helper()
	return r.dv.AppendAt(r.t, "INBOX", harness.CRLF(harness.Msg("Alice <alice@acme.test>", "Backup fails "+id, id+"@acme.test", "Build 9653\n")), harness.Received)
}

func (r *tlsRig) processed(uid uint32) bool {
	return slices.Contains(r.dv.Keywords(r.t, "INBOX", uid), daemon.ProcessedKeyword)
}

// logMark is the size of Dovecot's log now: dovecotLogins(mark) reads what
// was logged after it.
func (r *tlsRig) logMark() int {
	r.t.Helper()
	fi, err := os.Stat(r.dv.LogPath())
	if err != nil {
		r.t.Fatal(err)
	}
	return int(fi.Size())
}

// dovecotLogins are the lines Dovecot logged after mark that record a login,
// failed or not (a failed TLS handshake logs "no auth attempts" instead).
// The test's own sessions (deliver, processed) log in too: take the mark
// after them and read before the next.
func (r *tlsRig) dovecotLogins(mark int) (logins []string, all string) {
	r.t.Helper()
	b, err := os.ReadFile(r.dv.LogPath())
	if err != nil {
		r.t.Fatal(err)
	}
	all = string(b[mark:])
	for _, l := range strings.Split(all, "\n") {
		if strings.Contains(l, "Login:") || strings.Contains(l, "Login failed") || strings.Contains(l, "auth failed") {
			logins = append(logins, l)
		}
	}
	return logins, all
}

// requeuePending makes the pending outbox entries due now (`supportd outbox
// retry ID…`, as an operator would after a fix) and returns how many.
func (r *tlsRig) requeuePending() int {
	r.t.Helper()
	env := []string{"SUPPORTD_STORE_PATH=" + r.dbPath}
	out, _, err := cli(r.t, env, "outbox", "list")
	if err != nil {
		r.t.Fatalf("outbox list: %v", err)
	}
	var ids []string
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "pending" {
			ids = append(ids, f[0])
		}
	}
	if len(ids) == 0 {
		r.t.Fatalf("nothing pending in the outbox:\n%s", out)
	}
	if out, _, err := cli(r.t, env, append([]string{"outbox", "retry"}, ids...)...); err != nil {
		r.t.Fatalf("outbox retry: %v\n%s", err, out)
	}
	return len(ids)
}

// waitDovecotLog waits until Dovecot (which logs a closed connection a moment
// later) has logged want after mark.
func (r *tlsRig) waitDovecotLog(mark int, want string) {
	r.t.Helper()
	harness.WaitFor(r.t, 10*time.Second, "Dovecot logging "+want, func() bool { _, all := r.dovecotLogins(mark); return strings.Contains(all, want) })
}

// cliRun is `supportd run` in-process.
type cliRun struct {
	logs   *harness.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startRun(t *testing.T, cfg string, env []string) *cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	r := &cliRun{logs: &harness.SyncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		root := newRootCmd(io.Discard, r.logs, env)
		root.SetArgs([]string{"--config", cfg, "run"})
		r.done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("supportd log:\n%s", harness.Tail(r.logs.String(), 16<<10))
		}
	})
	return r
}

// stop ends the run and returns its error (idempotent).
func (r *cliRun) stop() error {
	r.cancel()
	err, ok := <-r.done
	if ok {
		close(r.done)
	}
	return err
}

// waitLog waits for a log line matching re and returns it.
func (r *cliRun) waitLog(t *testing.T, what string, re *regexp.Regexp) string {
	t.Helper()
	var line string
	harness.WaitFor(t, 20*time.Second, what, func() bool { line = re.FindString(r.logs.String()); return line != "" })
	return line
}

// mustSay fails t unless the log line contains every one of wants.
func mustSay(t *testing.T, line string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(line, w) {
			t.Errorf("the error does not say %q: %s", w, line)
		}
	}
}

func tlsEnv(dv *testenv.DovecotServer, smtpPass string) []string {
	return []string{"SUPPORTD_IMAP_PASSWORD=" + dv.Password(), "SUPPORTD_SMTP_PASSWORD=" + smtpPass}
}

// The chain verifies with only the root in imap.ca_file and smtp.ca_file:
// supportd fetches the message over STARTTLS (then implicit TLS) from Dovecot
// (ssl = required) and delivers the reply to Mailpit over STARTTLS with AUTH;
// restarted on a fresh store it answers nothing old.
func TestTLSChainRootOnlyFetchesAndAnswers(t *testing.T) {
	pki := testenv.NewPKI(t)
	r := newTLSRig(t, pki, pki.Leaf, pki.Leaf)
	uid := r.deliver("chain")
	mark := r.logMark()
	run := startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, tlsSMTPPass))

	msgs := r.mp.WaitMessages(t, 1, 30*time.Second)
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	logins, _ := r.dovecotLogins(mark)
	if len(logins) == 0 || slices.ContainsFunc(logins, func(l string) bool { return !strings.Contains(l, "Login:") || !strings.Contains(l, ", TLS") }) {
		t.Errorf("supportd's logins must all be over TLS: %q", logins)
	}
	if len(msgs) != 1 || msgs[0].Username != tlsSMTPUser || len(msgs[0].To) != 1 || msgs[0].To[0].Address != "alice@acme.test" {
		t.Fatalf("Mailpit holds %+v, want one reply to alice@acme.test sent as %s", msgs, tlsSMTPUser)
	}
	if !r.processed(uid) {
		t.Errorf("the message is not tagged %s", daemon.ProcessedKeyword)
	}

	// Implicit TLS (imaps) verifies the same chain.
	uid = r.deliver("chain-implicit")
	run = startRun(t, r.config("implicit", "", ""), tlsEnv(r.dv, tlsSMTPPass))
	r.mp.WaitMessages(t, 2, 30*time.Second)
	if err := run.stop(); err != nil {
		t.Fatalf("run over implicit TLS: %v", err)
	}
	if !r.processed(uid) || !strings.Contains(run.logs.String(), "tls=implicit") {
		t.Errorf("the second message was not read over implicit TLS")
	}

	// A fresh store (lost database, second instance) with start_at all, over
	// TLS: the two tagged messages are not answered again; a new one is.
	r.dbPath = filepath.Join(filepath.Dir(r.dbPath), "fresh.db")
	uid = r.deliver("chain-fresh")
	run = startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, tlsSMTPPass))
	r.mp.WaitMessages(t, 3, 30*time.Second)
	time.Sleep(time.Second)
	if err := run.stop(); err != nil {
		t.Fatalf("run on a fresh store: %v", err)
	}
	if n := len(r.mp.Messages(t)); n != 3 || !r.processed(uid) {
		t.Errorf("a fresh store: Mailpit holds %d messages, want 3 (nothing old answered again)", n)
	}
}

// A certificate from another CA is refused, IMAP and SMTP alike, with an error
// naming the key to fix and the server; nothing is read or sent, and there is
// no fallback to plain text.
func TestTLSWrongCARefused(t *testing.T) {
	pki := testenv.NewPKI(t)

	t.Run("imap", func(t *testing.T) {
		r := newTLSRig(t, pki, pki.WrongCA, pki.Leaf)
		uid := r.deliver("wrongca")
		mark := r.logMark()
		run := startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, tlsSMTPPass))
		line := run.waitLog(t, "the certificate error", regexp.MustCompile(`.*imap session failed.*`))
		// Two more attempts: the poller retries, never without TLS.
		harness.WaitFor(t, 20*time.Second, "a second attempt", func() bool { return strings.Count(run.logs.String(), "imap session failed") >= 2 })
		if err := run.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		r.waitDovecotLog(mark, "TLS handshaking")
		if logins, _ := r.dovecotLogins(mark); len(logins) != 0 {
			t.Errorf("Dovecot saw logins (plain-text fallback?): %q", logins)
		}
		mustSay(t, line, "imap.ca_file", r.dv.Addr(), "not issued by a trusted CA")
		if r.processed(uid) {
			t.Error("the message was processed over an untrusted connection")
		}
		if n := len(r.mp.Messages(t)); n != 0 {
			t.Errorf("%d messages sent", n)
		}
	})

	t.Run("smtp", func(t *testing.T) {
		r := newTLSRig(t, pki, pki.Leaf, pki.WrongCA)
		uid := r.deliver("wrongca-smtp")
		run := startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, tlsSMTPPass))
		line := run.waitLog(t, "the SMTP certificate error", regexp.MustCompile(`.*smtp TLS certificate verification failed.*`))
		if err := run.stop(); err != nil {
			t.Fatalf("run: %v", err)
		}
		mustSay(t, line, "smtp.ca_file", r.mp.SMTPAddr(), "not issued by a trusted CA")
		if !r.processed(uid) {
			t.Error("the message was not read (IMAP is trusted)")
		}
		if n := len(r.mp.Messages(t)); n != 0 {
			t.Fatalf("%d messages handed to the untrusted SMTP server", n)
		}
		out, _, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + r.dbPath}, "outbox", "list")
		if err != nil || !strings.Contains(out, "pending") || strings.Contains(out, "failed") {
			t.Errorf("the reply must stay queued (pending): %v\n%s", err, out)
		}
	})
}

// A certificate for mail.vendor.test, the servers reached as IP addresses:
// refused, naming imap.tls_server_name, then smtp.tls_server_name; with each
// set to mail.vendor.test it works.
func TestTLSWrongNameNeedsServerName(t *testing.T) {
	pki := testenv.NewPKI(t)
	r := newTLSRig(t, pki, pki.WrongName, pki.WrongName)
	uid := r.deliver("wrongname")

	run := startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, tlsSMTPPass))
	line := run.waitLog(t, "the host name error", regexp.MustCompile(`.*imap session failed.*`))
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	mustSay(t, line, "imap.tls_server_name", testenv.WrongNameHost, r.dv.Addr())
	if r.processed(uid) {
		t.Fatal("processed although the certificate does not name the server")
	}

	// imap.tls_server_name: read; the SMTP server's certificate is refused
	// in turn, naming smtp.tls_server_name, and the reply waits.
	name := ", tls_server_name: " + testenv.WrongNameHost
	run = startRun(t, r.config("starttls", name, ""), tlsEnv(r.dv, tlsSMTPPass))
	line = run.waitLog(t, "the SMTP host name error", regexp.MustCompile(`.*smtp TLS certificate verification failed.*`))
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	mustSay(t, line, "smtp.tls_server_name", testenv.WrongNameHost, r.mp.SMTPAddr())
	if !r.processed(uid) {
		t.Fatal("not read with imap.tls_server_name")
	}
	if n := len(r.mp.Messages(t)); n != 0 {
		t.Fatalf("%d messages sent to a server whose certificate names another host", n)
	}

	// smtp.tls_server_name too: the reply goes out.
	n := r.requeuePending()
	run = startRun(t, r.config("starttls", name, name), tlsEnv(r.dv, tlsSMTPPass))
	r.mp.WaitMessages(t, n, 30*time.Second)
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// Plain text to a Dovecot with ssl = required: supportd (imap.tls: none, which
// it allows towards loopback only) never sends the password and says to set
// imap.tls; towards a name that is not loopback, tls: none is refused before
// anything is dialled.
func TestTLSPlaintextToSSLRequiredRefused(t *testing.T) {
	pki := testenv.NewPKI(t)
	r := newTLSRig(t, pki, pki.Leaf, pki.Leaf)
	uid := r.deliver("plain")
	mark := r.logMark()
	run := startRun(t, r.config("none", "", ""), tlsEnv(r.dv, tlsSMTPPass))
	line := run.waitLog(t, "the refusal", regexp.MustCompile(`.*imap session failed.*`))
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	r.waitDovecotLog(mark, "no auth attempts")
	if logins, dlog := r.dovecotLogins(mark); len(logins) != 0 || strings.Contains(dlog, ", TLS") {
		t.Errorf("a login or TLS from supportd (tls: none): %q\n%s", logins, dlog)
	}
	if !strings.Contains(line, "requires TLS") || !strings.Contains(line, "imap.tls") {
		t.Errorf("the error does not say to set imap.tls: %s", line)
	}
	if r.processed(uid) {
		t.Error("processed over plain text")
	}

	// The loopback rule: the same server named mail.vendor.test (not loopback).
	_, port, _ := strings.Cut(r.dv.Addr(), ":")
	cfg := writeConfig(t, fmt.Sprintf(`
store: {path: %q}
imap: {address: "%s:%s", tls: none, username: %q, start_at: all}
smtp: {address: %q, tls: starttls}
metrics: {listen: ""}
`, r.dbPath, testenv.WrongNameHost, port, r.dv.User(), r.mp.SMTPAddr()))
	for _, args := range [][]string{{"config", "check"}, {"run"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, _, err := cliCtx(ctx, tlsEnv(r.dv, tlsSMTPPass), append([]string{"--config", cfg}, args...)...)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "imap.tls") {
			t.Errorf("%s with tls: none towards %s: %v, want an error naming imap.tls", args[0], testenv.WrongNameHost, err)
		}
	}
}

// Mailpit refuses the SMTP password: the error names smtp.username, the reply
// stays queued (an authentication failure is the configuration's, not the
// message's), nothing is sent; with the right password and the entry
// re-queued it goes out once.
func TestTLSMailpitWrongPasswordKeepsQueued(t *testing.T) {
	pki := testenv.NewPKI(t)
	r := newTLSRig(t, pki, pki.Leaf, pki.Leaf)
	uid := r.deliver("password")
	storeEnv := []string{"SUPPORTD_STORE_PATH=" + r.dbPath}

	run := startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, "smtp-wrong"))
	line := run.waitLog(t, "the refused login", regexp.MustCompile(`.*smtp authentication failed.*`))
	harness.WaitFor(t, 20*time.Second, "the delivery failure recorded", func() bool { return strings.Contains(run.logs.String(), "delivery failed, will retry") })
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(line, "smtp.username") || !strings.Contains(line, tlsSMTPUser) || strings.Contains(run.logs.String(), "smtp-wrong") {
		t.Errorf("the log line must name smtp.username and the account, never the password: %s", line)
	}
	if !r.processed(uid) {
		t.Error("the message was not read")
	}
	if n := len(r.mp.Messages(t)); n != 0 {
		t.Fatalf("%d messages sent without a valid login", n)
	}
	out, _, err := cli(t, storeEnv, "outbox", "list")
	if err != nil || strings.Contains(out, "failed") || !strings.Contains(out, "pending") || !strings.Contains(out, "smtp.username") {
		t.Fatalf("outbox after the refused login: %v\n%s", err, out)
	}
	n := r.requeuePending()
	run = startRun(t, r.config("starttls", "", ""), tlsEnv(r.dv, tlsSMTPPass))
	r.mp.WaitMessages(t, n, 30*time.Second)
	time.Sleep(1500 * time.Millisecond) // a second poll: nothing goes out twice
	if err := run.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	msgs := r.mp.Messages(t)
	if len(msgs) != n || msgs[0].Username != tlsSMTPUser {
		t.Fatalf("after the fix: %d messages (want %d, once each) %+v", len(msgs), n, msgs)
	}
	if out, _, _ := cli(t, storeEnv, "outbox", "list"); strings.Contains(out, "pending") {
		t.Errorf("entries still queued after the fix:\n%s", out)
	}
}
