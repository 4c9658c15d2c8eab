// Package tlshint names the setting behind a server certificate that failed
// verification, so that the IMAP and SMTP errors tell the operator what to
// change: the CA file for a chain that does not lead to a trusted root, the
// server name for a certificate issued to other names.
package tlshint

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Wrap returns err prefixed with the configuration key of section (imap,
// smtp) to check and why, when err is a failed certificate verification of
// the server at addr; any other err is returned as is. The result wraps err.
func Wrap(section, addr string, err error) error {
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		cv *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &ua):
		return fmt.Errorf("%s.ca_file: the certificate of %s is not issued by a trusted CA (%s.ca_file must hold the root of its chain; the server must send the intermediates): %w",
			section, addr, section, err)
	case errors.As(err, &he):
		return fmt.Errorf("%s.tls_server_name: the certificate of %s is for %s, not %q (set %s.tls_server_name to one of its names, or address the server by one): %w",
			section, addr, names(he.Certificate), he.Host, section, err)
	case errors.As(err, &ci):
		return fmt.Errorf("the certificate of %s is not valid (%s.ca_file, %s.tls_server_name and the server's certificate): %w", addr, section, section, err)
	case errors.As(err, &cv):
		return fmt.Errorf("the certificate of %s failed verification (check %s.ca_file and %s.tls_server_name): %w", addr, section, section, err)
	}
	return err
}

// names lists the DNS names and IP addresses a certificate is issued to.
func names(c *x509.Certificate) string {
	if c == nil {
		return "other names"
	}
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, net.IP(ip).String())
	}
	if len(out) == 0 {
		return "no host name"
	}
	return strings.Join(out, ", ")
}
