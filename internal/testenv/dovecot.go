package testenv

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// DefaultIMAPUser is the login of the mailbox a Dovecot instance serves
// unless DovecotOptions.User says otherwise.
const DefaultIMAPUser = "support@vendor.test"

// DovecotOptions configures StartDovecot. A nil pointer means defaults.
type DovecotOptions struct {
	// User is the IMAP login; "" means DefaultIMAPUser.
	User string
	// Password is the IMAP password; "" means a random one.
	Password string
	// TLS turns on ssl = yes with a self-signed certificate generated for
	// 127.0.0.1/localhost: STARTTLS on Addr and implicit TLS on TLSAddr.
	TLS bool
	// Cert is the certificate Dovecot presents instead of the self-signed one
	// (implies TLS): a PKI's Leaf is sent with its intermediate, so a client
	// trusting only the root verifies it.
	Cert *Cert
	// SSLRequired sets ssl = required and disable_plaintext_auth = yes
	// (implies TLS): a login on a connection without TLS is refused. The
	// instance then listens on SSLRequiredHost: Dovecot counts a connection
	// whose remote and local addresses are equal (127.0.0.1 to 127.0.0.1) as
	// secured and would let a plaintext login through.
	SSLRequired bool
	// NoKeywords takes the ACL right "w" from the user (Dovecot's acl plugin,
	// a global ACL file): PERMANENTFLAGS is then (\Deleted \Seen), as on
	// Exchange Online or a shared mailbox without that right, and keywords
	// cannot be stored.
	NoKeywords bool
	// Users are further logins, each with Password and its own INBOX (the
	// customers' and staff mailboxes Postfix delivers to).
	Users []string
	// LMTP adds an LMTP listener (LMTPSocket, recipient_delimiter +) and an
	// authentication socket for SMTP servers (AuthSocket), as Postfix uses them.
	LMTP bool
}

// SSLRequiredHost is the loopback address an SSLRequired instance listens
// on; clients connect to it from 127.0.0.1. PKI.Leaf names it.
const SSLRequiredHost = "127.0.0.2"

// DovecotServer is a private Dovecot instance on loopback. Its methods are
// safe for concurrent use by the goroutines of one test.
type DovecotServer struct {
	bin     string
	doveadm string // "" if doveadm is absent (RecreateMailbox("INBOX") needs it)
	dir     string
	conf    string
	logPath string // dovecot's own log (log_path)
	errPath string // the master's stdout/stderr
	user    string
	pass    string

	host       string // the listening address: 127.0.0.1, SSLRequiredHost
	port       int
	tlsPort    int // 0 without TLS
	certPEM    []byte
	caPool     *x509.CertPool
	serverName string // what TLSConfig verifies

	noKeywords  bool
	sslRequired bool
	users       []string // further logins (DovecotOptions.Users)
	lmtp        bool

	mu   sync.Mutex
	proc *process
}

// Dovecot starts a Dovecot instance with default options for the test and
// stops it when the test ends. See StartDovecot.
func Dovecot(t testing.TB) *DovecotServer {
	t.Helper()
	return StartDovecot(t, nil)
}

