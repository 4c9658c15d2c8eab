package config

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"supportd/internal/testenv"
	"supportd/poller"
)

// imap.tls_server_name / smtp.tls_server_name: a server reached by IP address
// or an alias is verified against the configured name, never less strictly.
func TestTLSServerName(t *testing.T) {
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{TLS: true}) // certificate for localhost and 127.0.0.1
	c := Default()
	c.IMAP.Address, c.IMAP.TLS, c.IMAP.CAFile = dv.TLSAddr(), "implicit", dv.CertFile()
	c.IMAP.Username, c.IMAP.Password = dv.User(), dv.Password()
	c.SMTP.TLSServerName = "smtp.alias.test"

	dial := func(name string) error {
		c.IMAP.TLSServerName = name
		pc, mc, err := c.Endpoints(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if mc.TLSConfig.ServerName != "smtp.alias.test" {
			t.Errorf("smtp.tls_server_name not applied: %q", mc.TLSConfig.ServerName)
		}
		p, err := poller.New(pc)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := p.Connect(context.Background())
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial("localhost"); err != nil {
		t.Fatalf("imap.tls_server_name localhost (named by the certificate): %v", err)
	}
	var host x509.HostnameError
	if err := dial("imap.alias.test"); !errors.As(err, &host) {
		t.Fatalf("imap.tls_server_name imap.alias.test (not in the certificate): %v, want a host name error", err)
	}
	if err := dial(""); err != nil {
		t.Fatalf("no imap.tls_server_name: the host of imap.address (127.0.0.1, in the certificate): %v", err)
	}
	c.IMAP.TLSServerName = "bad name"
	if err := c.Validate(); err == nil {
		t.Error("imap.tls_server_name with a space validated")
	}
}
