package testenv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// PostfixOptions configures StartPostfix. A nil pointer means defaults.
type PostfixOptions struct {
	// Domains are delivered into Dovecot (virtual_mailbox_domains); default:
	// the domains of the Dovecot instance's logins.
	Domains []string
	// SenderLogins is smtpd_sender_login_maps of the submission port: which
	// SASL logins may use a sender address. Default: every login owns its
	// own address.
	SenderLogins map[string][]string
	// SASLPath replaces Dovecot's auth socket as smtpd_sasl_path (a path
	// where nothing listens makes smtpd die after STARTTLS, as a Postfix
	// whose SASL backend is missing does).
	SASLPath string
	// StrictHELO judges HELO when it is said (smtpd_delay_reject = no on
	// the submission port) rather than at RCPT TO: the EHLO before STARTTLS
	// must be fully qualified too.
	StrictHELO bool
}

// PostfixServer is a private Postfix instance on loopback (Debian package
// postfix), built as a customer's IT runs one in front of Dovecot:
//
//   - MX (MXAddr): accepts mail for Domains and delivers it to Dovecot over
//     LMTP, one recipient per transaction (lmtp_destination_recipient_limit
//     = 1, so Dovecot adds Delivered-To), recipient_delimiter = +.
//   - Submission (SubmissionAddr): STARTTLS required, SASL through Dovecot's
//     auth socket, reject_sender_login_mismatch, and a HELO restriction
//     (reject_non_fqdn_helo_hostname): "EHLO localhost" is refused.
//
// Nothing is relayed off the machine: any other domain bounces.
type PostfixServer struct {
	dir     string
	conf    string // config_directory
	queue   string // queue_directory
	logPath string // maillog_file
	errPath string // the master's stdout/stderr

	mxPort, subPort int
	cert            *Cert
	sasl            string // Dovecot's auth socket
	strictHELO      bool
	dv              *DovecotServer // where the MX delivers (Deliver)

	proc *process
}

