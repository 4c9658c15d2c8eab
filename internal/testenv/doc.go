// Package testenv starts real mail servers on loopback for supportd's tests:
// Dovecot (IMAP, Debian package dovecot-imapd; LMTP from dovecot-lmtpd),
// Postfix (MX and submission in front of that Dovecot, Debian package
// postfix; see [StartPostfix]) and Mailpit (an SMTP sink with a REST API, Go
// module github.com/axllent/mailpit).
//
// Each call to [Dovecot] / [StartDovecot] or [Mailpit] starts a private
// instance owned by the calling test: its own free loopback ports, its own
// directory, its own user and password. The instance is stopped by
// t.Cleanup, and the tail of its log is written with t.Logf when the test
// failed. Stop and Start restart an instance on the same ports with the same
// data, so a test can simulate an outage.
//
// Invariants:
//   - Servers listen on loopback only; plaintext authentication is enabled
//     because nothing leaves the machine. TLS (self-signed, generated per
//     instance with crypto/x509) is available with DovecotOptions.TLS. For
//     the TLS acceptance tests, [NewPKI] issues a root, an intermediate and
//     leaf, wrong-CA and wrong-name certificates; DovecotOptions.Cert and
//     SSLRequired (ssl = required, on 127.0.0.2, since Dovecot counts a
//     127.0.0.1-to-127.0.0.1 connection as secured) and MailpitOptions (an
//     auth file, required STARTTLS) serve them.
//   - A missing binary skips the test, unless the environment variable CI is
//     set or SUPPORTD_REQUIRE_SERVERS=1, in which case the test fails. Both
//     messages say how to install: scripts/testenv install.
//   - Helper methods take the calling testing.TB and fail it (t.Fatalf) on
//     any error, so test code stays linear.
//
// Binaries are looked up as follows. Dovecot: $SUPPORTD_DOVECOT, PATH,
// /usr/sbin/dovecot. Mailpit: $SUPPORTD_MAILPIT, <project root>/.testenv/bin/mailpit
// (where scripts/testenv install puts the pinned version), PATH. Postfix:
// $SUPPORTD_POSTFIX, PATH, /usr/sbin/postfix (its master daemon runs as root:
// without root the Postfix tests skip, or fail under CI). The project
// root is the nearest directory above the working directory with a go.mod.
//
// Limits: Dovecot runs as the current user. As root (CI, containers), mail is
// stored as uid nobody, so the instance directory is made world-traversable
// and the mail and home directories world-writable; it is created with
// os.MkdirTemp (not t.TempDir, whose parent is mode 0700) and removed by
// t.Cleanup. Free ports are found by binding :0 and closing, which can race
// with other processes; a failed first start is retried on new ports.
package testenv