// StartDovecot starts a Dovecot IMAP server on free 127.0.0.1 ports with one
// user whose INBOX is a fresh maildir, waits until it greets, and registers a
// cleanup that stops it. It skips or fails t if dovecot is not installed.
func StartDovecot(t testing.TB, opts *DovecotOptions) *DovecotServer {
	t.Helper()
	if opts == nil {
		opts = &DovecotOptions{}
	}
	bin, ok := lookBinary("SUPPORTD_DOVECOT", "dovecot", []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"}, true)
	if !ok {
		missingBinary(t, "dovecot", "Debian package dovecot-imapd")
	}
	doveadm, _ := lookBinary("SUPPORTD_DOVEADM", "doveadm", []string{
		filepath.Join(filepath.Dir(bin), "..", "bin", "doveadm"), "/usr/bin/doveadm", "/usr/local/bin/doveadm",
	}, true)

	dir, err := os.MkdirTemp("", "supportd-dovecot-")
	if err != nil {
		t.Fatalf("testenv: dovecot dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	s := &DovecotServer{
		bin:     bin,
		doveadm: doveadm,
		dir:     dir,
		conf:    filepath.Join(dir, "dovecot.conf"),
		logPath: filepath.Join(dir, "dovecot.log"),
		errPath: filepath.Join(dir, "stderr.log"),
		user:    opts.User,
		pass:    opts.Password,
		host:    "127.0.0.1",

		noKeywords:  opts.NoKeywords,
		sslRequired: opts.SSLRequired,
		users:       opts.Users,
		lmtp:        opts.LMTP,
	}
	if opts.SSLRequired {
		s.host = SSLRequiredHost
	}
	if s.user == "" {
		s.user = DefaultIMAPUser
	}
	if s.pass == "" {
		s.pass = "pw-" + randomHex(t, 12)
	}
	if err := s.prepareDirs(); err != nil {
		t.Fatalf("testenv: dovecot: %v", err)
	}
	tlsOn := opts.TLS || opts.Cert != nil || opts.SSLRequired
	if tlsOn {
		if err := s.writeCert(opts.Cert); err != nil {
			t.Fatalf("testenv: dovecot: %v", err)
		}
	}
	logTailOnFailure(t, "dovecot", s.logPath, s.errPath)

	startOnFreePorts(t, "dovecot", func() error {
		s.port = freePort(t)
		if tlsOn {
			s.tlsPort = freePort(t)
		}
		if err := s.writeConf(); err != nil {
			t.Fatalf("testenv: dovecot: %v", err)
		}
		return s.start()
	}, s.logPath, s.errPath)
	t.Cleanup(s.Stop)
	return s
}

// prepareDirs lays out the instance directory. Mail is written by the
// userdb uid (nobody when we are root), so the tree is made traversable and
// the mail and home roots writable for it.
func (s *DovecotServer) prepareDirs() error {
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("chmod %s: %w", s.dir, err)
	}
	for _, sub := range []string{"base", "state", "home", "mail"} {
		p := filepath.Join(s.dir, sub)
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
	}
	for _, sub := range []string{"home", "mail"} {
		p := filepath.Join(s.dir, sub)
		if err := os.Chmod(p, 0o777); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	// passwd-file is read by the auth process (root when we are root).
	var lines strings.Builder
	for _, u := range append([]string{s.user}, s.users...) {
		fmt.Fprintf(&lines, "%s:{PLAIN}%s::::::\n", u, s.pass)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "passwd"), []byte(lines.String()), 0o644); err != nil {
		return fmt.Errorf("write passwd: %w", err)
	}
	return nil
}

// writeCert writes the certificate Dovecot presents: c, or a fresh
// self-signed one (NewCert) when c is nil.
func (s *DovecotServer) writeCert(c *Cert) error {
	if c == nil {
		var err error
		if c, err = NewCert("supportd testenv dovecot"); err != nil {
			return err
		}
	}
	s.certPEM, s.caPool = c.CertPEM, c.Pool
	// The helpers' own sessions verify the certificate by a name it holds
	// (PKI.WrongName names no address).
	s.serverName = s.host
	if leaf := c.TLS.Leaf; leaf != nil && leaf.VerifyHostname(s.host) != nil && len(leaf.DNSNames) > 0 {
		s.serverName = leaf.DNSNames[0]
	}
	_, _, err := c.writeKeyPair(s.dir, "cert")
	return err
}

// writeConf writes dovecot.conf for the current ports.
func (s *DovecotServer) writeConf() error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Generated by supportd/internal/testenv. Loopback only; plaintext auth for tests.")
	if s.lmtp {
		// Postfix's smtpd (user postfix) uses the auth socket for SASL, its
		// lmtp client the LMTP socket; loopback tests only, hence 0666.
		p("protocols = imap lmtp")
		p("recipient_delimiter = +")
		p("service lmtp {\n  unix_listener lmtp {\n    mode = 0666\n  }\n}")
		p("service auth {\n  unix_listener auth-client {\n    mode = 0666\n  }\n}")
	} else {
		p("protocols = imap")
	}
	p("listen = %s", s.host)
	p("instance_name = supportd-testenv-%d", s.port)
	p("base_dir = %s", filepath.Join(s.dir, "base"))
	p("state_dir = %s", filepath.Join(s.dir, "state"))
	p("log_path = %s", s.logPath)
	p("info_log_path = %s", s.logPath)
	p("auth_verbose = yes")
	p("auth_failure_delay = 0")
	if s.sslRequired {
		p("disable_plaintext_auth = yes")
	} else {
		p("disable_plaintext_auth = no")
	}
	p("auth_mechanisms = plain login")
	p("mail_location = maildir:%s/%%u", filepath.Join(s.dir, "mail"))
	p("mail_max_userip_connections = 1000")
	p("imap_idle_notify_interval = 5 secs")
	p("mailbox_idle_check_interval = 1 secs")
	uid, gid := "nobody", "nogroup"
	if os.Geteuid() != 0 {
		// Rootless: every service and the mail run as the current user.
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("current user: %w", err)
		}
		uid, gid = u.Uid, u.Gid
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return fmt.Errorf("current group: %w", err)
		}
		p("default_internal_user = %s", u.Username)
		p("default_internal_group = %s", g.Name)
		p("default_login_user = %s", u.Username)
		p("first_valid_uid = %s", u.Uid)
		p("service anvil {\n  chroot =\n}")
		p("service imap-login {\n  chroot =\n}")
	}
	if s.tlsPort != 0 {
		if s.sslRequired {
			p("ssl = required")
		} else {
			p("ssl = yes")
		}
		p("ssl_cert = <%s", s.CertFile())
		p("ssl_key = <%s", filepath.Join(s.dir, "cert.key"))
	} else {
		p("ssl = no")
	}
	p("passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %s\n}", filepath.Join(s.dir, "passwd"))
	p("userdb {\n  driver = static\n  args = uid=%s gid=%s home=%s/%%u\n}", uid, gid, filepath.Join(s.dir, "home"))
	// Sent is marked \Sent (RFC 6154) as in Debian's default 15-mailboxes.conf;
	// like there, it exists only once created.
	p("namespace inbox {\n  inbox = yes\n  separator = /\n  mailbox Sent {\n    special_use = \\Sent\n  }\n}")
	if s.noKeywords {
		acl := filepath.Join(s.dir, "global-acl")
		if err := os.WriteFile(acl, []byte("* owner lrstipekxa\n"), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", acl, err)
		}
		p("mail_plugins = $mail_plugins acl")
		p("plugin {\n  acl = vfile:%s\n}", acl)
	}
	p("service imap-login {")
	p("  inet_listener imap {\n    address = %s\n    port = %d\n  }", s.host, s.port)
	p("  inet_listener imaps {\n    address = %s\n    port = %d\n  }", s.host, s.tlsPort)
	p("}")
	if err := os.WriteFile(s.conf, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", s.conf, err)
	}
	return nil
}