// StartPostfix starts Postfix for dv (started with DovecotOptions.LMTP),
// waits until both ports greet, and registers a cleanup that stops it. It
// skips or fails t if postfix is not installed.
//
// Why the instance is started as it is: the postfix(1) command reports its
// own fatal errors on stderr only when stderr is a terminal, else only to
// syslog/postlogd, so a failure under `go test` is silent (run `script -qec
// "postfix -c DIR check" /dev/null` to see them). It also refuses a
// maillog_file outside maillog_file_prefixes (default /var and /dev/stdout),
// which is what a private log file in a temporary directory hit. So main.cf
// widens maillog_file_prefixes to the instance directory, the queue directory
// is laid out here (makeQueue) rather than by `postfix check`, and the master
// daemon runs as our child in the foreground (`master -d -c DIR`, its output
// in stderr.log), which `postfix start` would detach into a session of its
// own. As root no alternate_config_directories entry in /etc/postfix/main.cf
// is needed for -c; the system configuration is neither read nor changed.
func StartPostfix(t testing.TB, dv *DovecotServer, opts *PostfixOptions) *PostfixServer {
	t.Helper()
	if opts == nil {
		opts = &PostfixOptions{}
	}
	bin, ok := lookBinary("SUPPORTD_POSTFIX", "postfix", []string{"/usr/sbin/postfix"}, true)
	if !ok {
		missingBinary(t, "postfix", "Debian package postfix")
	}
	if !dv.lmtp {
		t.Fatal("testenv: postfix needs a Dovecot started with DovecotOptions.LMTP")
	}
	if os.Geteuid() != 0 {
		// The master daemon must start as root (it drops to mail_owner).
		missingBinary(t, "root for postfix", "Postfix's master daemon runs as root")
	}
	postconf := filepath.Join(filepath.Dir(bin), "postconf")
	out, err := exec.Command(postconf, "-d", "-h", "daemon_directory").Output()
	if err != nil {
		t.Fatalf("testenv: postfix: postconf -d daemon_directory: %v", err)
	}
	master := filepath.Join(strings.TrimSpace(string(out)), "master")

	dir, err := os.MkdirTemp("", "supportd-postfix-")
	if err != nil {
		t.Fatalf("testenv: postfix dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &PostfixServer{
		dv:      dv,
		dir:     dir,
		conf:    filepath.Join(dir, "conf"),
		queue:   filepath.Join(dir, "queue"),
		logPath: filepath.Join(dir, "postfix.log"),
		errPath: filepath.Join(dir, "stderr.log"),
	}
	if err := s.prepare(dv, opts); err != nil {
		t.Fatalf("testenv: postfix: %v", err)
	}
	logTailOnFailure(t, "postfix", s.logPath, s.errPath)

	startOnFreePorts(t, "postfix", func() error {
		s.mxPort, s.subPort = freePort(t), freePort(t)
		if err := s.writeMasterCf(); err != nil {
			t.Fatalf("testenv: postfix: %v", err)
		}
		return s.start(master)
	}, s.logPath, s.errPath)
	t.Cleanup(s.Stop)
	return s
}

// prepare writes main.cf, the lookup tables and the certificate.
func (s *PostfixServer) prepare(dv *DovecotServer, opts *PostfixOptions) error {
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", s.dir, err)
	}
	data := filepath.Join(s.dir, "data")
	for _, d := range []string{s.conf, s.queue, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("user postfix (created by the Debian package): %w", err)
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	if err := os.Chown(data, uid, gid); err != nil { // data_directory belongs to mail_owner
		return fmt.Errorf("chown %s: %w", data, err)
	}
	if err := makeQueue(s.queue, uid); err != nil {
		return err
	}

	s.sasl = dv.AuthSocket()
	s.strictHELO = opts.StrictHELO
	if opts.SASLPath != "" {
		s.sasl = opts.SASLPath
	}
	logins := append([]string{dv.user}, dv.users...)
	domains := opts.Domains
	if len(domains) == 0 {
		seen := map[string]bool{}
		for _, l := range logins {
			if i := strings.LastIndexByte(l, '@'); i >= 0 && !seen[l[i+1:]] {
				seen[l[i+1:]] = true
				domains = append(domains, l[i+1:])
			}
		}
	}
	senders := opts.SenderLogins
	if senders == nil {
		senders = map[string][]string{}
		for _, l := range logins {
			senders[l] = []string{l}
		}
	}
	var mailboxes, owners strings.Builder
	for _, l := range logins {
		fmt.Fprintf(&mailboxes, "%s OK\n", l)
	}
	keys := make([]string, 0, len(senders))
	for k := range senders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&owners, "%s %s\n", k, strings.Join(senders[k], ","))
	}
	tables := map[string]string{"mailboxes": mailboxes.String(), "sender_logins": owners.String()}
	for name, body := range tables {
		if err := os.WriteFile(filepath.Join(s.conf, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}

	c, err := NewCert("supportd testenv postfix")
	if err != nil {
		return err
	}
	s.cert = c
	if err := os.WriteFile(s.CertFile(), c.CertPEM, 0o644); err != nil {
		return fmt.Errorf("write cert: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.conf, "key.pem"), c.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Generated by supportd/internal/testenv. Loopback only, nothing leaves the machine.")
	p("compatibility_level = 3.6")
	p("config_directory = %s", s.conf)
	p("queue_directory = %s", s.queue)
	p("data_directory = %s", data)
	p("mail_owner = postfix")
	p("setgid_group = postdrop")
	p("inet_interfaces = 127.0.0.1")
	p("inet_protocols = ipv4")
	p("myhostname = mx.vendor.test")
	p("mydestination =")
	p("mynetworks = 127.0.0.0/8")
	p("maillog_file = %s", s.logPath)
	p("maillog_file_prefixes = %s", s.dir)
	p("alias_maps =")
	p("alias_database =")
	p("smtputf8_enable = no")
	p("biff = no")
	p("smtpd_banner = $myhostname ESMTP")
	// Nothing is relayed off the machine, and no DNS is asked.
	p("default_transport = error:5.7.1 no mail leaves the test machine")
	p("relay_transport = error:5.7.1 no mail leaves the test machine")
	p("disable_dns_lookups = yes")
	p("smtp_dns_support_level = disabled")
	p("virtual_mailbox_domains = %s", strings.Join(domains, " "))
	p("virtual_mailbox_maps = texthash:%s", filepath.Join(s.conf, "mailboxes"))
	p("virtual_transport = lmtp:unix:%s", dv.LMTPSocket())
	p("recipient_delimiter = +")
	// One recipient per LMTP transaction: Dovecot adds Delivered-To only then.
	p("lmtp_destination_recipient_limit = 1")
	p("smtpd_tls_cert_file = %s", s.CertFile())
	p("smtpd_tls_key_file = %s", filepath.Join(s.conf, "key.pem"))
	p("smtpd_sender_login_maps = texthash:%s", filepath.Join(s.conf, "sender_logins"))
	// Quick retries: a test that makes the LMTP side fail sees it soon.
	p("queue_run_delay = 1s")
	p("minimal_backoff_time = 1s")
	p("maximal_backoff_time = 2s")
	p("smtpd_error_sleep_time = 0")
	if err := os.WriteFile(filepath.Join(s.conf, "main.cf"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write main.cf: %w", err)
	}
	return nil
}

// makeQueue lays out the queue directory as Debian's postfix-files does
// (what `postfix check` would do, in 3.5 s of scanning system directories).
func makeQueue(queue string, uid int) error {
	g, err := user.LookupGroup("postdrop")
	if err != nil {
		return fmt.Errorf("group postdrop (created by the Debian package): %w", err)
	}
	postdrop, _ := strconv.Atoi(g.Gid)
	for _, d := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
	}{
		{"active", uid, 0, 0o700}, {"bounce", uid, 0, 0o700}, {"corrupt", uid, 0, 0o700},
		{"defer", uid, 0, 0o700}, {"deferred", uid, 0, 0o700}, {"flush", uid, 0, 0o700},
		{"hold", uid, 0, 0o700}, {"incoming", uid, 0, 0o700}, {"private", uid, 0, 0o700},
		{"saved", uid, 0, 0o700}, {"trace", uid, 0, 0o700}, {"pid", 0, 0, 0o755},
		{"maildrop", uid, postdrop, 0o730}, {"public", uid, postdrop, 0o710},
	} {
		p := filepath.Join(queue, d.name)
		if err := os.Mkdir(p, d.mode); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
		if err := os.Chmod(p, d.mode); err != nil { // past the umask
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		if err := os.Chown(p, d.uid, d.gid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	return nil
}

// writeMasterCf writes master.cf for the current ports: the MX and the
// submission listener with their -o overrides, and the internal services
// unchrooted (the instance directory is not a chroot jail).
func (s *PostfixServer) writeMasterCf() error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Generated by supportd/internal/testenv.")
	p("127.0.0.1:%d inet n - n - - smtpd", s.mxPort)
	p("127.0.0.1:%d inet n - n - - smtpd", s.subPort)
	if s.strictHELO {
		p("  -o smtpd_delay_reject=no")
	}
	for _, o := range []string{
		"syslog_name=postfix/submission",
		"smtpd_tls_security_level=encrypt",
		"smtpd_sasl_auth_enable=yes",
		"smtpd_sasl_type=dovecot",
		"smtpd_sasl_path=" + s.sasl, // absolute: else relative to the queue directory
		"smtpd_tls_auth_only=yes",
		"smtpd_helo_required=yes",
		"smtpd_helo_restrictions=reject_non_fqdn_helo_hostname,reject_invalid_helo_hostname",
		"smtpd_sender_restrictions=reject_sender_login_mismatch",
		"smtpd_relay_restrictions=permit_sasl_authenticated,reject",
		"smtpd_recipient_restrictions=permit_sasl_authenticated,reject",
	} {
		p("  -o %s", o)
	}
	for _, l := range []string{
		"pickup unix n - n 60 1 pickup",
		"cleanup unix n - n - 0 cleanup",
		"qmgr unix n - n 300 1 qmgr",
		"tlsmgr unix - - n 1000? 1 tlsmgr",
		"rewrite unix - - n - - trivial-rewrite",
		"bounce unix - - n - 0 bounce",
		"defer unix - - n - 0 bounce",
		"trace unix - - n - 0 bounce",
		"verify unix - - n - 1 verify",
		"flush unix n - n 1000? 0 flush",
		"proxymap unix - - n - - proxymap",
		"smtp unix - - n - - smtp",
		"relay unix - - n - - smtp",
		"showq unix n - n - - showq",
		"error unix - - n - - error",
		"retry unix - - n - - error",
		"discard unix - - n - - discard",
		"lmtp unix - - n - - lmtp",
		"anvil unix - - n - 1 anvil",
		"scache unix - - n - 1 scache",
		"postlog unix-dgram n - n - 1 postlogd",
	} {
		p("%s", l)
	}
	return os.WriteFile(filepath.Join(s.conf, "master.cf"), []byte(b.String()), 0o644)
}

// start runs the master in the foreground and waits until both listeners
// greet.
func (s *PostfixServer) start(master string) error {
	proc, err := startProcess(master, []string{"-d", "-c", s.conf}, s.errPath)
	if err != nil {
		return err
	}
	s.proc = proc
	err = waitFor(proc, 30*time.Second, func() error {
		// Each listener's first smtpd takes about half a second to start.
		sub := make(chan error, 1)
		go func() { sub <- greet(s.SubmissionAddr(), "220") }()
		mx := greet(s.MXAddr(), "220")
		if err := <-sub; err != nil {
			return err
		}
		return mx
	})
	if err != nil {
		_ = proc.stop(2 * time.Second)
		return fmt.Errorf("postfix on %s/%s: %w", s.MXAddr(), s.SubmissionAddr(), err)
	}
	return nil
}

// Stop stops the master and every Postfix process (mail in the queue is
// kept; the instance is not restartable). Idempotent.
func (s *PostfixServer) Stop() {
	if s.proc != nil {
		_ = s.proc.stop(5 * time.Second)
		s.proc = nil
	}
}

// MXAddr is the host:port of the MX listener (no authentication, mail for
// the Dovecot domains only).
func (s *PostfixServer) MXAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.mxPort)) }

// SubmissionAddr is the host:port of the submission listener (STARTTLS,
// SASL with a Dovecot login and its password).
func (s *PostfixServer) SubmissionAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.subPort))
}

