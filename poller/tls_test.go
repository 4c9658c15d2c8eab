package poller

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestImplicitTLS(t *testing.T) {
	ts := newTestServer(t, withTLS())
	ts.appendMsg("INBOX", testMessage(1))

	t.Run("self-signed without RootCAs is refused", func(t *testing.T) {
		cfg := ts.config(t)
		cfg.TLS = TLSImplicit
		_, err := connectOnce(context.Background(), cfg)
		var unknown x509.UnknownAuthorityError
		if err == nil || !errors.As(err, &unknown) {
			t.Fatalf("Connect = %v, want a certificate (unknown authority) error", err)
		}
	})
	t.Run("trusted with RootCAs", func(t *testing.T) {
		cfg := ts.config(t)
		cfg.TLS = TLSImplicit
		cfg.TLSConfig = &tls.Config{RootCAs: ts.certs}
		h := newRecHandler()
		runPoller(t, cfg, h)
		h.wait(t, 1, 5*time.Second)
	})
	t.Run("poller reports the certificate error and keeps retrying", func(t *testing.T) {
		cfg := ts.config(t)
		cfg.TLS = TLSImplicit
		p := runPoller(t, cfg, newRecHandler())
		waitFor(t, 5*time.Second, "error", func() bool { return p.Stats().LastError != nil })
		var unknown x509.UnknownAuthorityError
		if err := p.Stats().LastError; !errors.As(err, &unknown) {
			t.Errorf("last error %v, want unknown authority", err)
		}
	})
}

func TestStartTLS(t *testing.T) {
	ts := newTestServer(t, withStartTLS())
	ts.appendMsg("INBOX", testMessage(1))

	cfg := ts.config(t)
	cfg.TLS = TLSStartTLS
	if _, err := connectOnce(context.Background(), cfg); err == nil {
		t.Fatal("STARTTLS to a self-signed server without RootCAs succeeded")
	}
	cfg.TLSConfig = &tls.Config{RootCAs: ts.certs}
	h := newRecHandler()
	runPoller(t, cfg, h)
	h.wait(t, 1, 5*time.Second)
}
