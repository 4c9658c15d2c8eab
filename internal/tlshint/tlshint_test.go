package tlshint

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestWrapNamesTheKey(t *testing.T) {
	cert := &x509.Certificate{DNSNames: []string{"mail.vendor.test"}, IPAddresses: []net.IP{net.IPv4(192, 0, 2, 1)}}
	cases := []struct {
		err  error
		want []string
	}{
		{x509.UnknownAuthorityError{}, []string{"imap.ca_file:", "127.0.0.1:993", "not issued by a trusted CA"}},
		{x509.HostnameError{Certificate: cert, Host: "127.0.0.1"}, []string{"imap.tls_server_name:", "mail.vendor.test, 192.0.2.1", `not "127.0.0.1"`}},
		{x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}, []string{"imap.ca_file", "not valid"}},
	}
	for _, c := range cases {
		got := Wrap("imap", "127.0.0.1:993", c.err)
		if !errors.Is(got, c.err) {
			t.Errorf("%v does not wrap %v", got, c.err)
		}
		for _, w := range c.want {
			if !strings.Contains(got.Error(), w) {
				t.Errorf("%q lacks %q", got, w)
			}
		}
	}
	plain := errors.New("connection reset")
	if got := Wrap("smtp", "x:25", plain); got != plain {
		t.Errorf("a non-certificate error changed: %v", got)
	}
}