// start runs `dovecot -F -c conf` and waits for the IMAP greeting.
func (s *DovecotServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return nil
	}
	proc, err := startProcess(s.bin, []string{"-F", "-c", s.conf}, s.errPath)
	if err != nil {
		return err
	}
	s.proc = proc
	err = waitFor(proc, 20*time.Second, func() error { return greet(s.Addr(), "* OK") })
	if err != nil {
		_ = proc.stop(2 * time.Second)
		return fmt.Errorf("dovecot on %s: %w", s.Addr(), err)
	}
	return nil
}

// greet connects to addr and expects a greeting line starting with want
// (IMAP "* OK", SMTP "220").
func greet(addr, want string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(line, want) {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

// Start (re)starts a stopped instance on the same ports with the same mail.
// It is a no-op if the instance runs.
func (s *DovecotServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: restart dovecot: %v", err)
	}
}

// Stop stops the instance and every process it started; connected clients
// are disconnected. Mail is kept for Start. Stop is idempotent.
func (s *DovecotServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.stop(10 * time.Second)
	s.proc = nil
}

// Addr is the host:port of the IMAP listener (plaintext, or STARTTLS with
// DovecotOptions.TLS).
func (s *DovecotServer) Addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// TLSAddr is the host:port of the implicit-TLS (imaps) listener, "" without
// DovecotOptions.TLS.
func (s *DovecotServer) TLSAddr() string {
	if s.tlsPort == 0 {
		return ""
	}
	return net.JoinHostPort(s.host, strconv.Itoa(s.tlsPort))
}

// User is the IMAP login.
func (s *DovecotServer) User() string { return s.user }

// LMTPSocket is the path of the LMTP socket (DovecotOptions.LMTP).
func (s *DovecotServer) LMTPSocket() string { return filepath.Join(s.dir, "base", "lmtp") }

// AuthSocket is the path of the authentication socket an SMTP server's SASL
// uses (Postfix smtpd_sasl_type = dovecot; DovecotOptions.LMTP).
func (s *DovecotServer) AuthSocket() string { return filepath.Join(s.dir, "base", "auth-client") }

// Password is the IMAP password (of every login).
func (s *DovecotServer) Password() string { return s.pass }

// Dir is the instance directory (config, logs, maildirs).
func (s *DovecotServer) Dir() string { return s.dir }

// LogPath is Dovecot's log file.
func (s *DovecotServer) LogPath() string { return s.logPath }

// CertFile is the path of the self-signed certificate's PEM file (for a
// daemon config's CA file); the file exists only with DovecotOptions.TLS.
func (s *DovecotServer) CertFile() string { return filepath.Join(s.dir, "cert.pem") }

// CertPEM is the self-signed certificate, nil without DovecotOptions.TLS.
func (s *DovecotServer) CertPEM() []byte { return s.certPEM }

// TLSConfig returns a client configuration that trusts only this instance's
// certificate's root, with ServerName the listening address (127.0.0.1,
// SSLRequiredHost) or, when the certificate does not name it, the
// certificate's first DNS name; nil without TLS.
func (s *DovecotServer) TLSConfig() *tls.Config {
	if s.caPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.caPool, ServerName: s.serverName, MinVersion: tls.VersionTLS12}
}

