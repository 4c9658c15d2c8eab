package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// The PKI's leaf verifies with only the root trusted, because it is presented
// with its intermediate; the wrong-CA and wrong-name certificates do not.
func TestPKI(t *testing.T) {
	t.Parallel()
	p := NewPKI(t)
	if n := len(p.Leaf.TLS.Certificate); n != 2 {
		t.Fatalf("the leaf is presented with %d certificates, want leaf + intermediate", n)
	}
	if strings.Count(string(p.Leaf.CertPEM), "BEGIN CERTIFICATE") != 2 || strings.Count(string(p.Leaf.CAPEM), "BEGIN CERTIFICATE") != 1 {
		t.Fatalf("CertPEM must hold leaf + intermediate, CAPEM the root alone")
	}
	verify := func(c *Cert, name string) error {
		inter := x509.NewCertPool()
		for _, der := range c.TLS.Certificate[1:] {
			ic, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			inter.AddCert(ic)
		}
		_, err := c.TLS.Leaf.Verify(x509.VerifyOptions{Roots: p.Leaf.Pool, Intermediates: inter, DNSName: name})
		return err
	}
	for _, name := range []string{"127.0.0.1", SSLRequiredHost, "localhost"} {
		if err := verify(p.Leaf, name); err != nil {
			t.Errorf("leaf for %s: %v", name, err)
		}
	}
	if _, err := p.Leaf.TLS.Leaf.Verify(x509.VerifyOptions{Roots: p.Leaf.Pool, DNSName: "localhost"}); err == nil {
		t.Error("the leaf verified without its intermediate: the chain is not exercised")
	}
	var ua x509.UnknownAuthorityError
	if err := verify(p.WrongCA, "127.0.0.1"); !errors.As(err, &ua) {
		t.Errorf("wrong CA: %v, want unknown authority", err)
	}
	var he x509.HostnameError
	if err := verify(p.WrongName, "127.0.0.1"); !errors.As(err, &he) {
		t.Errorf("wrong name as 127.0.0.1: %v, want a host name error", err)
	}
	if err := verify(p.WrongName, WrongNameHost); err != nil {
		t.Errorf("wrong name as %s: %v", WrongNameHost, err)
	}
}

// ssl = required: a plaintext login is refused even on loopback (the instance
// listens on SSLRequiredHost), STARTTLS and implicit TLS with the chain work.
func TestDovecotSSLRequired(t *testing.T) {
	t.Parallel()
	p := NewPKI(t)
	d := StartDovecot(t, &DovecotOptions{Cert: p.Leaf, SSLRequired: true})
	if !strings.HasPrefix(d.Addr(), SSLRequiredHost+":") || d.TLSAddr() == "" {
		t.Fatalf("Addr %s, TLSAddr %s", d.Addr(), d.TLSAddr())
	}
	c, err := imapclient.DialInsecure(d.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(d.User(), d.Password()).Wait(); err == nil || !strings.Contains(err.Error(), "PRIVACYREQUIRED") {
		t.Errorf("plaintext login: %v, want a PRIVACYREQUIRED refusal", err)
	}
	c.Close()

	d.Client(t) // STARTTLS, trusting the root only
	tc, err := imapclient.DialTLS(d.TLSAddr(), &imapclient.Options{TLSConfig: d.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := tc.Login(d.User(), d.Password()).Wait(); err != nil {
		t.Errorf("login over implicit TLS: %v", err)
	}
	tc.Close()
}

// Mailpit with an auth file and required STARTTLS: plain text and a wrong
// password are refused, the right login over the verified chain delivers.
func TestMailpitAuthTLS(t *testing.T) {
	t.Parallel()
	p := NewPKI(t)
	m := StartMailpit(t, &MailpitOptions{Username: "support@vendor.test", Password: "right", Cert: p.Leaf})
	msg := testMessage("auth-tls@example.com", "auth")
	send := func(tlsOn bool, pass string) error {
		conn, err := net.DialTimeout("tcp", m.SMTPAddr(), 5*time.Second)
		if err != nil {
			return err
		}
		c, err := smtp.NewClient(conn, "127.0.0.1")
		if err != nil {
			return err
		}
		defer c.Close()
		if tlsOn {
			if err := c.StartTLS(&tls.Config{RootCAs: p.Leaf.Pool, ServerName: "127.0.0.1"}); err != nil {
				return err
			}
			if err := c.Auth(smtp.PlainAuth("", "support@vendor.test", pass, "127.0.0.1")); err != nil {
				return err
			}
		}
		if err := c.Mail("support@vendor.test"); err != nil {
			return err
		}
		if err := c.Rcpt("customer@example.com"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(msg); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
	if err := send(false, ""); err == nil {
		t.Error("mail without STARTTLS and AUTH accepted")
	}
	if err := send(true, "wrong"); err == nil {
		t.Error("a wrong password accepted")
	}
	if err := send(true, "right"); err != nil {
		t.Fatalf("STARTTLS + AUTH: %v", err)
	}
	msgs := m.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].Username != "support@vendor.test" {
		t.Fatalf("stored %+v, want one message from the authenticated user", msgs)
	}
}