// CertFile is the PEM file of the submission listener's self-signed
// certificate (smtp.ca_file).
func (s *PostfixServer) CertFile() string { return filepath.Join(s.conf, "cert.pem") }

// TLSConfig trusts only this instance's certificate (ServerName 127.0.0.1).
func (s *PostfixServer) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.cert.CertPEM)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// LogPath is Postfix's log (maillog_file).
func (s *PostfixServer) LogPath() string { return s.logPath }

// Send delivers raw through the MX as the Internet would: envelope from and
// to as given, EHLO with a fully qualified name. Postfix queues it; delivery
// into Dovecot follows within a moment (wait for it in the mailbox).
func (s *PostfixServer) Send(t testing.TB, from string, to []string, raw []byte) {
	t.Helper()
	c, err := smtp.Dial(s.MXAddr())
	if err != nil {
		t.Fatalf("testenv: postfix MX: %v", err)
	}
	defer c.Close()
	if err := c.Hello("mail.customer.test"); err != nil {
		t.Fatalf("testenv: postfix MX EHLO: %v", err)
	}
	if err := c.SendMail(from, to, strings.NewReader(string(raw))); err != nil {
		t.Fatalf("testenv: postfix MX: send from %s to %v: %v", from, to, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("testenv: postfix MX QUIT: %v", err)
	}
}

// Deliver is customer mail entering as it does in production: raw goes
// through the MX from the address in its From header to the Dovecot login
// (DovecotServer.User), and Deliver waits until it is in that INBOX (found by
// its Message-ID) and returns its UID. Postfix and Dovecot add the headers real
// mail carries: Return-Path, Delivered-To, Received. Its INTERNALDATE is the
// delivery time: a test that needs another date appends the message instead
// (DovecotServer.AppendAt), and one whose daemon moves mail out of INBOX
// delivers before starting it.
func (s *PostfixServer) Deliver(t testing.TB, raw []byte) uint32 {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("testenv: postfix deliver: %v", err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	id := m.Header.Get("Message-Id")
	if err != nil || id == "" {
		t.Fatalf("testenv: postfix deliver: the message needs a From address (%v) and a Message-ID (%q)", err, id)
	}
	s.Send(t, from.Address, []string{s.dv.User()}, raw)
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, got := range s.dv.Messages(t, "INBOX") {
			if gm, err := mail.ReadMessage(bytes.NewReader(got.Raw)); err == nil && gm.Header.Get("Message-Id") == id {
				return got.UID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: postfix deliver: %s not in %s's INBOX after 20s (see the Postfix log)", id, s.dv.User())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MessagesOf is Messages for another login of the instance
// (DovecotOptions.Users): the mailbox a customer reads.
func (s *DovecotServer) MessagesOf(t testing.TB, login, mailbox string) []IMAPMessage {
	t.Helper()
	c, err := s.dialAs(login)
	if err != nil {
		t.Fatalf("testenv: dovecot fetch %s of %s: %v", mailbox, login, err)
	}
	defer c.Close()
	out, err := fetchAll(c, mailbox, true)
	if err != nil {
		t.Fatalf("testenv: dovecot fetch %s of %s: %v", mailbox, login, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("testenv: dovecot fetch %s of %s: logout: %v", mailbox, login, err)
	}
	return out
}