// Client returns a logged-in go-imap client (plaintext, or STARTTLS with
// DovecotOptions.TLS), logged out and closed when the test ends.
func (s *DovecotServer) Client(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatalf("testenv: dovecot client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *DovecotServer) dial() (*imapclient.Client, error) { return s.dialAs(s.user) }

// dialAs logs in as user (the main login or one of DovecotOptions.Users).
func (s *DovecotServer) dialAs(user string) (*imapclient.Client, error) {
	opts := &imapclient.Options{Dialer: &net.Dialer{Timeout: 5 * time.Second}}
	var (
		c   *imapclient.Client
		err error
	)
	if s.caPool != nil {
		opts.TLSConfig = s.TLSConfig()
		c, err = imapclient.DialStartTLS(s.Addr(), opts)
	} else {
		c, err = imapclient.DialInsecure(s.Addr(), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.Addr(), err)
	}
	if err := c.Login(user, s.pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login %s: %w", user, err)
	}
	return c, nil
}

// session runs fn on a fresh logged-in connection and logs out.
func (s *DovecotServer) session(t testing.TB, op string, fn func(c *imapclient.Client) error) {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatalf("testenv: dovecot %s: %v", op, err)
	}
	defer c.Close()
	if err := fn(c); err != nil {
		t.Fatalf("testenv: dovecot %s: %v", op, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("testenv: dovecot %s: logout: %v", op, err)
	}
}

// Append delivers raw into mailbox (created if missing) with flags (system
// flags like `\Seen` or keywords like `$Acked`) and returns its UID.
func (s *DovecotServer) Append(t testing.TB, mailbox string, raw []byte, flags ...string) uint32 {
	t.Helper()
	return s.AppendAt(t, mailbox, raw, time.Time{}, flags...)
}

// AppendAt is Append with an INTERNALDATE (zero: the server's now), so tests of
// receipt-time logic (SLA, expiry) are deterministic.
func (s *DovecotServer) AppendAt(t testing.TB, mailbox string, raw []byte, date time.Time, flags ...string) uint32 {
	t.Helper()
	var uid uint32
	s.session(t, "append to "+mailbox, func(c *imapclient.Client) error {
		if err := ensureMailbox(c, mailbox); err != nil {
			return err
		}
		u, err := appendMsg(c, mailbox, raw, toFlags(flags), date)
		uid = u
		return err
	})
	return uid
}

func appendMsg(c *imapclient.Client, mailbox string, raw []byte, flags []imap.Flag, date time.Time) (uint32, error) {
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		return 0, fmt.Errorf("append write: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return 0, fmt.Errorf("append close: %w", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, fmt.Errorf("append: %w", err)
	}
	return uint32(data.UID), nil
}

func ensureMailbox(c *imapclient.Client, name string) error {
	if strings.EqualFold(name, "INBOX") {
		return nil
	}
	list, err := c.List("", name, nil).Collect()
	if err != nil {
		return fmt.Errorf("list %s: %w", name, err)
	}
	if len(list) > 0 {
		return nil
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// CreateMailbox creates a mailbox (no error if it exists).
func (s *DovecotServer) CreateMailbox(t testing.TB, name string) {
	t.Helper()
	s.session(t, "create "+name, func(c *imapclient.Client) error { return ensureMailbox(c, name) })
}

// IMAPMessage is one stored message as FETCHed from Dovecot.
type IMAPMessage struct {
	UID          uint32
	Flags        []string // sorted, without the session flag \Recent
	InternalDate time.Time
	Raw          []byte
}

// Messages returns every message of mailbox in UID order, read-only (flags
// such as \Seen are not changed).
func (s *DovecotServer) Messages(t testing.TB, mailbox string) []IMAPMessage {
	t.Helper()
	var out []IMAPMessage
	s.session(t, "fetch "+mailbox, func(c *imapclient.Client) error {
		var err error
		out, err = fetchAll(c, mailbox, true)
		return err
	})
	return out
}

func fetchAll(c *imapclient.Client, mailbox string, body bool) ([]IMAPMessage, error) {
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("examine %s: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	opts := &imap.FetchOptions{UID: true, Flags: true, InternalDate: true}
	section := &imap.FetchItemBodySection{Peek: true}
	if body {
		opts.BodySection = []*imap.FetchItemBodySection{section}
	}
	var set imap.UIDSet
	set.AddRange(1, 0) // 1:*
	bufs, err := c.Fetch(set, opts).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", mailbox, err)
	}
	out := make([]IMAPMessage, 0, len(bufs))
	for _, b := range bufs {
		m := IMAPMessage{UID: uint32(b.UID), Flags: fromFlags(b.Flags), InternalDate: b.InternalDate}
		if body {
			m.Raw = b.FindBodySection(section)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	if err := c.Unselect().Wait(); err != nil {
		return nil, fmt.Errorf("unselect %s: %w", mailbox, err)
	}
	return out, nil
}

// FetchFlags returns the flags of every message of mailbox by UID (sorted,
// without \Recent).
func (s *DovecotServer) FetchFlags(t testing.TB, mailbox string) map[uint32][]string {
	t.Helper()
	out := map[uint32][]string{}
	s.session(t, "fetch flags "+mailbox, func(c *imapclient.Client) error {
		msgs, err := fetchAll(c, mailbox, false)
		for _, m := range msgs {
			out[m.UID] = m.Flags
		}
		return err
	})
	return out
}

// Flags returns the flags of one message (sorted, without \Recent); it
// fails t if the UID does not exist.
func (s *DovecotServer) Flags(t testing.TB, mailbox string, uid uint32) []string {
	t.Helper()
	flags, ok := s.FetchFlags(t, mailbox)[uid]
	if !ok {
		t.Fatalf("testenv: dovecot: no message with UID %d in %s", uid, mailbox)
	}
	return flags
}

// Keywords returns the keywords (flags not starting with `\`) of one
// message, sorted; it fails t if the UID does not exist.
func (s *DovecotServer) Keywords(t testing.TB, mailbox string, uid uint32) []string {
	t.Helper()
	var kw []string
	for _, f := range s.Flags(t, mailbox, uid) {
		if !strings.HasPrefix(f, `\`) {
			kw = append(kw, f)
		}
	}
	return kw
}

// Mailboxes returns the names of all mailboxes, sorted.
func (s *DovecotServer) Mailboxes(t testing.TB) []string {
	t.Helper()
	var names []string
	s.session(t, "list", func(c *imapclient.Client) error {
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		for _, l := range list {
			names = append(names, l.Mailbox)
		}
		return nil
	})
	sort.Strings(names)
	return names
}

// UIDValidity returns the UIDVALIDITY of mailbox.
func (s *DovecotServer) UIDValidity(t testing.TB, mailbox string) uint32 {
	t.Helper()
	var v uint32
	s.session(t, "status "+mailbox, func(c *imapclient.Client) error {
		var err error
		v, err = uidValidity(c, mailbox)
		return err
	})
	return v
}

func uidValidity(c *imapclient.Client, mailbox string) (uint32, error) {
	st, err := c.Status(mailbox, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("status %s: %w", mailbox, err)
	}
	return st.UIDValidity, nil
}

// RecreateMailbox gives mailbox a new, larger UIDVALIDITY and re-appends its
// messages (same bytes, flags and internal dates, new UIDs), as a server
// that rebuilt its index would. Other mailboxes are DELETEd and CREATEd;
// INBOX, which IMAP cannot delete, is expunged and its UIDVALIDITY set with
// `doveadm mailbox update`. Returns the new UIDVALIDITY. Sessions that have
// the mailbox selected are disconnected by Dovecot or see the change.
func (s *DovecotServer) RecreateMailbox(t testing.TB, name string) uint32 {
	t.Helper()
	var msgs []IMAPMessage
	var old uint32
	inbox := strings.EqualFold(name, "INBOX")
	if inbox && s.doveadm == "" {
		missingBinary(t, "doveadm", "Debian package dovecot-core")
	}
	s.session(t, "recreate "+name+" (empty)", func(c *imapclient.Client) error {
		var err error
		if old, err = uidValidity(c, name); err != nil {
			return err
		}
		if msgs, err = fetchAll(c, name, true); err != nil {
			return err
		}
		if !inbox {
			if err := c.Delete(name).Wait(); err != nil {
				return fmt.Errorf("delete %s: %w", name, err)
			}
			return c.Create(name, nil).Wait()
		}
		if len(msgs) == 0 {
			return nil
		}
		if _, err := c.Select(name, nil).Wait(); err != nil {
			return fmt.Errorf("select %s: %w", name, err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.Store(all, store, nil).Close(); err != nil {
			return fmt.Errorf("store \\Deleted: %w", err)
		}
		if err := c.Expunge().Close(); err != nil {
			return fmt.Errorf("expunge: %w", err)
		}
		return c.Unselect().Wait()
	})
	if inbox {
		want := old + 1
		if now := uint32(time.Now().Unix()); now > want {
			want = now
		}
		out, err := exec.Command(s.doveadm, "-c", s.conf, "mailbox", "update",
			"-u", s.user, "--uid-validity", strconv.FormatUint(uint64(want), 10), name).CombinedOutput()
		if err != nil {
			t.Fatalf("testenv: doveadm mailbox update %s: %v: %s", name, err, out)
		}
	}
	var now uint32
	s.session(t, "recreate "+name+" (refill)", func(c *imapclient.Client) error {
		for _, m := range msgs {
			if _, err := appendMsg(c, name, m.Raw, toFlags(m.Flags), m.InternalDate); err != nil {
				return err
			}
		}
		var err error
		now, err = uidValidity(c, name)
		return err
	})
	if now == old {
		t.Fatalf("testenv: recreate %s: UIDVALIDITY still %d", name, now)
	}
	return now
}

func toFlags(in []string) []imap.Flag {
	out := make([]imap.Flag, 0, len(in))
	for _, f := range in {
		out = append(out, imap.Flag(f))
	}
	return out
}

func fromFlags(in []imap.Flag) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		if strings.EqualFold(string(f), `\Recent`) {
			continue
		}
		out = append(out, string(f))
	}
	sort.Strings(out)
	return out
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}
